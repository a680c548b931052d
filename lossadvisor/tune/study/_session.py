"""One worker's session on a study that any number of workers may share.

It bundles what the tuner needs to cooperate: the storage, the study (joined under the study lock, checked
against its stored definition), this worker's identity and sampler, the task queue for once-only work and the
shared files. The rules it keeps:

- The trial budget is the study's: a trial is claimed (counted, then asked for) under the study lock, so
  workers together run exactly ``n_trials`` counted trials.
- The search is over for everyone when the budget is used and no trial is still running anywhere; only then
  are the confirmation's finalists chosen, once, and stored, so every worker races the same configurations.
  A larger budget later (a raised ``--n-trials`` on a finished run) reopens the search, and the finalists are
  chosen again from the larger set of trials.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lossadvisor.tune.study._shared import SharedFiles
from lossadvisor.tune.study._storage import open_storage, study_lock
from lossadvisor.tune.study._study import companion_name, counted_trials, fail_stale_trials, open_study
from lossadvisor.tune.study._tasks import TaskQueue
from lossadvisor.tune.study._workers import (
    STALE_REASON,
    Worker,
    ask,
    claim_waiting,
    heartbeat,
    join,
    reclaim,
    requeue,
)

logger = logging.getLogger(__name__)

PLAN_ATTR = "finalists"  # the confirmation's finalists, chosen once when the search is over everywhere
PLAN_TRIALS_ATTR = "finalists_after_trials"  # counted trials when they were chosen (more later: re-chosen)


@dataclass
class Session:
    """This worker's handle on a (possibly shared) study."""

    url: str
    name: str
    storage: object
    study: object
    worker: Worker
    tasks: TaskQueue
    files: SharedFiles
    definition: dict | None
    poll_s: float

    @classmethod
    def open(
        cls,
        url: str,
        name: str,
        *,
        fingerprint: str,
        objective_settings: dict,
        definition: dict | None,
        storage_label: str,
        heartbeat_s: int | None,
        own_sqlite: bool,
    ) -> Session:
        """Open the storage, create or join the study, and register this worker.

        ``own_sqlite``: the storage is the run folder's own SQLite file, which the run-folder lock gives to
        this process alone, so any trial left running there belongs to a dead process and is failed at once.
        """
        storage = open_storage(url, heartbeat_s=heartbeat_s, on_stale=requeue)

        def lock():
            return study_lock(url, name)

        study, stored = open_study(
            storage,
            study_name=name,
            fingerprint=fingerprint,
            objective_settings=objective_settings,
            sampler=None,
            pruner=None,
            storage_label=storage_label,
            lock=lock,
            definition=definition,
        )
        worker = join(study, lock)
        tasks = TaskQueue(storage, name, lock=lock, worker=worker, poll_s=_poll(heartbeat_s))
        if own_sqlite:
            fail_stale_trials(study, storage)
            _requeue_running(tasks.study)
        return cls(
            url=url,
            name=name,
            storage=storage,
            study=study,
            worker=worker,
            tasks=tasks,
            files=SharedFiles(storage, name),
            definition=stored,
            poll_s=_poll(heartbeat_s),
        )

    def lock(self):
        return study_lock(self.url, self.name)

    def beat(self, trial_id: int):
        return heartbeat(self.storage, trial_id)

    def search_open(self, n_trials: int) -> bool:
        return counted_trials(self.study) < n_trials

    def claim(self, n_trials: int):
        """The next trial of the study's budget for this worker, or ``None`` when the budget is used."""
        with self.lock():
            reclaim(self.study)
            if not self.search_open(n_trials):
                return None
            return ask(self.study, self.worker)

    def others_running(self) -> bool:
        from optuna.trial import TrialState

        return bool(self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))

    def wait_for_search(self, n_trials: int | Callable[[], int], run_more) -> None:
        """Wait until no trial runs anywhere; meanwhile ``run_more()`` runs what the budget has left (a dead
        worker's re-queued trial), unless it is ``None`` (this worker is out of time). ``n_trials`` may be a
        function, read at each look (the time budget can close the search meanwhile)."""
        while True:
            limit = n_trials() if callable(n_trials) else n_trials
            if run_more is not None and self.search_open(limit):
                run_more()
                continue
            if not self.others_running():
                return
            time.sleep(self.poll_s)
            with self.lock():
                reclaim(self.study)

    def requeue_running(self, study) -> None:
        """Give back what a dead earlier process left running in the run folder's own SQLite file."""
        _requeue_running(study)

    def companion(self, kind: str):
        """The companion study ``kind`` (e.g. ``"confirm"``) in the same storage, made by the first worker."""
        import optuna

        from lossadvisor.tune.study._storage import with_retries

        study = with_retries(
            lambda: optuna.create_study(
                study_name=companion_name(self.name, kind),
                storage=self.storage,
                direction="maximize",
                load_if_exists=True,
            ),
            what="Creating a companion study",
        )
        return study

    def take(self, study):
        """A waiting trial of ``study`` for this worker alone (``None`` when none waits), tagged with it.

        The storage switches a trial from WAITING to RUNNING for one caller only, so two workers never get
        the same unit.
        """
        import optuna

        t = claim_waiting(study, self.worker)
        return None if t is None else optuna.Trial(study, t._trial_id)

    def wait_idle(self, study, run_more) -> None:
        """Wait until no trial of ``study`` waits or runs anywhere; ``run_more()`` does any that waits (a dead
        worker's unit, queued again)."""
        from optuna.trial import TrialState

        while True:
            if study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                run_more()
                continue
            if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                return
            time.sleep(self.poll_s)
            with self.lock():
                reclaim(study)

    def once(self, key: str, compute):
        """The study's value for ``key``: computed by the first worker that asks, stored, read by the rest."""
        with self.lock():
            attrs = self.study.user_attrs
            if key in attrs:
                return attrs[key]
            value = compute()
            self.study.set_user_attr(key, value)
            return value

    def finalists(self, choose) -> tuple[list, bool]:
        """The confirmation's finalists: ``choose()`` (a pure function of the finished trials and
        ``--finalists``) by the first worker after the search, stored for the rest; chosen again when the
        choice changed since (a raised ``--n-trials`` grew the search, or another ``--finalists``). Returns
        ``(finalists, re-chosen?)``."""
        import json

        with self.lock():
            attrs = self.study.user_attrs
            plan = choose()
            stored = attrs.get(PLAN_ATTR)
            if stored is not None and json.dumps(stored, sort_keys=True) == json.dumps(plan, sort_keys=True):
                return stored, False
            self.study.set_user_attr(PLAN_ATTR, plan)
            self.study.set_user_attr(PLAN_TRIALS_ATTR, counted_trials(self.study))
            return plan, stored is not None

    def share_run_files(self, run_dir: Path, names: tuple[str, ...], *, replace: bool) -> None:
        """Store run-folder files in the storage for ``report --storage`` on any machine.

        ``replace=False`` keeps the first worker's copy (the profile and advice are the same for all).
        """
        have = set(self.files.names()) if not replace else set()
        for name in names:
            path = Path(run_dir) / name
            if path.is_file() and name not in have:
                self.files.put(name, path.read_bytes())


def _requeue_running(study) -> None:
    """Give back the units a dead earlier process left running in the run folder's own SQLite file."""
    from optuna.trial import TrialState

    storage = study._storage
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(t._trial_id, "fail_reason", STALE_REASON)
        storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        requeue(study, t)


def _poll(heartbeat_s: int | None) -> float:
    """Seconds between looks at other workers' progress."""
    return 1.0 if heartbeat_s is None else min(2.0, max(0.5, heartbeat_s / 4))
