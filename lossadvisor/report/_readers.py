"""Readers for the individual files of a run folder, each tolerant of what a tuner may leave out.

CSV columns follow ``docs/ARCHITECTURE.md``; a column the writer did not include is added empty, booleans are
parsed from any of the usual spellings (and counts), so a slightly different writer still renders.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lossadvisor.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

# fmt: off
# Columns the report reads from each CSV (docs/ARCHITECTURE.md); absent ones are added empty so a tuner that
# writes fewer columns still renders, with "–" where a value is missing.
TRIAL_COLUMNS = (
    "number", "state", "loss", "lr", "mix", "params", "value", "val_iou", "val_dice", "best_epoch",
    "epochs_run", "collapsed", "collapse_kind", "grad_norm_max", "grad_spikes", "nonfinite",
    "duration_s", "fail_reason",
)
EPOCH_COLUMNS = (
    "phase", "run_id", "trial", "loss", "epoch", "train_loss", "val_iou", "val_dice", "pred_fg_share",
    "true_fg_share", "collapse", "grad_norm_mean", "grad_norm_max", "grad_spikes", "nonfinite",
    "seconds",
)
STABILITY_COLUMNS = (
    "config_id", "label", "source", "loss", "lr", "params", "seed", "val_iou", "val_dice", "collapsed",
    "collapse_kind", "failed", "fail_reason", "recall_tiny", "recall_small", "recall_medium",
    "recall_large", "duration_s",
)
_BOOL_COLUMNS = ("collapsed", "failed", "nonfinite")
_TEXT_COLUMNS = (
    "state", "loss", "params", "collapse_kind", "fail_reason", "label", "source", "config_id", "phase",
    "run_id", "collapse",
)
# fmt: on
_TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})


@dataclass(frozen=True)
class Samples:
    """Validation tiles with their true masks and the predictions of a few configurations."""

    images: np.ndarray  # (n, H, W, 3) uint8
    masks: np.ndarray  # (n, H, W) class indices
    predictions: dict[str, np.ndarray]  # config_id -> (n, H, W) class indices
    labels: dict[str, str]  # config_id -> readable label


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


def normalise(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Add absent columns (empty), parse booleans, and turn missing text into ""."""
    import pandas as pd

    df = df.copy()
    for column in columns:
        if column not in df.columns:
            df[column] = math.nan
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
    for column in ("lr", "mix", "value", "val_iou", "val_dice", "epoch", "trial", "number", "seed"):
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


def read_lr_range_tests(file: Path) -> list[dict[str, Any]]:
    """Accept a list of tests, ``{"tests": [...]}``, or ``{loss: test}`` (one entry per loss tested)."""
    data = json.loads(file.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        if isinstance(data.get("tests"), list):
            data = data["tests"]
        elif "lrs" in data:
            data = [data]
        else:
            data = [{"loss": name, **entry} for name, entry in data.items() if isinstance(entry, dict)]
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise DataError("expected a list of LR range tests, each an object with loss, lrs and losses")
    return data


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
        images = np.asarray(npz["images"])
        masks = np.asarray(npz["masks"])
        predictions = {
            key[len("pred__") :]: np.asarray(npz[key]) for key in npz.files if key.startswith("pred__")
        }
        labels: dict[str, str] = {}
        if "labels" in npz.files:
            labels = {str(k): str(v) for k, v in json.loads(str(npz["labels"])).items()}
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
    return Samples(images=images, masks=masks, predictions=predictions, labels=labels)
