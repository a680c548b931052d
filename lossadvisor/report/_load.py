"""Read the saved files of a run folder, tolerating every missing or unreadable part.

The report reads only files (``docs/ARCHITECTURE.md``, "The run folder"), never live objects, so it can be
rebuilt at any time: after ``profile`` alone, after ``advise``, while ``tune`` is still running, or later.
A missing file is normal (that step has not run); an unreadable one is recorded in
:attr:`RunFolder.problems` and shown in its section instead of stopping the whole report.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lossadvisor.errors import DataError
from lossadvisor.profile._schema import DatasetProfile
from lossadvisor.report._safety import redact_deep
from lossadvisor.rules._schema import Recommendation

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

logger = logging.getLogger(__name__)

T = TypeVar("T")

PROFILE = "profile.json"
PER_IMAGE = "per_image.csv"
RECOMMENDATION = "recommendation.json"
RUN = "run.json"
TRIALS = "trials.csv"
EPOCHS = "epochs.csv"
STABILITY = "stability.csv"
LR_RANGE_TEST = "lr_range_test.json"
RESULT = "result.json"
SAMPLES = "samples.npz"
STUDY_DB = "study.db"
RUN_FILES = (
    PROFILE,
    PER_IMAGE,
    RECOMMENDATION,
    RUN,
    TRIALS,
    EPOCHS,
    STABILITY,
    LR_RANGE_TEST,
    RESULT,
    SAMPLES,
)

# Columns the report reads from each CSV (docs/ARCHITECTURE.md); absent ones are added empty so a tuner that
# writes fewer columns still renders, with "–" where a value is missing.
TRIAL_COLUMNS = (
    "number",
    "state",
    "loss",
    "lr",
    "mix",
    "params",
    "value",
    "val_iou",
    "val_dice",
    "best_epoch",
    "epochs_run",
    "collapsed",
    "collapse_kind",
    "grad_norm_max",
    "grad_spikes",
    "nonfinite",
    "duration_s",
    "fail_reason",
)
EPOCH_COLUMNS = (
    "phase",
    "run_id",
    "trial",
    "loss",
    "epoch",
    "train_loss",
    "val_iou",
    "val_dice",
    "pred_fg_share",
    "true_fg_share",
    "collapse",
    "grad_norm_mean",
    "grad_norm_max",
    "grad_spikes",
    "nonfinite",
    "seconds",
)
STABILITY_COLUMNS = (
    "config_id",
    "label",
    "source",
    "loss",
    "lr",
    "params",
    "seed",
    "val_iou",
    "val_dice",
    "collapsed",
    "collapse_kind",
    "failed",
    "fail_reason",
    "recall_tiny",
    "recall_small",
    "recall_medium",
    "recall_large",
    "duration_s",
)
_BOOL_COLUMNS = ("collapsed", "failed", "nonfinite")
_TEXT_COLUMNS = (
    "state",
    "loss",
    "params",
    "collapse_kind",
    "fail_reason",
    "label",
    "source",
    "config_id",
    "phase",
    "run_id",
    "collapse",
)
_TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})


@dataclass(frozen=True)
class Samples:
    """Validation tiles with their true masks and the predictions of a few configurations."""

    images: np.ndarray  # (n, H, W, 3) uint8
    masks: np.ndarray  # (n, H, W) class indices
    predictions: dict[str, np.ndarray]  # config_id -> (n, H, W) class indices
    labels: dict[str, str]  # config_id -> readable label


@dataclass(frozen=True)
class RunFolder:
    """Everything a run folder holds; ``None`` where a file is absent or could not be read."""

    path: Path
    profile: DatasetProfile | None = None
    per_image: pd.DataFrame | None = None
    recommendation: Recommendation | None = None
    run: dict[str, Any] | None = None
    trials: pd.DataFrame | None = None
    epochs: pd.DataFrame | None = None
    stability: pd.DataFrame | None = None
    lr_range_tests: list[dict[str, Any]] | None = None
    result: dict[str, Any] | None = None
    samples: Samples | None = None
    study_states: dict[str, int] | None = None  # trials per state in study.db (a running study's progress)
    problems: dict[str, str] = field(default_factory=dict)  # file name -> why it could not be read

    @property
    def status(self) -> str:
        """``run.json``'s status ("running", "complete", "interrupted"), or "" when there is no run.json."""
        return str((self.run or {}).get("status", "") or "")

    def problems_with(self, *names: str) -> list[str]:
        """Sentences for the files among ``names`` that exist but could not be read."""
        return [f"Could not read {name}: {self.problems[name]}" for name in names if name in self.problems]


