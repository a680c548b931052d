"""The training data of a study: image/mask pairs (folders by stem, or in memory), split, folds, cache."""

from __future__ import annotations

from lossadvisor.tune.data._cache import (
    TrainData,
    build_fold_data,
    build_train_data,
    counted_foreground,
    fold_data_from_memory,
    save_cache,
    train_data_from_memory,
)
from lossadvisor.tune.data._data import load_source
from lossadvisor.tune.data._pairing import Pairing, pair_files, read_image
from lossadvisor.tune.data._preflight import check_class_values, check_crop, tile_count
from lossadvisor.tune.data._split import DEFAULT_FOLDS, check_fold_count, stratified_split
from lossadvisor.tune.data._volumes import build_volume_fold_data, build_volume_train_data

__all__ = [
    "DEFAULT_FOLDS",
    "Pairing",
    "TrainData",
    "build_fold_data",
    "build_train_data",
    "build_volume_fold_data",
    "build_volume_train_data",
    "check_class_values",
    "check_crop",
    "check_fold_count",
    "counted_foreground",
    "fold_data_from_memory",
    "load_source",
    "pair_files",
    "read_image",
    "save_cache",
    "stratified_split",
    "tile_count",
    "train_data_from_memory",
]
