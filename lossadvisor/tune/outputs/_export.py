"""Rebuild a run folder from a shared study, on any machine: what ``lossadvisor report --storage`` reads.

Workers store the run files the report needs in the storage (:mod:`._shared`): the profile and advice of
the first worker, the LR range tests, and, from a worker that finished, result.json, samples.npz and its
run.json. The tables (trials.csv, epochs.csv, diagnostics.csv, confirmation.csv, confirmation_tiles.csv) are
written fresh from the study, so an export of a study still running shows every run finished so far.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lossadvisor import runfolder
from lossadvisor._atomic import write_bytes
from lossadvisor.errors import ConfigError
from lossadvisor.tune.confirm import collect, finalists_from_json
from lossadvisor.tune.outputs._outputs import write_tables
from lossadvisor.tune.search import ATTR_PREFIX as DIAGNOSTIC_PREFIX
from lossadvisor.tune.study import (
    PLAN_ATTR,
    SharedFiles,
    check_study_name,
    companion_name,
    open_storage,
    redact_url,
)

logger = logging.getLogger(__name__)

STORED_FILES = (
    runfolder.PROFILE_JSON,
    runfolder.PER_IMAGE_CSV,
    runfolder.RECOMMENDATION_JSON,
    runfolder.LR_RANGE_TEST_JSON,
    runfolder.RESULT_JSON,
    runfolder.SAMPLES_NPZ,
    runfolder.RUN_JSON,
)


def export_study(storage: str, study_name: str, out: str | Path) -> Path:
    """Write the run files of study ``study_name`` in ``storage`` into the folder ``out``.

    Args:
        storage: The storage URL the workers used (``postgresql://...``, ``journal:FILE``, ``sqlite:///...``).
        study_name: The study's name (``--study``).
        out: The folder to write (created if needed).

    Returns:
        The folder.

    Raises:
        ConfigError: The storage cannot be opened or holds no such study.

    Example:
        >>> export_study("postgresql://me@db/optuna", "roads-v2", "reports/roads-v2")  # doctest: +SKIP
    """
    import optuna

    check_study_name(study_name)
    rdb = open_storage(storage, create=False)
    names = {s.study_name for s in optuna.get_all_study_summaries(rdb, include_best_trial=False)}
    if study_name not in names:
        studies = ", ".join(sorted(n for n in names if ":" not in n)) or "none"
        raise ConfigError(
            f"The storage {redact_url(storage)} holds no study named {study_name!r} (studies: {studies}). "
            f"Pass the --study name the workers used."
        )
    study = optuna.load_study(study_name=study_name, storage=rdb)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    stored = SharedFiles(rdb, study_name).get_all() if companion_name(study_name, "files") in names else {}
    for name in STORED_FILES:
        if name in stored:
            write_bytes(folder / name, stored[name])
    diagnostics = []
    if companion_name(study_name, "tasks") in names:
        tasks = optuna.load_study(study_name=companion_name(study_name, "tasks"), storage=rdb)
        for t in tasks.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            if str(t.user_attrs.get("task", "")).startswith(DIAGNOSTIC_PREFIX) and "record" in t.user_attrs:
                diagnostics.append(t.user_attrs["record"])
        diagnostics.sort(key=lambda r: (r["config_id"], r["seed"]))
    confirmation, tiles = [], []
    plan = study.user_attrs.get(PLAN_ATTR)
    if plan and companion_name(study_name, "confirm") in names:
        cstudy = optuna.load_study(study_name=companion_name(study_name, "confirm"), storage=rdb)
        got = collect(cstudy, finalists_from_json(plan))
        confirmation, tiles = got.records, got.tiles
    write_tables(folder, study, diagnostics=diagnostics, confirmation=confirmation, tiles=tiles)
    logger.info("Exported study %s from %s to %s", study_name, redact_url(storage), folder)
    return folder
