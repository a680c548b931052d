"""Several workers on one study: who they are, proof they are alive, and what happens when one dies.

- Each process that joins a study gets a worker index (a counter stored in the study, taken under the
  study lock), and its sampler a seed derived from ``--seed`` and that index, so two workers never draw the
  same sequence of configurations; TPE's constant liar also treats other workers' running trials as taken.
- A claimed trial carries the worker's host and PID and, on a database storage, Optuna's heartbeat, beaten
  by a thread while the trial trains. A trial whose heartbeat stops for ``GRACE_HEARTBEATS`` beats (the
  machine died, the process was SIGKILLed) is failed by the next worker that looks, and put back in the queue
  with the same parameters (:func:`requeue`), so a live worker re-runs it and it no longer uses the budget.
  Journal-file storage has no heartbeat; it is used on one machine, where a dead PID says the same.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lossadvisor.tune.study._lock import pid_alive
from lossadvisor.tune.study._study import STALE_REASON

logger = logging.getLogger(__name__)

WORKER_ATTR = "worker"  # user attribute of a claimed trial: {"host", "pid", "start", "index"}
WORKERS_ATTR = "workers"  # study user attribute: how many processes have joined
RETRY_ATTR = "retry_of"  # user attribute of a re-queued trial: the number of the trial it replaces
# what a re-run keeps of the failed trial's user attributes: the default trial's loss, a task unit, and a
# confirmation unit (its key, finalist, fold, seed and configuration)
REQUEUED_ATTRS = ("default_of", "task", "spec", "unit", "entry", "fold", "seed", "loss", "lr", "params")
SEED_STRIDE = 7919  # a prime: worker k samples from seed + k * SEED_STRIDE


def _process_start(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot (tells a reused PID from the original)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass(frozen=True)
class Worker:
    """This process, as the other workers of the study see it."""

    index: int
    host: str
    pid: int
    start: str | None

    @property
    def tag(self) -> dict:
        return {"host": self.host, "pid": self.pid, "start": self.start, "index": self.index}

    def sampler_seed(self, seed: int) -> int:
        """The first worker keeps ``seed`` (a single process samples as before); the others move away."""
        return seed + self.index * SEED_STRIDE


def join(study, lock: Callable[[], contextlib.AbstractContextManager]) -> Worker:
    """Register this process with the study and return its :class:`Worker` (index 0 for the first)."""
    with lock():
        index = int(study.user_attrs.get(WORKERS_ATTR, 0))
        study.set_user_attr(WORKERS_ATTR, index + 1)
    pid = os.getpid()
    return Worker(index=index, host=socket.gethostname(), pid=pid, start=_process_start(pid))


def requeue(study, trial) -> None:
    """Put a failed trial back in the queue with the same parameters (and the same task, for tasks).

    The parameters are the trial's fixed ones (an enqueued trial's, e.g. the default CE trial with its
    learning rate) completed by what it had drawn before it died: ``trial.params`` alone holds only what was
    suggested before the kill, so a trial killed early would come back with other parameters under the same
    tag.
    Used as RDBStorage's stale-trial callback, so it runs once, in the worker that failed the trial.
    """
    keep = {k: v for k, v in trial.user_attrs.items() if k in REQUEUED_ATTRS}
    fixed = trial.system_attrs.get("fixed_params") or {}
    study.enqueue_trial({**trial.params, **fixed}, user_attrs={**keep, RETRY_ATTR: trial.number})
    logger.warning(
        "Trial %d of %s was left running by a worker that stopped; it is queued again.",
        trial.number,
        study.study_name,
    )


def _alive(worker_tag: dict) -> bool:
    if not pid_alive(int(worker_tag.get("pid", -1))):
        return False
    start = worker_tag.get("start")
    return start is None or _process_start(int(worker_tag["pid"])) in (None, start)


def fail_dead_local(study) -> int:
    """Fail (and re-queue) RUNNING trials whose worker was a process on this machine that no longer runs."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    host, me = socket.gethostname(), os.getpid()
    storage = study._storage
    failed = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        tag = t.user_attrs.get(WORKER_ATTR)
        if not isinstance(tag, dict) or tag.get("host") != host or tag.get("pid") == me or _alive(tag):
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, "fail_reason", STALE_REASON)
            if not storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue
        requeue(study, t)
        failed += 1
    return failed


def reclaim(study) -> None:
    """Fail and re-queue dead workers' trials: by heartbeat (database storages) and by PID (this host)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    fail_dead_local(study)


@contextlib.contextmanager
def heartbeat(storage, trial_id: int) -> Iterator[None]:
    """Beat the trial's heartbeat from a thread while the block runs (no-op when the storage has none).

    Torch releases the GIL while it computes, so the thread keeps beating during training.
    """
    interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                storage.record_heartbeat(trial_id)
            except Exception as exc:  # noqa: BLE001 - a blip must not kill training; the next beat retries
                logger.debug("Heartbeat of trial %d failed: %s", trial_id, exc)
            if stop.wait(interval):
                return

    storage.record_heartbeat(trial_id)
    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def claim_waiting(study, worker: Worker, accept: Callable[[object], bool] | None = None):
    """Take a WAITING trial of ``study`` (the first that ``accept`` admits) for ``worker`` alone.

    The storage switches a trial from WAITING to RUNNING for one caller only (Optuna's own way of handing an
    enqueued trial to exactly one worker), so two workers never get the same one. The work queues of the
    tuner (the task queue, the confirmation's units) all claim through here.

    Returns:
        The claimed trial's ``FrozenTrial`` as it was listed (state WAITING), tagged with the worker in the
        storage; ``None`` when nothing admitted waits.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = study._storage
    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if accept is not None and not accept(t):
            continue
        try:
            if not storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):
                continue
        except UpdateFinishedTrialError:
            continue
        storage.set_trial_user_attr(t._trial_id, WORKER_ATTR, worker.tag)
        return t
    return None


def ask(study, worker: Worker):
    """``study.ask()`` (quiet about heartbeats outside ``optimize``), the trial tagged with its worker."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
        trial = study.ask()
    trial.set_user_attr(WORKER_ATTR, worker.tag)
    return trial
