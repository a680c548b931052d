"""The one work-queue claim (WAITING -> RUNNING) that the task queue and the confirmation's units share."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from lossadvisor.tune.study._study import companion_name
from lossadvisor.tune.study._workers import WORKER_ATTR, Worker, claim_waiting


def _worker(index: int) -> Worker:
    return Worker(index=index, host="host", pid=1000 + index, start=None)


def _study_with(keys):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), direction="maximize")
    for key in keys:
        study.enqueue_trial({}, user_attrs={"task": key})
    return study


def test_each_waiting_trial_goes_to_one_worker_only():
    study = _study_with(["a", "b"])
    first, second = claim_waiting(study, _worker(0)), claim_waiting(study, _worker(1))
    assert {first.user_attrs["task"], second.user_attrs["task"]} == {"a", "b"}
    assert claim_waiting(study, _worker(2)) is None  # nothing waits any more
    trials = {t.user_attrs["task"]: t for t in study.get_trials(deepcopy=False)}
    assert all(t.state == TrialState.RUNNING for t in trials.values())
    assert trials[first.user_attrs["task"]].user_attrs[WORKER_ATTR]["index"] == 0
    assert trials[second.user_attrs["task"]].user_attrs[WORKER_ATTR]["index"] == 1


def test_accept_limits_what_is_claimed():
    study = _study_with(["a", "b", "c"])
    got = claim_waiting(study, _worker(0), lambda t: t.user_attrs["task"] == "c")
    assert got.user_attrs["task"] == "c"
    assert claim_waiting(study, _worker(0), lambda t: t.user_attrs["task"] == "c") is None
    waiting = {t.user_attrs["task"] for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))}
    assert waiting == {"a", "b"}


def test_companion_names():
    assert companion_name("buildings", "confirm") == "buildings:confirm"
    assert companion_name("buildings", "tasks") == "buildings:tasks"
    assert companion_name("buildings", "files") == "buildings:files"
    with pytest.raises(ValueError, match="confrim"):
        companion_name("buildings", "confrim")
