"""The run folder's contract in one place: file names, CSV columns, vocabularies, the NaN policy, the writers.

Every command writes its part of one folder per dataset (``docs/ARCHITECTURE.md``, "The run folder"); the
tuner writes through this module and the report reads through it, so a column renamed here is renamed for
both, and a test checks that every name the report reads is declared here. Nothing here imports numpy,
pandas or torch: ``lossadvisor profile`` and ``advise`` import it too.

The JSON files of the tuner have typed, frozen records (``lossadvisor/_run_records.py``: :class:`TuneOutcome`
for result.json, :class:`RunSummary` for run.json, :class:`LRRangeTests` for lr_range_test.json), re-exported
here.

NaN policy: a number that is missing or not finite (NaN, +-inf) is written as an empty CSV cell and as JSON
``null`` (strict JSON, readable by any tool); readers turn an empty cell into NaN and ``null`` into ``None``.
The frozen records of ``profile.json`` and ``recommendation.json`` keep their own documented spelling
(``"nan"``, ``"inf"`` strings, ``lossadvisor/_records.py``) because they must round-trip exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lossadvisor import _atomic
from lossadvisor._run_records import LR_RANGE_TEST_SCHEMA_VERSION
from lossadvisor._run_records import LRRangeTests as LRRangeTests
from lossadvisor._run_records import RunSummary as RunSummary
from lossadvisor._run_records import TuneOutcome as TuneOutcome

# --- file names ----------------------------------------------------------------------------------------
PROFILE_JSON = "profile.json"  # DatasetProfile (lossadvisor/profile/_schema.py), written by profile
PER_IMAGE_CSV = "per_image.csv"  # one row per mask file, written by profile
RECOMMENDATION_JSON = "recommendation.json"  # Recommendation (lossadvisor/rules/_schema.py), by advise/tune
RUN_JSON = "run.json"  # what tune ran, with which settings, and how it ended
STUDY_DB = "study.db"  # Optuna's SQLite storage (the default)
TRIALS_CSV = "trials.csv"  # one row per search trial
EPOCHS_CSV = "epochs.csv"  # one row per run and epoch
STABILITY_CSV = "stability.csv"  # older run folders: one row per re-run (configuration, seed)
CONFIRMATION_CSV = "confirmation.csv"  # one row per confirmation run (finalist, fold, seed)
CONFIRMATION_TILES_CSV = "confirmation_tiles.csv"  # one row per (finalist, fold, seed, validation tile)
DIAGNOSTICS_CSV = "diagnostics.csv"  # the LR-range-test configurations' runs, never ranked
LR_RANGE_TEST_JSON = "lr_range_test.json"  # {"schema_version": 1, "tests": [...]}, one entry per loss swept
# Schema versions (the records declare theirs as their schema_version field: profile.json,
# recommendation.json, result.json, run.json, lr_range_test.json); readers refuse newer ones
# (lossadvisor._records.check_schema_version).
LR_RANGE_TEST_VERSION = LR_RANGE_TEST_SCHEMA_VERSION  # lr_range_test.json (the LRRangeTests record)
SAMPLES_VERSION = 1  # samples.npz, which has no record: a 0-d "schema_version" array
RESULT_JSON = "result.json"  # the verdict and its evidence
SAMPLES_NPZ = "samples.npz"  # validation tiles with a few configurations' predictions
REPORT_HTML = "report.html"  # the self-contained report
CACHE_DIR = "cache"  # decoded tiles and sample predictions (not shared; safe to delete)

# Files the report reads, in the order its sections use them.
RUN_FILES = (
    PROFILE_JSON,
    PER_IMAGE_CSV,
    RECOMMENDATION_JSON,
    RUN_JSON,
    TRIALS_CSV,
    EPOCHS_CSV,
    CONFIRMATION_CSV,
    STABILITY_CSV,
    LR_RANGE_TEST_JSON,
    RESULT_JSON,
    SAMPLES_NPZ,
)

# --- run.json -------------------------------------------------------------------------------------------
RUN_STATUSES = ("running", "complete", "interrupted", "failed")

# --- object size buckets ----------------------------------------------------------------------------------
# By area in pixels at native resolution. "tiny" is under 8x8 px: there a handful of wrong pixels moves
# per-object Dice by tens of percent. "small" / "medium" / "large" follow the COCO detection convention
# (area < 32^2, < 96^2, >= 96^2; Lin et al. 2014, "Microsoft COCO").
SIZE_BUCKET_BOUNDS_PX: tuple[tuple[str, float, float], ...] = (
    ("tiny", 0.0, 64.0),
    ("small", 64.0, 1024.0),
    ("medium", 1024.0, 9216.0),
    ("large", 9216.0, float("inf")),
)
# Volumes: the same four names, bounded by physical volume in mm³ (spheres of 4, 10 and 30 mm diameter: 34,
# 524 and 14 137 mm³): lesions a few voxels across at 1 mm in the first, organs in the last.
SIZE_BUCKET_BOUNDS_MM3: tuple[tuple[str, float, float], ...] = (
    ("tiny", 0.0, 34.0),
    ("small", 34.0, 524.0),
    ("medium", 524.0, 14137.0),
    ("large", 14137.0, float("inf")),
)
SIZE_BUCKETS = tuple(name for name, _, _ in SIZE_BUCKET_BOUNDS_PX)
RECALL_COLUMNS = tuple(f"recall_{name}" for name in SIZE_BUCKETS)  # share of objects found, per bucket

# --- collapse: one concept, one name ------------------------------------------------------------------------
# "collapse" says what a validation pass predicted when it collapsed: nothing ("background"), nearly
# everything ("foreground"), or it did not collapse ("none"). A run that failed is a separate fact ("failed").
COLLAPSE = "collapse"
COLLAPSE_NONE = "none"
COLLAPSE_KINDS = (COLLAPSE_NONE, "background", "foreground")


def is_collapse(value: Any) -> bool:
    """True for "background" or "foreground"; "none", empty and missing values are not a collapse.

    Example:
        >>> is_collapse("background"), is_collapse("none"), is_collapse("")
        (True, False, False)
    """
    return isinstance(value, str) and value in COLLAPSE_KINDS and value != COLLAPSE_NONE


# --- CSV columns ------------------------------------------------------------------------------------------
# fmt: off
# Loss parameters are not one JSON cell: each has its own ``param_<name>`` column (a list parameter one per
# element, ``param_<name>_<i>``), inserted after "lr" (PARAMS_AFTER); readers gather them back into the
# PARAM_VIEW_COLUMNS "params" (JSON text) and "mix".
TRIAL_COLUMNS = (
    "number", "state", "loss", "lr",
    "value",                    # the search objective: validation foreground IoU at best_epoch
    "best_epoch", "best_iou", "best_dice",  # both scores of the same (best) epoch
    "val_iou", "val_dice",      # both scores of the final epoch
    "epochs_run", COLLAPSE, "grad_norm_max", "grad_spikes", "nonfinite", "duration_s", "fail_reason",
)
EPOCH_COLUMNS = (
    "phase", "run_id", "trial", "loss", "epoch", "train_loss", "val_iou", "val_dice", "pred_fg_share",
    "true_fg_share", COLLAPSE, "grad_norm_mean", "grad_norm_max", "grad_spikes", "nonfinite", "seconds",
)
STABILITY_COLUMNS = (
    "config_id", "label", "source", "loss", "lr", "seed",
    "val_iou", "val_dice",      # final epoch of the run
    COLLAPSE, "failed", "fail_reason", *RECALL_COLUMNS, "duration_s",
)
# confirmation.csv and diagnostics.csv: the stability columns plus the race's level (run length), its steps,
# the repetition (partition) and the fold (all empty for diagnostics; the seed empty for confirmation runs)
_SEED_AT = STABILITY_COLUMNS.index("seed")
RUN_COLUMNS = (*STABILITY_COLUMNS[:_SEED_AT], "level", "steps", "rep", "fold", *STABILITY_COLUMNS[_SEED_AT:])
# confirmation_tiles.csv: foreground pixels of one validation tile in one run (crop windows summed per tile)
TILE_COLUMNS = ("config_id", "loss", "level", "rep", "fold", "tile", "intersection", "union", "iou")
# per_image.csv: these columns, plus one ``pixels_<class>`` and one ``objects_<class>`` column per class.
PER_IMAGE_COLUMNS = (
    "file", "height", "width", "ignored_pixels", "foreground_fraction", "object_area_min",
    "object_area_median", "object_area_max", "boundary_pixels", "encoding", "skipped_reason",
)
PER_IMAGE_CLASS_PREFIXES = ("pixels_", "objects_")
# fmt: on
PARAM_PREFIX = "param_"
PARAMS_AFTER = "lr"
PARAM_VIEW_COLUMNS = ("mix", "params")
TRIAL_STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING")
EPOCH_PHASES = ("search", "diagnostic", "confirmation", "stability")  # "stability": older run folders
# Columns an earlier version wrote under another name: readers rename them, so old run folders still open.
RENAMED_COLUMNS = {"collapse_kind": COLLAPSE}


def is_per_image_column(name: str) -> bool:
    """True for a column of per_image.csv (a fixed one or a per-class ``pixels_``/``objects_`` one)."""
    return name in PER_IMAGE_COLUMNS or name.startswith(PER_IMAGE_CLASS_PREFIXES)


def flat_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Loss parameters as ``param_<name>`` cells; a list parameter gets one ``param_<name>_<i>`` per element.

    Example:
        >>> flat_params({"mix": 0.3, "class_weights": [1.0, 4.0]})
        {'param_class_weights_0': 1.0, 'param_class_weights_1': 4.0, 'param_mix': 0.3}
    """
    out: dict[str, Any] = {}
    for name, value in sorted((params or {}).items()):
        if isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                out[f"{PARAM_PREFIX}{name}_{i}"] = v
        else:
            out[f"{PARAM_PREFIX}{name}"] = value
    return out


