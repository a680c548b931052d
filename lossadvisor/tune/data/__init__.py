"""The training data of a study: images paired with masks (folders paired by stem, or an in-memory
``Dataset`` / array pair), the stratified split and folds, and the decoded cache the trials read.

The names below are what the rest of :mod:`lossadvisor.tune` may use; its private modules are
imported from inside this package only (``tests/tune/test_tune_layers.py``).
"""

from __future__ import annotations

from lossadvisor.tune.data._cache import (
    TrainData,
    build_fold_data,
    build_train_data,
    fold_data_from_memory,
    save_cache,
    train_data_from_memory,
)
from lossadvisor.tune.data._data import load_source
from lossadvisor.tune.data._pairing import Pairing, pair_files, read_image
from lossadvisor.tune.data._split import DEFAULT_FOLDS, stratified_split

__all__ = [
    "DEFAULT_FOLDS",
    "Pairing",
    "TrainData",
    "build_fold_data",
    "build_train_data",
    "fold_data_from_memory",
    "load_source",
    "pair_files",
    "read_image",
    "save_cache",
    "stratified_split",
    "train_data_from_memory",
]
