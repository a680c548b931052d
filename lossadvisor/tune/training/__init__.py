"""One training run: device, model (presets, the compact U-Net), batches, loop, metrics, LR range test."""

from __future__ import annotations

from lossadvisor._lazy import lazy_names
from lossadvisor.tune.training._device import DeviceChoice, choose_threads, resolve_device
from lossadvisor.tune.training._lesion_views import SliceView, lesion_slices, sample_views, stack_slices
from lossadvisor.tune.training._lr_range import LRRangeResult, lr_range_test
from lossadvisor.tune.training._memory import (
    MemoryEstimate,
    available_memory,
    check_step_memory,
    estimate_step_memory,
)
from lossadvisor.tune.training._metrics import (
    DEFAULT_METRIC,
    OBJECT_FOUND_OVERLAP,
    SCORED_METRICS,
    ObjectRecallTally,
    SegmentationTally,
    collapse_kind,
    foreground_score,
)
from lossadvisor.tune.training._models import DEFAULT_MODEL, check_model, for_volumes, resolve_model
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
    "CompactUNet3d": "_unet",
    "count_parameters": "_unet",
}


__getattr__, __dir__ = lazy_names(globals(), _LAZY)

__all__ = [
    "Configuration",
    "DEFAULT_METRIC",
    "DEFAULT_MODEL",
    "DEFAULT_RECIPE",
    "DeviceChoice",
    "EpochRecord",
    "LEGACY_RECIPE",
    "LRRangeResult",
    "MemoryEstimate",
    "OBJECT_FOUND_OVERLAP",
    "SCORED_METRICS",
    "ObjectRecallTally",
    "RunContext",
    "SegmentationTally",
    "SliceView",
    "TrialConfig",
    "TrainingRecipe",
    "TrialOutcome",
    "WEIGHT_DECAY",
    "available_memory",
    "check_step_memory",
    "estimate_step_memory",
    "check_model",
    "choose_threads",
    "collapse_kind",
    "config_id",
    "describe",
    "for_volumes",
    "foreground_score",
    "image_counts",
    "jsonable_params",
    "lesion_slices",
    "lr_range_test",
    "outcome_summary",
    "resolve_device",
    "resolve_model",
    "sample_views",
    "stack_slices",
    "train_trial",
    *_LAZY,
]
