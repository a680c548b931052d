"""Several tune processes on one study: real processes on a real PostgreSQL server, a journal file, SQLite.

Each PostgreSQL test starts on an empty schema of its own (``search_path`` in the URL), so the workers race
to create Optuna's tables exactly as on a fresh database. Settings are tiny (32 px tiles, one epoch of two
steps, one torch thread per process).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from lossadvisor._run_records import RunSummary, TuneOutcome
from lossadvisor.errors import StudyMismatchError
from lossadvisor.tune import tune
from lossadvisor.tune.study._lock import RunFolderBusyError, RunFolderLock
from lossadvisor.tune.study._storage import open_storage
from lossadvisor.tune.study._study import counted_trials
from lossadvisor.tune.study._urls import driver_url
from lossadvisor.tune.study._workers import RETRY_ATTR, WORKER_ATTR, reclaim, requeue

TINY_ARGS = [
    "--size", "32", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4",
    "--seeds", "1", "--folds", "2", "--finalists", "2", "--threads", "1", "--no-report", "--quiet",
    "--confirm-budget", "12",  # the race's minimum: 2 finalists x 2 folds x 3 repetitions (5 paired runs)
]  # fmt: skip


def _password(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


@pytest.fixture
def empty_schema_url(postgres_url):
    """A PostgreSQL URL whose tables live in a new, empty schema (dropped afterwards)."""
    import sqlalchemy

    schema = f"la_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(driver_url(postgres_url), poolclass=sqlalchemy.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _start(data: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "lossadvisor", "tune", "--images", str(data / "images")]
    args += ["--masks", str(data / "masks"), "--out", str(out), *TINY_ARGS, *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    output, _ = proc.communicate(timeout=timeout)
    return proc.returncode, output


def _load(url: str, name: str):
    return optuna.load_study(study_name=name, storage=open_storage(url))


def _check_shared_study(url: str, name: str, outs: list[Path], n_trials: int) -> None:
    """The invariants of a finished shared study, whatever the number of workers."""
    study = _load(url, name)
    trials = study.get_trials(deepcopy=False)
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert counted_trials(study) == n_trials
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == n_trials  # no failures at these settings, so every counted trial finished
    params = [json.dumps(t.params, sort_keys=True) for t in finished]
    assert len(set(params)) == len(params), f"two workers trained the same configuration: {params}"
    tasks = _load(url, f"{name}:tasks").get_trials(deepcopy=False)
    done = Counter(t.user_attrs["task"] for t in tasks if t.state == TrialState.COMPLETE)
    assert done and all(n == 1 for n in done.values()), done  # every LR test and diagnostic run once
    assert {"lr_range_test:ce", "lr_range_test:dice"} <= set(done)
    diagnostics = [k for k in done if k.startswith("diagnostic:")]
    assert len(diagnostics) == 4  # CE and Dice at the finder's rate, 2 seeds each
    # every confirmation run (finalist, level, repetition, fold) exactly once: the shared race's minimum,
    # 3 repetitions x 2 folds (5 paired runs), then the budget of 12 runs is spent
    units = _load(url, f"{name}:confirm").get_trials(deepcopy=False)
    assert not [t for t in units if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    confirmed = Counter(t.user_attrs["unit"] for t in units if t.state == TrialState.COMPLETE)
    finalists = [f["entry"] for f in study.user_attrs["finalists"]]
    expected_units = {f"{e}/L0/rep{r}/fold{f}" for e in finalists for r in range(3) for f in range(2)}
    assert set(confirmed) == expected_units and all(n == 1 for n in confirmed.values()), confirmed
    # no training ran twice: the workers' runs add up to the search trials, the diagnostic runs and the
    # confirmation runs (LR range tests are not counted as runs)
    expected = len(finished) + len(diagnostics) + len(expected_units)
    runs = [RunSummary.load(out / "run.json").timings.runs for out in outs]
    assert sum(runs) == expected, (runs, expected)
    # every worker reached the same verdict and has the same overlays (predictions are shared)
    verdicts = [TuneOutcome.load(out / "result.json").verdict for out in outs]
    assert all(v == verdicts[0] for v in verdicts)
    keys = [sorted(np.load(out / "samples.npz").files) for out in outs]
    assert all(k == keys[0] for k in keys) and any(k.startswith("pred__") for k in keys[0])


def test_three_workers_on_an_empty_database_share_one_budget(tiny_dataset, tmp_path, empty_schema_url):
    name = f"workers-{uuid.uuid4().hex[:8]}"
    outs = [tmp_path / f"worker{i}" for i in range(3)]
    common = ("--storage", empty_schema_url, "--study", name, "--n-trials", "5", "--heartbeat", "2")
    procs = [_start(tiny_dataset, out, *common) for out in outs]  # started in the same moment
    finished = [_finish(p) for p in procs]
    for code, output in finished:
        assert code == 0, output
    _check_shared_study(empty_schema_url, name, outs, n_trials=5)
    # the report of the shared study, built from the storage alone, has every overlay and no password
    exported = tmp_path / "exported"
    report = subprocess.run(
        [sys.executable, "-m", "lossadvisor", "report", "--storage", empty_schema_url, "--study", name,
         "--out", str(exported)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert (exported / "report.html").is_file() and (exported / "trials.csv").is_file()
    assert sorted(np.load(exported / "samples.npz").files) == sorted(np.load(outs[0] / "samples.npz").files)
    password = _password(empty_schema_url)
    texts = [output for _, output in finished] + [report.stdout, report.stderr]
    for folder in (*outs, exported):
        texts += [p.read_text(errors="ignore") for p in folder.rglob("*") if p.suffix in (".json", ".csv",
                  ".html", ".lock")]  # fmt: skip
    assert all(password not in text for text in texts)


def test_sigkilled_worker_trial_is_failed_and_rerun(tiny_dataset, tmp_path, empty_schema_url):
    name = f"kill-{uuid.uuid4().hex[:8]}"
    slow = ("--epochs", "3", "--steps-per-epoch", "15")  # a few seconds per trial, time to kill one
    common = ("--storage", empty_schema_url, "--study", name, "--n-trials", "4", "--heartbeat", "1", *slow)
    victim = _start(tiny_dataset, tmp_path / "victim", *common)
    storage = open_storage(empty_schema_url)
    deadline = time.monotonic() + 240
    killed = None
    while killed is None and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.2)
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            continue
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.user_attrs.get(WORKER_ATTR, {}).get("pid") == victim.pid:
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                killed = t.number
    assert killed is not None, "the victim never ran a trial"
    survivor = _start(tiny_dataset, tmp_path / "survivor", *common)
    code, output = _finish(survivor)
    assert code == 0, output
    study = _load(empty_schema_url, name)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert trials[killed].state == TrialState.FAIL  # the dead worker's trial ended failed
    reruns = [t for t in trials.values() if t.user_attrs.get(RETRY_ATTR) == killed]
    assert len(reruns) == 1 and reruns[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    # re-run with the same configuration: what it had drawn, and its fixed parameters (a default trial killed
    # before it drew anything has only those; issue 20.9)
    same = {**trials[killed].system_attrs.get("fixed_params", {}), **trials[killed].params}
    assert same and reruns[0].params == same
    assert reruns[0].user_attrs[WORKER_ATTR]["pid"] == survivor.pid
    assert counted_trials(study) == 4  # the failed trial no longer counts; the budget was completed
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials.values()) == 4


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_heartbeat_fails_and_requeues_a_silent_trial(empty_schema_url):
    """A worker on another machine that stops beating: its trial is failed after the grace period."""
    name = f"beat-{uuid.uuid4().hex[:8]}"
    storage = open_storage(empty_schema_url, heartbeat_s=1, on_stale=requeue)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study.enqueue_trial({"x": 0.25}, user_attrs={"default_of": "ce"})
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr(WORKER_ATTR, {"host": "another-machine", "pid": 1, "start": None, "index": 1})
    storage.record_heartbeat(trial._trial_id)
    reclaim(study)
    assert study.trials[0].state == TrialState.RUNNING  # still inside the grace period (4 heartbeats)
    time.sleep(4.5)
    reclaim(study)
    reclaim(study)  # a second look must not queue it twice
    trials = study.trials
    assert trials[0].state == TrialState.FAIL and len(trials) == 2
    assert trials[1].state == TrialState.WAITING
    assert trials[1].user_attrs == {"default_of": "ce", RETRY_ATTR: 0}
    assert trials[1].system_attrs["fixed_params"] == {"x": 0.25}


def test_worker_on_other_data_is_refused(tmp_path, dataset_factory, empty_schema_url, tiny):
    name = f"other-{uuid.uuid4().hex[:8]}"
    first = dataset_factory(tmp_path / "a", n=10)
    other = dataset_factory(tmp_path / "b", n=10, seed=3)
    common = {"storage": empty_schema_url, "study_name": name, "n_trials": 1, "report": False, **tiny}
    tune(first / "images", first / "masks", out=tmp_path / "w1", **common)
    with pytest.raises(StudyMismatchError, match=f"Study '{name}' in .* was made from other data"):
        tune(other / "images", other / "masks", out=tmp_path / "w2", **common)
    assert not (tmp_path / "w2" / "trials.csv").exists()


def test_second_process_on_a_sqlite_run_folder_is_refused(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    first = _start(tiny_dataset, out, "--n-trials", "3", "--epochs", "2", "--steps-per-epoch", "10")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:
        lock = out / "tune.lock"
        if lock.is_file() and lock.read_text().strip():
            break
        time.sleep(0.1)
    second = _start(tiny_dataset, out, "--n-trials", "3")
    code, output = _finish(second, timeout=120)
    assert code == 1
    assert f"Error: The run folder {str(out)!r} is in use by process {first.pid} on host" in output
    code, output = _finish(first)
    assert code == 0, output
    study = optuna.load_study(study_name="lossadvisor", storage=f"sqlite:///{out / 'study.db'}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3  # the first run was untouched
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_run_folder_lock_names_the_holder_and_is_released(tmp_path):
    busy = pytest.raises(RunFolderBusyError, match=rf"in use by process {os.getpid()} on host")
    with RunFolderLock.acquire(tmp_path), busy:
        RunFolderLock.acquire(tmp_path)
    RunFolderLock.acquire(tmp_path).release()  # free again once released


def test_journal_storage_with_two_local_processes(tiny_dataset, tmp_path):
    name = "journal-study"
    url = f"journal:{tmp_path / 'study.journal'}"
    outs = [tmp_path / "w0", tmp_path / "w1"]
    procs = [_start(tiny_dataset, out, "--storage", url, "--study", name, "--n-trials", "4") for out in outs]
    for proc in procs:
        code, output = _finish(proc)
        assert code == 0, output
    _check_shared_study(url, name, outs, n_trials=4)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_dead_workers_confirmation_unit_is_queued_again_once(empty_schema_url):
    """A confirmation run whose worker stops beating goes back to the queue with its key, and only once."""
    from lossadvisor.tune.confirm._confirm import Finalist, enqueue_units
    from lossadvisor.tune.confirm._race import Unit
    from lossadvisor.tune.training import Configuration

    storage = open_storage(empty_schema_url, heartbeat_s=1, on_stale=requeue)
    cstudy = optuna.create_study(study_name=f"units-{uuid.uuid4().hex[:8]}:confirm", storage=storage)
    picks = [Finalist("ce-1", "ce", Configuration("ce", {}, 1e-3), 0.5, 0)]
    units = [Unit(0, 0, fold, "ce-1") for fold in range(2)]
    assert enqueue_units(cstudy, picks, units) == 2
    waiting = cstudy.get_trials(states=(TrialState.WAITING,))
    trial_id = waiting[0]._trial_id
    assert storage.set_trial_state_values(trial_id, state=TrialState.RUNNING)  # a worker took it...
    assert not storage.set_trial_state_values(trial_id, state=TrialState.RUNNING)  # ...and no other can
    storage.set_trial_user_attr(trial_id, WORKER_ATTR, {"host": "elsewhere", "pid": 1, "start": None})
    storage.record_heartbeat(trial_id)
    time.sleep(4.5)  # the worker died: no heartbeat for 4 intervals
    reclaim(cstudy)
    reclaim(cstudy)
    trials = cstudy.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING, TrialState.WAITING]
    again = trials[2].user_attrs
    assert again["unit"] == "ce-1/L0/rep0/fold0" and again[RETRY_ATTR] == 0 and again["fold"] == 0
    assert enqueue_units(cstudy, picks, units) == 0  # both units are queued exactly once
