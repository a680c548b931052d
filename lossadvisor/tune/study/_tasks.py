"""Work that must run exactly once per study, whatever the number of workers: a queue in the storage.

Each unit (an LR range test, a confirmation run of one configuration with one seed) is a trial of the
companion study ``<study>:tasks``, enqueued once under the study lock. A worker claims a unit by moving its
trial from WAITING to RUNNING, which the storage does atomically (Optuna's own way of handing an enqueued
trial to exactly one worker), beats its heartbeat while it works, and stores the result as the trial's user
attribute ``record`` when it is done. A unit whose worker dies is failed by heartbeat (or dead PID) and
queued again, so another worker redoes it. Every worker can read every result.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from lossadvisor.tune._signals import deferred_interrupts
from lossadvisor.tune.study._storage import with_retries
from lossadvisor.tune.study._study import INTERRUPTED, companion_name
from lossadvisor.tune.study._workers import (
    Worker,
    claim_waiting,
    heartbeat,
    reclaim,
    requeue,
)

logger = logging.getLogger(__name__)

TASK_ATTR = "task"
SPEC_ATTR = "spec"
RECORD_ATTR = "record"


class TaskQueue:
    """Units of work of one study, each done by exactly one worker.

    Args:
        storage: The study's Optuna storage.
        study_name: The main study's name (the queue is ``<study_name>:tasks``).
        lock: ``() -> context manager`` excluding the other workers (:func:`~._storage.study_lock`).
        worker: This process.
        poll_s: Seconds between looks while waiting for other workers' units.
    """

    def __init__(
        self,
        storage,
        study_name: str,
        *,
        lock: Callable[[], contextlib.AbstractContextManager],
        worker: Worker,
        poll_s: float = 2.0,
    ) -> None:
        import optuna

        self._lock = lock
        self.worker = worker
        self.poll_s = poll_s
        self.study = with_retries(
            lambda: optuna.create_study(
                study_name=companion_name(study_name, "tasks"),
                storage=storage,
                direction="maximize",
                load_if_exists=True,
            ),
            what="Creating the task queue",
        )
        self.ran = 0  # units this worker ran

    def _trials(self, states=None):
        return self.study.get_trials(deepcopy=False, states=states)

    def ensure(self, specs: dict[str, dict]) -> int:
        """Enqueue every unit of ``specs`` (key -> JSON spec) that is not queued, running or done yet."""
        from optuna.trial import TrialState

        with self._lock():
            live = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)
            known = {t.user_attrs.get(TASK_ATTR) for t in self._trials(live)}
            added = 0
            for key, spec in specs.items():
                if key not in known:
                    self.study.enqueue_trial({}, user_attrs={TASK_ATTR: key, SPEC_ATTR: spec})
                    added += 1
        return added

    def records(self, keys=None) -> dict[str, dict]:
        """Stored results by key (all units, or those in ``keys``)."""
        from optuna.trial import TrialState

        out: dict[str, dict] = {}
        for t in self._trials((TrialState.COMPLETE,)):
            key = t.user_attrs.get(TASK_ATTR)
            if key is not None and (keys is None or key in keys) and RECORD_ATTR in t.user_attrs:
                out.setdefault(key, t.user_attrs[RECORD_ATTR])
        return out

    def _claim(self, keys) -> tuple[int, str, dict] | None:
        """Take a waiting unit among ``keys``: the WAITING -> RUNNING switch succeeds for one worker only."""
        t = claim_waiting(self.study, self.worker, lambda t: t.user_attrs.get(TASK_ATTR) in keys)
        if t is None:
            return None
        return t._trial_id, t.user_attrs[TASK_ATTR], t.user_attrs.get(SPEC_ATTR, {})

    def _claim_and_run(self, keys, work: Callable[[str, dict], dict]) -> bool:
        """Claim a waiting unit and do it; False when none waits. Interrupts are deferred while the unit is
        claimed, stored or given back, and any interrupt in between gives it back: never a unit left RUNNING
        by a live process that stopped working on it."""
        from optuna.trial import TrialState

        storage = self.study._storage
        claimed = None
        try:
            with deferred_interrupts():
                claimed = self._claim(keys)
            if claimed is None:
                return False
            trial_id, key, spec = claimed
            with heartbeat(storage, trial_id):
                record = work(key, spec)
        except BaseException as exc:  # interrupted or broken: give the unit back so another worker does it
            if claimed is not None:
                reason = INTERRUPTED if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
                with deferred_interrupts():
                    storage.set_trial_user_attr(claimed[0], "fail_reason", reason)
                    storage.set_trial_state_values(claimed[0], state=TrialState.FAIL)
                    requeue(self.study, storage.get_trial(claimed[0]))
            raise
        value = record.get("val_iou") if isinstance(record, dict) else None
        with deferred_interrupts():
            storage.set_trial_user_attr(trial_id, RECORD_ATTR, record)
            storage.set_trial_state_values(
                trial_id, state=TrialState.COMPLETE, values=[float(value) if value is not None else 0.0]
            )
        self.ran += 1
        return True

    def run(
        self,
        keys,
        work: Callable[[str, dict], dict],
        *,
        wait: bool = True,
        on_done: Callable[[], None] | None = None,
    ) -> dict[str, dict]:
        """Do the waiting units among ``keys`` with ``work(key, spec) -> record``; return the stored records.

        With ``wait``, then wait for the units other workers are running (re-queueing those of dead workers,
        and doing them) until every key has a record. Without it, return what is stored so far.
        """
        keys = set(keys)
        while True:
            if self._claim_and_run(keys, work):
                if on_done is not None:
                    on_done()
                continue
            done = self.records(keys)
            if not wait or set(done) >= keys:
                return done
            with self._lock():
                reclaim(self.study)
            if self._claim_possible(keys):
                continue
            time.sleep(self.poll_s)

    def _claim_possible(self, keys) -> bool:
        from optuna.trial import TrialState

        return any(t.user_attrs.get(TASK_ATTR) in keys for t in self._trials((TrialState.WAITING,)))
