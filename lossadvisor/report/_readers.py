"""Readers for the individual files of a run folder, each tolerant of what a tuner may leave out.

CSV columns follow the run-folder contract (``lossadvisor/runfolder.py``); a column the writer did not include
is added empty, a column an earlier version named otherwise is renamed, booleans are parsed from any of the
usual spellings (and counts), so a slightly different writer still renders.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lossadvisor import runfolder
from lossadvisor._records import check_schema_version
from lossadvisor._run_records import LRRangeTest
from lossadvisor._text import display_path
from lossadvisor.errors import DataError
from lossadvisor.runfolder import (
    COLLAPSE,
    EPOCH_COLUMNS,
    PARAM_PREFIX,
    PARAM_VIEW_COLUMNS,
    PARAMS_AFTER,
    RENAMED_COLUMNS,
    STABILITY_COLUMNS,
    TRIAL_COLUMNS,
    is_per_image_column,
    params_from_flat,
)

__all__ = ["EPOCH_COLUMNS", "STABILITY_COLUMNS", "TRIAL_COLUMNS", "normalise", "read_csv", "read_json"]

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

# Columns and names come from the run-folder contract (lossadvisor/runfolder.py); absent columns are added
# empty so a tuner that writes fewer columns still renders, with "–" where a value is missing.
_BOOL_COLUMNS = ("failed", "nonfinite")
_TEXT_COLUMNS = (
    "state", "loss", "params", COLLAPSE, "fail_reason", "label", "source", "config_id", "phase", "run_id",
)  # fmt: skip
_NUMBER_COLUMNS = (
    "lr", "mix", "value", "val_iou", "val_dice", "best_iou", "best_dice", "best_epoch", "epoch", "trial",
    "number", "seed",
)  # fmt: skip
_TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})


@dataclass(frozen=True)
class Samples:
    """Validation tiles with their true masks and the predictions of a few configurations."""

    images: np.ndarray  # (n, H, W, 3) uint8
    masks: np.ndarray  # (n, H, W) class indices
    predictions: dict[str, np.ndarray]  # config_id -> (n, H, W) class indices
    labels: dict[str, str]  # config_id -> readable label
    captions: tuple[str, ...] = ()  # one per tile when written (volumes: case, slice and the lesion it shows)


def read_json(file: Path, expected: type) -> Any:
    """A JSON file whose top level must be of type ``expected`` (e.g. ``dict`` for result.json)."""
    data = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(data, expected):
        raise DataError(f"expected a JSON {expected.__name__}, found a {type(data).__name__}")
    return data


def read_csv(file: Path) -> pd.DataFrame:
    """A CSV file as a DataFrame (pandas is imported here, never at ``lossadvisor --help`` time)."""
    import pandas as pd

    return pd.read_csv(file, keep_default_na=True)


def read_per_image(file: Path) -> pd.DataFrame:
    """per_image.csv with the contract's columns only (the fixed ones and the per-class ones)."""
    df = read_csv(file)
    return df[[c for c in df.columns if is_per_image_column(str(c))]]


