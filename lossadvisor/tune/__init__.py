"""Short U-Net trials with Optuna that confirm the loss recommendation on the user's own data.

The pieces, lowest first: pairing images with masks (:func:`pair_files`), a stratified split and a decoded
cache (:func:`build_train_data`), the compact U-Net (:class:`CompactUNet`), one training run with an epoch
callback (:func:`train_trial`), the LR range test (:func:`lr_range_test`), and the study that ties them
together (:func:`tune`). Importing this package imports torch.

Example:
    >>> from lossadvisor.tune import tune
    >>> result = tune("images", "masks", out="reports/mydata")  # doctest: +SKIP
    >>> result.recommended.loss, result.confidence.level  # doctest: +SKIP
"""

from __future__ import annotations

from lossadvisor.tune._api import TuneResult, tune
from lossadvisor.tune.data import (
    Pairing,
    TrainData,
    build_train_data,
    pair_files,
    read_image,
    stratified_split,
)
from lossadvisor.tune.study import redact_url
from lossadvisor.tune.training import (
    CompactUNet,
    DeviceChoice,
    EpochRecord,
    LRRangeResult,
    SegmentationTally,
    TrialConfig,
    TrialOutcome,
    choose_threads,
    collapse_kind,
    count_parameters,
    lr_range_test,
    resolve_device,
    train_trial,
)

__all__ = [
    "CompactUNet",
    "DeviceChoice",
    "EpochRecord",
    "LRRangeResult",
    "Pairing",
    "SegmentationTally",
    "TrainData",
    "TrialConfig",
    "TrialOutcome",
    "TuneResult",
    "build_train_data",
    "choose_threads",
    "collapse_kind",
    "count_parameters",
    "lr_range_test",
    "pair_files",
    "read_image",
    "redact_url",
    "resolve_device",
    "stratified_split",
    "train_trial",
    "tune",
]
