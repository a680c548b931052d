"""A deterministic train / validation split stratified on each image's foreground.

With 30-odd tiles a random split can easily put every empty tile, or every densely built one, on one side, and
then validation IoU measures the split rather than the loss. Stratifying on "empty" plus quantile bins of the
foreground fraction keeps both sides alike (scikit-learn's stratified ``train_test_split``).
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np

from lossadvisor.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_VAL_FRACTION = 0.2
FOREGROUND_BINS = 3  # quantile bins of the foreground fraction among non-empty images
MIN_VAL_IMAGES = 2
MIN_TRAIN_IMAGES = 2


def stratum_labels(foreground_fraction: np.ndarray, *, bins: int = FOREGROUND_BINS) -> np.ndarray:
    """Label each image "empty" or "fg<k>" (its quantile bin of foreground fraction among non-empty images).

    Example:
        >>> stratum_labels(np.array([0.0, 0.1, 0.2, 0.3, 0.0, 0.4]), bins=2).tolist()
        ['empty', 'fg0', 'fg0', 'fg1', 'empty', 'fg1']
    """
    frac = np.asarray(foreground_fraction, dtype=float)
    labels = np.array(["empty"] * len(frac), dtype=object)
    nonempty = frac > 0
    if nonempty.any() and bins > 0:
        edges = np.quantile(frac[nonempty], np.linspace(0, 1, bins + 1)[1:-1])
        labels[nonempty] = [f"fg{int(np.searchsorted(edges, f, side='right'))}" for f in frac[nonempty]]
    return labels.astype(str)


def _feasible(labels: np.ndarray, n_val: int) -> bool:
    counts = Counter(labels.tolist())
    n_train = len(labels) - n_val
    return min(counts.values()) >= 2 and len(counts) <= min(n_val, n_train)


def stratified_split(
    foreground_fraction: np.ndarray, *, val_fraction: float = DEFAULT_VAL_FRACTION, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and validation images, stratified and reproducible for a given seed.

    Strata are "empty" and :data:`FOREGROUND_BINS` quantile bins of the foreground fraction; when a stratum is
    too small for scikit-learn (fewer than 2 members, or more strata than validation images), fewer bins are
    used, then empty / non-empty only, then no stratification (with a warning).

    Args:
        foreground_fraction: One value per image (0 for an empty mask).
        val_fraction: Share of images for validation, in (0, 1); at least :data:`MIN_VAL_IMAGES`.
        seed: Seed of the shuffle.

    Returns:
        ``(train_indices, val_indices)``, each sorted.

    Raises:
        ConfigError: ``val_fraction`` outside (0, 1) or too few images to split.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"The 'val_fraction' must be between 0 and 1 (exclusive); got {val_fraction}.")
    n = len(foreground_fraction)
    if n < MIN_VAL_IMAGES + MIN_TRAIN_IMAGES:
        raise ConfigError(
            f"Tuning needs at least {MIN_VAL_IMAGES + MIN_TRAIN_IMAGES} image/mask pairs to hold some out "
            f"for validation; got {n}. Add images, or use `lossadvisor advise` without trials."
        )
    n_val = int(min(n - MIN_TRAIN_IMAGES, max(MIN_VAL_IMAGES, round(val_fraction * n))))
    indices = np.arange(n)
    frac = np.asarray(foreground_fraction, dtype=float)
    for bins in range(FOREGROUND_BINS, 0, -1):  # bins=1 is empty vs non-empty
        labels = stratum_labels(frac, bins=bins)
        if _feasible(labels, n_val):
            train, val = train_test_split(indices, test_size=n_val, random_state=seed, stratify=labels)
            return np.sort(train), np.sort(val)
    logger.warning("Too few images per foreground stratum to stratify the split; splitting at random.")
    train, val = train_test_split(indices, test_size=n_val, random_state=seed)
    return np.sort(train), np.sort(val)


DEFAULT_FOLDS = 3


def check_fold_count(pairs: int, folds: int) -> None:
    """Refuse ``folds`` that ``pairs`` image/mask pairs cannot fill (tune checks it in its plan phase, before
    anything trains or the study stores the setting; :func:`stratified_folds` by the same rule)."""
    if not isinstance(folds, int) or folds < 2:
        raise ConfigError(f"The 'folds' option must be an integer >= 2; got {folds!r}.")
    if pairs < folds * MIN_VAL_IMAGES:
        most = pairs // MIN_VAL_IMAGES
        fewer = f"--folds {most} or fewer" if most >= 2 else "more images"
        raise ConfigError(
            f"{folds}-fold confirmation needs at least {folds * MIN_VAL_IMAGES} image/mask pairs "
            f"({MIN_VAL_IMAGES} per fold); got {pairs}. Use {fewer} or add images. Nothing was written."
        )


def stratified_folds(
    foreground_fraction: np.ndarray, *, folds: int = DEFAULT_FOLDS, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` (train, validation) index pairs in which every image is validated exactly once, stratified
    like :func:`stratified_split` (empty + foreground bins; fewer bins when a stratum has fewer members than
    folds; then empty images merged into the lowest bin; then none, with a warning).

    Raises:
        ConfigError: ``folds`` below 2, or fewer images than ``folds`` times :data:`MIN_VAL_IMAGES`.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(foreground_fraction)
    check_fold_count(n, folds)
    frac = np.asarray(foreground_fraction, dtype=float)
    indices = np.arange(n)
    candidates = [stratum_labels(frac, bins=b) for b in range(FOREGROUND_BINS, 0, -1)]
    # too few empty images for a stratum of their own (2 of 31 in the example): they join the lowest bin
    candidates += [np.where(c == "empty", "fg0", c) for c in candidates]
    for labels in candidates:
        if min(Counter(labels.tolist()).values()) >= folds:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            return [(np.sort(t), np.sort(v)) for t, v in splitter.split(indices, labels)]
    logger.warning("Too few images per foreground stratum to stratify the folds; folding at random.")
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(np.sort(t), np.sort(v)) for t, v in splitter.split(indices)]
