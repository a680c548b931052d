from __future__ import annotations

import numpy as np
import pytest

from lossadvisor.errors import ConfigError
from lossadvisor.tune import stratified_split
from lossadvisor.tune._split import stratum_labels


def _fractions() -> np.ndarray:
    # 10 empty tiles and 30 with foreground fractions spread from 1% to 60%.
    return np.concatenate([np.zeros(10), np.linspace(0.01, 0.6, 30)])


def test_split_is_deterministic_for_a_seed():
    a = stratified_split(_fractions(), val_fraction=0.25, seed=3)
    b = stratified_split(_fractions(), val_fraction=0.25, seed=3)
    c = stratified_split(_fractions(), val_fraction=0.25, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


def test_split_partitions_the_images():
    train, val = stratified_split(_fractions(), val_fraction=0.25, seed=0)
    assert len(val) == 10  # 25% of 40
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(40))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_empty_and_foreground_bins_are_in_proportion(seed):
    frac = _fractions()
    train, val = stratified_split(frac, val_fraction=0.25, seed=seed)
    # 10 of 40 tiles are empty: a quarter of each side, i.e. 2-3 of 10 validation tiles.
    assert (frac[val] == 0).sum() in (2, 3)
    assert (frac[train] == 0).sum() in (7, 8)
    # Each of the three quantile bins (10 tiles each) sends 2 or 3 tiles to validation.
    labels = stratum_labels(frac)
    for k in ("fg0", "fg1", "fg2"):
        assert (labels[val] == k).sum() in (2, 3)


def test_stratum_labels_by_hand():
    labels = stratum_labels(np.array([0.0, 0.1, 0.2, 0.3, 0.0, 0.4]), bins=2)
    assert labels.tolist() == ["empty", "fg0", "fg0", "fg1", "empty", "fg1"]


def test_split_falls_back_when_a_stratum_is_a_single_image():
    frac = np.array([0.0] + [0.1 * i for i in range(1, 10)])  # one empty tile only
    train, val = stratified_split(frac, val_fraction=0.2, seed=0)
    assert len(train) + len(val) == 10


def test_too_few_images_is_refused():
    with pytest.raises(ConfigError, match="at least 4 image/mask pairs"):
        stratified_split(np.array([0.1, 0.2, 0.3]))


def test_bad_val_fraction_is_refused():
    with pytest.raises(ConfigError, match="'val_fraction' must be between 0 and 1"):
        stratified_split(_fractions(), val_fraction=1.5)
