"""Class weights: hand values, the normalisation and clipping invariants, reading a profile."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from lossadvisor.errors import ConfigError
from lossadvisor.losses import (
    class_weights_from_frequencies,
    class_weights_from_profile,
    pos_weight_from_frequency,
)
from lossadvisor.profile._schema import ClassStats


def test_inverse_by_hand():
    # raw 1/f = (1/0.9, 1/0.1); sum f * raw = 2, so the scale is 1/2.
    np.testing.assert_allclose(class_weights_from_frequencies([0.9, 0.1]), [1 / 1.8, 5.0])


def test_sqrt_inverse_by_hand():
    f = np.array([0.64, 0.36])
    raw = 1 / np.sqrt(f)  # 1.25, 1.6667; sum f * raw = 0.8 + 0.6 = 1.4
    np.testing.assert_allclose(class_weights_from_frequencies(f, method="sqrt_inverse"), raw / 1.4)


def test_median_frequency_uses_presence():
    # Eigen & Fergus: f'_c = class pixels / pixels of images containing c.
    f, presence = np.array([0.7, 0.2, 0.1]), np.array([1.0, 0.5, 0.1])
    per_present = f / presence  # 0.7, 0.4, 1.0 -> median 0.7
    raw = 0.7 / per_present
    expected = raw / np.sum(f * raw)
    np.testing.assert_allclose(
        class_weights_from_frequencies(f, method="median", presence=presence), expected
    )
    # Without presence the median scheme is inverse frequency up to scale, hence equal after normalisation.
    np.testing.assert_allclose(
        class_weights_from_frequencies(f, method="median"),
        class_weights_from_frequencies(f, method="inverse"),
    )


@pytest.mark.parametrize("method", ["inverse", "median", "sqrt_inverse"])
@pytest.mark.parametrize("freqs", [[0.5, 0.5], [0.9, 0.1], [0.97, 0.02, 0.01], [0.999, 0.0009, 0.0001]])
def test_normalisation_and_clip_invariants(method, freqs):
    f = np.array(freqs)
    w = class_weights_from_frequencies(f, method=method, clip=(0.05, 20.0))
    assert np.sum(f * w) == pytest.approx(1.0, abs=1e-9)  # the average training pixel keeps weight 1
    assert np.all(w >= 0.05 - 1e-12) and np.all(w <= 20.0 + 1e-12)
    assert np.all(np.diff(w[np.argsort(-f)]) >= -1e-12)  # rarer class, larger weight


def test_extreme_imbalance_is_clipped():
    w = class_weights_from_frequencies([0.999, 0.001])
    assert w[1] == pytest.approx(20.0) and w[0] == pytest.approx((1 - 0.001 * 20) / 0.999)


def test_absent_class_gets_the_upper_clip_and_does_not_break_the_mean():
    w = class_weights_from_frequencies([0.8, 0.2, 0.0], clip=(0.1, 10.0))
    assert w[2] == 10.0
    assert 0.8 * w[0] + 0.2 * w[1] == pytest.approx(1.0)


def test_pos_weight_by_hand_and_clipped():
    assert pos_weight_from_frequency(0.2) == pytest.approx(4.0)
    assert pos_weight_from_frequency(0.2, method="sqrt_inverse") == pytest.approx(2.0)
    assert pos_weight_from_frequency(0.001) == 20.0
    assert pos_weight_from_frequency(0.999) == 0.05
    assert pos_weight_from_frequency(0.01, clip=(1.0, 50.0)) == pytest.approx(50.0)


def _cls(index: int, freq: float, absent: float) -> ClassStats:
    return ClassStats(
        index=index, name=f"c{index}", pixel_count=int(freq * 1000), pixel_frequency=freq,
        absent_share=absent, is_background=index == 0, objects=None, boundary_pixels=0, boundary_share=0.0,
    )  # fmt: skip


def test_weights_from_profile_follow_class_index_order():
    profile = SimpleNamespace(classes=(_cls(1, 0.1, 0.5), _cls(0, 0.9, 0.0)))
    np.testing.assert_allclose(class_weights_from_profile(profile), [1 / 1.8, 5.0])
    median = class_weights_from_profile(profile, method="median")
    # f' = (0.9, 0.2): median 0.55 -> raw (0.611, 2.75); normalised by 0.9 * 0.611 + 0.1 * 2.75 = 0.825
    np.testing.assert_allclose(median, np.array([0.55 / 0.9, 0.55 / 0.2]) / 0.825)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"freqs": [0.5, 0.6]}, r"'freqs' parameter must hold at least two non-negative class frequencies"),
        ({"freqs": [1.0]}, r"'freqs' parameter"),
        ({"freqs": [0.5, 0.5], "method": "log"}, r"'method' parameter must be one of inverse, median"),
        ({"freqs": [0.5, 0.5], "clip": (2.0, 3.0)}, r"'clip' parameter must satisfy 0 < low <= 1 <= high"),
        ({"freqs": [0.5, 0.5], "clip": 3}, r"'clip' parameter must be a \(low, high\) pair"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        class_weights_from_frequencies(**kwargs)


def test_pos_weight_needs_both_classes():
    with pytest.raises(
        ConfigError, match=r"'fg_freq' parameter must be a foreground frequency in \(0, 1\)\. Got 0"
    ):
        pos_weight_from_frequency(0.0)
    assert math.isfinite(pos_weight_from_frequency(1e-9))
