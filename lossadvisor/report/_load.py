"""Read the saved files of a run folder, tolerating every missing or unreadable part.

The report reads only files (``docs/ARCHITECTURE.md``, "The run folder"), never live objects, so it can be
rebuilt at any time: after ``profile`` alone, after ``advise``, while ``tune`` is still running, or later.
A missing file is normal (that step has not run); an unreadable one is recorded in
:attr:`RunFolder.problems` and shown in its section instead of stopping the whole report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from lossadvisor import runfolder
from lossadvisor._redact import redact_deep
from lossadvisor._run_records import LRRangeTest, RunSummary, TuneOutcome
from lossadvisor.errors import DataError
from lossadvisor.profile._schema import DatasetProfile
from lossadvisor.report._readers import (
    EPOCH_COLUMNS,
    STABILITY_COLUMNS,
    TRIAL_COLUMNS,
    Samples,
    count_trial_states,
    normalise,
    read_csv,
    read_json,
    read_lr_range_tests,
    read_per_image,
    read_samples,
)
from lossadvisor.rules._schema import Recommendation

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The file names, from the run-folder contract (short names: every section module imports them).
PROFILE = runfolder.PROFILE_JSON
PER_IMAGE = runfolder.PER_IMAGE_CSV
RECOMMENDATION = runfolder.RECOMMENDATION_JSON
RUN = runfolder.RUN_JSON
TRIALS = runfolder.TRIALS_CSV
EPOCHS = runfolder.EPOCHS_CSV
STABILITY = runfolder.STABILITY_CSV  # run folders written before the confirmation phase
CONFIRMATION = runfolder.CONFIRMATION_CSV
LR_RANGE_TEST = runfolder.LR_RANGE_TEST_JSON
RESULT = runfolder.RESULT_JSON
SAMPLES = runfolder.SAMPLES_NPZ
STUDY_DB = runfolder.STUDY_DB
RUN_FILES = runfolder.RUN_FILES


@dataclass(frozen=True)
class RunFolder:
    """Everything a run folder holds; ``None`` where a file is absent or could not be read."""

    path: Path
    profile: DatasetProfile | None = None
    per_image: pd.DataFrame | None = None
    recommendation: Recommendation | None = None
    run: RunSummary | None = None
    trials: pd.DataFrame | None = None
    epochs: pd.DataFrame | None = None
    stability: pd.DataFrame | None = None
    lr_range_tests: tuple[LRRangeTest, ...] | None = None
    result: TuneOutcome | None = None
    samples: Samples | None = None
    study_states: dict[str, int] | None = None  # trials per state in study.db (a running study's progress)
    problems: dict[str, str] = field(default_factory=dict)  # file name -> why it could not be read

    @property
    def status(self) -> str:
        """``run.json``'s status ("running", "complete", "interrupted"), or "" when there is no run.json."""
        return self.run.status if self.run is not None else ""

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
        per_image=read(PER_IMAGE, read_per_image),
        recommendation=read(RECOMMENDATION, Recommendation.load),
        run=read(RUN, lambda f: RunSummary.from_dict(redact_deep(read_json(f, dict)))),
        trials=read(TRIALS, lambda f: normalise(read_csv(f), TRIAL_COLUMNS)),
        epochs=read(EPOCHS, lambda f: normalise(read_csv(f), EPOCH_COLUMNS)),
        stability=read(
            CONFIRMATION if (path / CONFIRMATION).is_file() else STABILITY,
            lambda f: normalise(read_csv(f), STABILITY_COLUMNS),
        ),
        lr_range_tests=read(LR_RANGE_TEST, read_lr_range_tests),
        result=read(RESULT, TuneOutcome.load),
        samples=read(SAMPLES, read_samples),
        study_states=read(STUDY_DB, count_trial_states),
        problems=problems,
    )
