"""The job's clock against ``--time-budget``: this run's wall time, plus the work earlier runs of the same
study stored (a resumed or extended run counts what was done before it by the recorded durations of its
trials, tests and runs), and the times measured so far that the budget decisions need.

The decisions themselves are pure functions (:mod:`lossadvisor.tune.confirm._budget`); the ones that change
what runs (the search closed, the race's plan) are stored in the study once, so every worker and every resume
reads the same ones (:func:`lossadvisor.tune._phases.search.search`, :func:`.confirmation.race_plan`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from lossadvisor.tune.confirm import TimeBudget


@dataclass
class JobClock:
    """The job's time: ``prior_s`` of stored earlier work plus this run's wall time since ``t0``."""

    budget: TimeBudget
    t0: float  # time.monotonic() when tune() was called
    prior_s: float = 0.0

    def spent(self) -> float:
        return self.prior_s + time.monotonic() - self.t0

    def left(self) -> float | None:
        return None if self.budget.seconds is None else self.budget.seconds - self.spent()


def trial_seconds(trial) -> float | None:
    """Wall seconds a finished (or failed) trial took, from the storage's own timestamps."""
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def finished_seconds(study, keep: Callable[[object], bool] | None = None) -> float:
    """The summed wall time of the finished, pruned and failed trials of ``study`` (those ``keep`` keeps)."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    total = 0.0
    for t in study.get_trials(deepcopy=False, states=states):
        if keep is None or keep(t):
            total += trial_seconds(t) or 0.0
    return total


def full_trial_seconds(study, epochs: int) -> float | None:
    """The time a search trial of ``epochs`` epochs takes, measured: the median time per epoch of the finished
    and pruned trials, times ``epochs`` (``None`` before any finished)."""
    from optuna.trial import TrialState

    per_epoch = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        seconds, ran = trial_seconds(t), len(t.user_attrs.get("epochs") or ())
        if seconds and ran:
            per_epoch.append(seconds / ran)
    return statistics.median(per_epoch) * epochs if per_epoch else None