def load_run(run_dir: str | Path) -> RunFolder:
    """Read every known file of ``run_dir``.

    Args:
        run_dir: a run folder written by ``lossadvisor profile/advise/tune --out``.

    Returns:
        A :class:`RunFolder`; missing parts are ``None``, unreadable ones also appear in ``problems``.

    Raises:
        DataError: if ``run_dir`` is not a folder, or holds none of the run files.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise DataError(
            f"The run folder {str(path)!r} does not exist or is not a folder. Pass the folder that "
            "`lossadvisor profile`, `advise` or `tune` wrote with --out (e.g. reports/<dataset-name>)."
        )
    if not any((path / name).is_file() for name in RUN_FILES):
        raise DataError(
            f"The folder {str(path)!r} holds none of the run files ({', '.join(RUN_FILES)}). "
            "Run `lossadvisor profile MASKS --out DIR` or `lossadvisor tune ... --out DIR` first."
        )
    problems: dict[str, str] = {}

    def read(name: str, reader: Callable[[Path], T]) -> T | None:
        file = path / name
        if not file.is_file():
            return None
        try:
            return reader(file)
        except Exception as exc:  # noqa: BLE001 - one damaged file must not stop the report
            problems[name] = f"{type(exc).__name__}: {exc}"
            logger.warning("Could not read %s: %s", file, exc)
            return None

    return RunFolder(
        path=path,
        profile=read(PROFILE, DatasetProfile.load),
        per_image=read(PER_IMAGE, _read_csv),
        recommendation=read(RECOMMENDATION, Recommendation.load),
        run=read(RUN, lambda f: redact_deep(_read_json(f, dict))),
        trials=read(TRIALS, lambda f: _normalise(_read_csv(f), TRIAL_COLUMNS)),
        epochs=read(EPOCHS, lambda f: _normalise(_read_csv(f), EPOCH_COLUMNS)),
        stability=read(STABILITY, lambda f: _normalise(_read_csv(f), STABILITY_COLUMNS)),
        lr_range_tests=read(LR_RANGE_TEST, _read_lr_range_tests),
        result=read(RESULT, lambda f: _read_json(f, dict)),
        samples=read(SAMPLES, _read_samples),
        study_states=read(STUDY_DB, _count_trial_states),
        problems=problems,
    )


def _read_json(file: Path, expected: type) -> Any:
    data = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(data, expected):
        raise DataError(f"expected a JSON {expected.__name__}, found a {type(data).__name__}")
    return data


def _read_csv(file: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(file, keep_default_na=True)


def _normalise(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Add absent columns (empty), parse booleans, and turn missing text into ""."""
    import pandas as pd

    df = df.copy()
    for column in columns:
        if column not in df.columns:
            df[column] = math.nan
    for column in _BOOL_COLUMNS:
        if column in df.columns:
            df[column] = df[column].map(_as_bool)
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


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    try:  # a count (e.g. non-finite steps) is true when non-zero
        return float(value) != 0.0
    except (TypeError, ValueError):
        return str(value).strip().lower() in _TRUE_WORDS


def _read_lr_range_tests(file: Path) -> list[dict[str, Any]]:
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


def _count_trial_states(file: Path) -> dict[str, int]:
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


def _read_samples(file: Path) -> Samples:
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
    if images.ndim != 4 or masks.shape != images.shape[:3]:
        raise DataError(f"images {images.shape} and masks {masks.shape} do not describe the same tiles")
    for key, pred in predictions.items():
        if pred.shape != masks.shape:
            raise DataError(f"pred__{key} has shape {pred.shape}, the masks {masks.shape}")
    return Samples(images=images, masks=masks, predictions=predictions, labels=labels)
