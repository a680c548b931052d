"""Coordination of workers: storages, locks, the study's checks and budget, work queues, shared files."""

from __future__ import annotations

from lossadvisor.tune.study._lock import hold_folder, releases_folder_locks
from lossadvisor.tune.study._session import PLAN_ATTR, Session
from lossadvisor.tune.study._shared import SharedFiles
from lossadvisor.tune.study._storage import open_storage
from lossadvisor.tune.study._study import (
    DEFAULT_STUDY_NAME,
    INTERRUPTED,
    NOT_COUNTED,
    STUDY_DB,
    check_study,
    check_study_name,
    companion_name,
    counted_trials,
    redone,
    stored_settings,
)
from lossadvisor.tune.study._urls import DEFAULT_STORAGE_LABEL, default_storage_url, redact_url, scrub

__all__ = [
    "DEFAULT_STORAGE_LABEL",
    "DEFAULT_STUDY_NAME",
    "INTERRUPTED",
    "NOT_COUNTED",
    "PLAN_ATTR",
    "STUDY_DB",
    "Session",
    "SharedFiles",
    "check_study",
    "check_study_name",
    "companion_name",
    "counted_trials",
    "stored_settings",
    "default_storage_url",
    "hold_folder",
    "open_storage",
    "redact_url",
    "redone",
    "releases_folder_locks",
    "scrub",
]