def normalise(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Keep exactly ``columns`` (absent ones added empty), parse booleans, and turn missing text into "".

    Tables with a learning rate (trials, stability) also get ``params`` (JSON text) and ``mix``, gathered
    from the ``param_<name>`` columns the tuner writes.
    """
    import pandas as pd

    df = df.rename(columns={old: new for old, new in RENAMED_COLUMNS.items() if new not in df.columns})
    if any(str(c).startswith(PARAM_PREFIX) for c in df.columns):  # one column per loss parameter
        gathered = [params_from_flat(row) for row in df.to_dict("records")]
        if "params" not in df.columns:
            df["params"] = [json.dumps(p, sort_keys=True) for p in gathered]
        if "mix" not in df.columns:
            df["mix"] = [p.get("mix", math.nan) for p in gathered]
    if PARAMS_AFTER in columns:  # tables whose rows carry loss parameters (trials, stability)
        columns = (*columns, *(c for c in PARAM_VIEW_COLUMNS if c not in columns))
    for column in columns:
        if column not in df.columns:
            df[column] = math.nan
    df = df[list(columns)]  # the report sees the contract's columns only, so it cannot depend on others
    for column in _BOOL_COLUMNS:
        if column in df.columns:
            df[column] = df[column].map(as_bool)
    for column in _TEXT_COLUMNS:
        if column in df.columns:
            df[column] = df[column].map(
                lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            )
    if "state" in df.columns:
        df["state"] = df["state"].str.upper().str.replace("TRIALSTATE.", "", regex=False)
    for column in _NUMBER_COLUMNS:
        if column in df.columns:
            df[column] = pd.to_numeric(df[column], errors="coerce")
    return df


def as_bool(value: Any) -> bool:
    """True/False from a bool, "True"/"yes"/"1", or a count (true when non-zero); missing is False."""
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    try:  # a count (e.g. non-finite steps) is true when non-zero
        return float(value) != 0.0
    except (TypeError, ValueError):
        return str(value).strip().lower() in _TRUE_WORDS


def read_lr_range_tests(file: Path) -> tuple[LRRangeTest, ...]:
    """Accept a list of tests, ``{"tests": [...]}``, or ``{loss: test}`` (one entry per loss tested)."""
    data = json.loads(file.read_text(encoding="utf-8"))
    check_schema_version(data, supported=runfolder.LR_RANGE_TEST_VERSION, what=display_path(file))
    if isinstance(data, dict):
        if isinstance(data.get("tests"), list):
            data = data["tests"]
        elif "lrs" in data:
            data = [data]
        else:
            data = [{"loss": name, **entry} for name, entry in data.items() if isinstance(entry, dict)]
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise DataError("expected a list of LR range tests, each an object with loss, lrs and losses")
    try:
        return tuple(LRRangeTest.from_dict(entry) for entry in data)
    except (TypeError, ValueError) as exc:
        raise DataError(f"an LR range test does not have the expected fields: {exc}") from None


def count_trial_states(file: Path) -> dict[str, int]:
    """Trials per state in an Optuna SQLite storage, read-only with the standard library (no optuna import).

    Only used to say how far a running study has got before the tuner writes ``trials.csv``.
    """
    import sqlite3

    connection = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
    try:
        rows = connection.execute("SELECT state, COUNT(*) FROM trials GROUP BY state").fetchall()
    finally:
        connection.close()
    return {str(state).upper(): int(count) for state, count in rows}


def read_samples(file: Path) -> Samples:
    """``samples.npz``: checks that images, masks and every ``pred__<config_id>`` describe the same tiles."""
    import numpy as np

    with np.load(file, allow_pickle=False) as npz:
        if "schema_version" in npz.files:
            version = npz["schema_version"]
            check_schema_version(
                int(version) if version.dtype.kind in "iu" else str(version),
                supported=runfolder.SAMPLES_VERSION,
                what=display_path(file),
            )
        images = np.asarray(npz["images"])
        masks = np.asarray(npz["masks"])
        predictions = {
            key[len("pred__") :]: np.asarray(npz[key]) for key in npz.files if key.startswith("pred__")
        }
        labels: dict[str, str] = {}
        if "labels" in npz.files:
            labels = {str(k): str(v) for k, v in json.loads(str(npz["labels"])).items()}
        captions: tuple[str, ...] = ()
        if "captions" in npz.files:
            captions = tuple(str(c) for c in json.loads(str(npz["captions"])))
    if images.ndim == 3:  # grey tiles: repeat into RGB
        images = np.repeat(images[..., None], 3, axis=-1)
    if images.dtype != np.uint8:  # floats in [0, 1] or [0, 255], or 16-bit: rescale for display
        images = images.astype(np.float64)
        top = images.max() if images.size else 1.0
        images = (images * (255.0 / top) if top > 0 else images).clip(0, 255).astype(np.uint8)
    if images.ndim != 4 or masks.shape != images.shape[:3]:
        raise DataError(f"images {images.shape} and masks {masks.shape} do not describe the same tiles")
    for key, pred in predictions.items():
        if pred.shape != masks.shape:
            raise DataError(f"pred__{key} has shape {pred.shape}, the masks {masks.shape}")
    if captions and len(captions) != len(masks):
        raise DataError(f"{len(captions)} captions for {len(masks)} tiles")
    return Samples(images=images, masks=masks, predictions=predictions, labels=labels, captions=captions)