def params_from_flat(row: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flat_params` for one CSV row (empty and NaN cells are absent parameters).

    Example:
        >>> params_from_flat({"lr": 0.1, "param_mix": 0.3, "param_gamma": float("nan"), "param_w_0": 1.0})
        {'mix': 0.3, 'w': [1.0]}
    """
    import re

    params: dict[str, Any] = {}
    for column, value in row.items():
        if not str(column).startswith(PARAM_PREFIX) or value is None or value == "":
            continue
        if isinstance(value, float) and math.isnan(value):
            continue
        value = value.item() if hasattr(value, "item") and callable(value.item) else value
        key = str(column)[len(PARAM_PREFIX) :]
        listed = re.fullmatch(r"(.+)_(\d+)", key)
        if listed:
            params.setdefault(listed.group(1), []).append(value)
        else:
            params[key] = value
    return params


def with_param_columns(columns: tuple[str, ...], rows: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """``columns`` with every ``param_*`` key of ``rows`` inserted, sorted, after :data:`PARAMS_AFTER`."""
    names = sorted({str(k) for row in rows for k in row if str(k).startswith(PARAM_PREFIX)})
    at = columns.index(PARAMS_AFTER) + 1
    return columns[:at] + tuple(names) + columns[at:]


# --- NaN policy and writers ---------------------------------------------------------------------------------
def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: missing or non-finite numbers empty, dicts and lists as sorted JSON text."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=list)
    return value


def json_clean(value: Any) -> Any:
    """A payload as strict JSON values: non-finite floats become ``None``, tuples lists, keys strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        return json_clean(value.item())
    return value


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (``lossadvisor/_atomic.py``: a reader never sees half a file)."""
    return _atomic.write_bytes(path, data)


def write_json(path: str | Path, payload: Any) -> Path:
    """Strict, indented JSON (NaN and inf become null), written atomically."""
    return _atomic.write_json(path, json_clean(payload))


def write_csv(path: str | Path, columns: tuple[str, ...], rows: Iterable[Mapping[str, Any]]) -> Path:
    """A CSV with exactly ``columns`` (keys not among them are left out, missing ones empty), atomically.

    Cells follow the NaN policy (:func:`csv_cell`): missing and non-finite numbers empty, dicts as JSON.
    """
    return _atomic.write_csv(path, columns, ({c: csv_cell(row.get(c)) for c in columns} for row in rows))
