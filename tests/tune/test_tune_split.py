from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from lossadvisor.errors import ConfigError
from lossadvisor.tune import stratified_split
from lossadvisor.tune.data._split import stratified_folds, stratum_labels


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


def test_folds_validate_every_image_exactly_once_and_keep_the_strata_balanced() -> None:
    # 6 empty images and 3 bins of 6 non-empty ones: each of 3 folds validates 2 of every stratum
    frac = np.array([0.0] * 6 + [0.01 * (i + 1) for i in range(18)])
    folds = stratified_folds(frac, folds=3, seed=0)
    validated = np.sort(np.concatenate([v for _, v in folds]))
    assert validated.tolist() == list(range(24))
    labels = stratum_labels(frac)
    for train, val in folds:
        assert set(train) | set(val) == set(range(24)) and not set(train) & set(val)
        assert sorted(Counter(labels[val].tolist()).values()) == [2, 2, 2, 2]
    assert [v.tolist() for _, v in stratified_folds(frac, folds=3, seed=0)] == [v.tolist() for _, v in folds]


def test_too_few_images_for_the_folds_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"3-fold confirmation needs at least 6 image/mask pairs"):
        stratified_folds(np.array([0.1, 0.2, 0.0, 0.3, 0.1]), folds=3)


def test_too_few_empty_images_for_their_own_stratum_join_the_lowest_bin() -> None:
    # 2 empty images cannot be spread over 3 folds; merged into the lowest bin, the folds stay stratified
    frac = np.array([0.0, 0.0] + [0.01 * (i + 1) for i in range(28)])
    folds = stratified_folds(frac, folds=3, seed=0)
    assert np.sort(np.concatenate([v for _, v in folds])).tolist() == list(range(30))
    highest = set(range(20, 30))  # the top third of foreground fractions, 10 images
    assert sorted(len(highest & set(v.tolist())) for _, v in folds) == [3, 3, 4]
