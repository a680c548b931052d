"""One training run: the model (presets, ``MODULE:CALLABLE``, the compact U-Net), the device, batches,
the training loop with its metrics, and the LR range test. torch is imported on first use only.

The names below are what the rest of :mod:`lossadvisor.tune` may use; its private modules are
imported from inside this package only (``tests/tune/test_tune_layers.py``).
"""

from __future__ import annotations

import importlib
from typing import Any

from lossadvisor.tune.training._device import DeviceChoice, choose_threads, resolve_device
from lossadvisor.tune.training._lr_range import LRRangeResult, lr_range_test
from lossadvisor.tune.training._metrics import (
    OBJECT_FOUND_OVERLAP,
    ObjectRecallTally,
    SegmentationTally,
    collapse_kind,
)
from lossadvisor.tune.training._models import DEFAULT_MODEL, check_model, resolve_model
from lossadvisor.tune.training._recipe import DEFAULT_RECIPE, LEGACY_RECIPE, TrainingRecipe
from lossadvisor.tune.training._run import (
    Configuration,
    RunContext,
    config_id,
    describe,
    jsonable_params,
    outcome_summary,
)
from lossadvisor.tune.training._train import (
    WEIGHT_DECAY,
    EpochRecord,
    TrialConfig,
    TrialOutcome,
    image_counts,
    train_trial,
)

# Public names that need torch, and the private module that defines each.
_LAZY = {
    "CompactUNet": "_unet",
    "count_parameters": "_unet",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Configuration",
    "DEFAULT_MODEL",
    "DEFAULT_RECIPE",
    "DeviceChoice",
    "EpochRecord",
    "LEGACY_RECIPE",
    "LRRangeResult",
    "OBJECT_FOUND_OVERLAP",
    "ObjectRecallTally",
    "RunContext",
    "SegmentationTally",
    "TrialConfig",
    "TrainingRecipe",
    "TrialOutcome",
    "WEIGHT_DECAY",
    "check_model",
    "choose_threads",
    "collapse_kind",
    "config_id",
    "describe",
    "image_counts",
    "jsonable_params",
    "lr_range_test",
    "outcome_summary",
    "resolve_device",
    "resolve_model",
    "train_trial",
    *_LAZY,
]
