"""Short U-Net trials with Optuna that confirm the loss recommendation on the user's own data.

The pieces, lowest first: pairing images with masks (:func:`pair_files`), a stratified split and a decoded
cache (:func:`build_train_data`), the compact U-Net (:class:`CompactUNet`), one training run with an epoch
callback (:func:`train_trial`), the LR range test (:func:`lr_range_test`), and the study that ties them
together (:func:`tune`), with its options (:class:`TuneOptions`). Every name is loaded on first use; torch
and optuna only when a model is built or a study opened.

Example:
    >>> from lossadvisor.tune import tune
    >>> result = tune("images", "masks", out="reports/mydata")  # doctest: +SKIP
    >>> result.recommended.loss, result.confidence.level  # doctest: +SKIP
"""

from __future__ import annotations

from lossadvisor._lazy import lazy_names

# Every public name, and the module that serves it: loaded on first use, so `import lossadvisor.tune` (and
# the CLI, which reads TuneOptions to build its --help) stays light.
_LAZY = {
    "TuneResult": "lossadvisor.tune._api",
    "tune": "lossadvisor.tune._api",
    "TuneOptions": "lossadvisor.tune._options",
    "Terminated": "lossadvisor.tune._signals",
    "exit_code": "lossadvisor.tune._signals",
    "export_study": "lossadvisor.tune.outputs",
    "DEFAULT_STUDY_NAME": "lossadvisor.tune.study",
    "Pairing": "lossadvisor.tune.data",
    "TrainData": "lossadvisor.tune.data",
    "build_train_data": "lossadvisor.tune.data",
    "pair_files": "lossadvisor.tune.data",
    "read_image": "lossadvisor.tune.data",
    "stratified_split": "lossadvisor.tune.data",
    "redact_url": "lossadvisor.tune.study",
    "CompactUNet": "lossadvisor.tune.training",
    "CompactUNet3d": "lossadvisor.tune.training",
    "DeviceChoice": "lossadvisor.tune.training",
    "EpochRecord": "lossadvisor.tune.training",
    "LRRangeResult": "lossadvisor.tune.training",
    "SegmentationTally": "lossadvisor.tune.training",
    "TrialConfig": "lossadvisor.tune.training",
    "TrialOutcome": "lossadvisor.tune.training",
    "choose_threads": "lossadvisor.tune.training",
    "collapse_kind": "lossadvisor.tune.training",
    "count_parameters": "lossadvisor.tune.training",
    "lr_range_test": "lossadvisor.tune.training",
    "resolve_device": "lossadvisor.tune.training",
    "train_trial": "lossadvisor.tune.training",
}


__getattr__, __dir__ = lazy_names(globals(), _LAZY)

__all__ = sorted(_LAZY)
