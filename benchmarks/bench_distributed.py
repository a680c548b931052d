"""Several workers on one PostgreSQL study: throughput, coordination cost, and duplicated work.

On the bundled example data (examples/buildings), with 1, 2 and 3 local ``lossadvisor tune`` processes
(``--threads 1`` each) on a fresh PostgreSQL schema, it measures:

- search trials per minute (from the first trial's start to the last one's end, read from the study) and
  confirmation runs per minute (same, over the units of ``<study>:confirm``);
- duplicated trainings: the runs the workers report in run.json minus the runs the study needed (search
  trials, diagnostic runs and confirmation runs). Target: 0;
- coordination overhead per trial with training replaced by nothing: claiming a trial under the study lock
  (stale check, budget count, ask), the worker attributes and tell, on PostgreSQL, against a plain ask/tell on
  the default SQLite storage (the floor a single process pays).

Needs a PostgreSQL server: ``--postgres URL`` or LOSSADVISOR_TEST_POSTGRES_URL (as ``.ci/run`` sets).
Throughput scales with free cores: on a machine shared with other jobs, more workers than free cores only
share them, so the figures there are noisy and say little about several machines.

Usage: ``python -m benchmarks distributed [--quick] [--postgres URL] [--workers 1,2,3]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "buildings"
OVERHEAD_TRIALS = 30


@contextmanager
def fresh_schema(url: str):
    """A URL whose tables go to a new, empty schema (dropped afterwards)."""
    import sqlalchemy

    from lossadvisor.tune.study._urls import driver_url

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(driver_url(url), poolclass=sqlalchemy.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _span_minutes(trials) -> float:
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    if not starts or not ends:
        return float("nan")
    return max((max(ends) - min(starts)).total_seconds(), 1e-9) / 60


def run_workers(url: str, n_workers: int, settings: list[str], n_trials: int, workdir: Path) -> dict:
    """Start ``n_workers`` tune processes on one study at once; return the measured figures."""
    import optuna
    from optuna.trial import TrialState

    from lossadvisor._run_records import RunSummary
    from lossadvisor.tune.study._storage import open_storage

    name = f"bench-{n_workers}w"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    outs = [workdir / f"{n_workers}w-{i}" for i in range(n_workers)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lossadvisor",
                "tune",
                "--images",
                str(EXAMPLE / "images"),
                "--masks",
                str(EXAMPLE / "masks"),
                "--out",
                str(out),
                "--storage",
                url,
                "--study",
                name,
                "--n-trials",
                str(n_trials),
                "--threads",
                "1",
                "--no-report",
                "--quiet",
                *settings,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for out in outs
    ]
    errors = [p.communicate()[1] for p in procs]
    wall = time.perf_counter() - start
    failed = [e for p, e in zip(procs, errors, strict=True) if p.returncode != 0]
    if failed:
        raise RuntimeError(f"a worker failed: {failed[0][-2000:]}")
    storage = open_storage(url)
    study = optuna.load_study(study_name=name, storage=storage)
    tasks = optuna.load_study(study_name=f"{name}:tasks", storage=storage)
    confirm = optuna.load_study(study_name=f"{name}:confirm", storage=storage)
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
    units = [t for t in tasks.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    diagnostics = [t for t in units if t.user_attrs["task"].startswith("diagnostic:")]
    confirmed = [t for t in confirm.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    needed = len(trials) + len(diagnostics) + len(confirmed)
    ran = sum(RunSummary.load(out / "run.json").timings.runs for out in outs)
    return {
        "workers": n_workers,
        "wall_s": wall,
        "trials": len(trials),
        "trials_per_min": len(trials) / _span_minutes(trials),
        "confirm_runs": len(confirmed),
        "confirm_per_min": len(confirmed) / _span_minutes(confirmed) if confirmed else 0.0,
        "duplicated": ran - needed,
    }


def coordination_overhead(url: str, workdir: Path) -> tuple[float, float]:
    """Seconds per trial: (SQLite ask/tell, PostgreSQL worker claim/tell), training replaced by nothing."""
    import optuna

    from lossadvisor.tune.search._space import LR_PARAM
    from lossadvisor.tune.study._session import Session

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dist = optuna.distributions.FloatDistribution(0.0, 1.0)

    def one(study, trial) -> None:
        trial.suggest_float(LR_PARAM, 0.0, 1.0)
        trial.set_user_attr("lr", 1e-3)
        for epoch in range(4):
            trial.report(0.5, epoch)
            trial.should_prune()
        study.tell(trial, 0.5)

    sqlite = optuna.create_study(storage=f"sqlite:///{workdir / 'overhead.db'}", direction="maximize")
    start = time.perf_counter()
    for _ in range(OVERHEAD_TRIALS):
        one(sqlite, sqlite.ask({LR_PARAM: dist}))
    sqlite_s = (time.perf_counter() - start) / OVERHEAD_TRIALS

    session = Session.open(
        url,
        "overhead",
        fingerprint="bench",
        objective_settings={},
        definition=None,
        storage_label="bench",
        heartbeat_s=15,
        own_sqlite=False,
    )
    start = time.perf_counter()
    for _ in range(OVERHEAD_TRIALS):
        trial = session.claim(OVERHEAD_TRIALS)
        with session.beat(trial._trial_id):
            one(session.study, trial)
    postgres_s = (time.perf_counter() - start) / OVERHEAD_TRIALS
    return sqlite_s, postgres_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks distributed", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer trials at 32 px, 1 and 2 workers")
    parser.add_argument("--postgres", default=os.environ.get("LOSSADVISOR_TEST_POSTGRES_URL"), metavar="URL")
    parser.add_argument("--workers", default="1,2,3", help="worker counts to compare (default 1,2,3)")
    args, _ = parser.parse_known_args(argv)
    if not args.postgres:
        print("skipped: no PostgreSQL server (pass --postgres URL or set LOSSADVISOR_TEST_POSTGRES_URL)")
        return 0
    from lossadvisor._redact import redact

    counts = [1, 2] if args.quick else [int(x) for x in args.workers.split(",")]
    if args.quick:
        settings = ["--size", "32", "--epochs", "1", "--steps-per-epoch", "4", "--seeds", "1", "--folds", "2"]
        n_trials = 4
    else:
        settings = ["--size", "64", "--epochs", "2", "--steps-per-epoch", "8", "--seeds", "1", "--folds", "2"]
        n_trials = 8
    print(
        f"PostgreSQL: {redact(args.postgres)}; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )
    print(
        f"each worker: lossadvisor tune {' '.join(settings)} --n-trials {n_trials} --threads 1 "
        "(examples/buildings)"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        for n in counts:
            with fresh_schema(args.postgres) as url:
                rows.append(run_workers(url, n, settings, n_trials, Path(tmp)))
        with fresh_schema(args.postgres) as url:
            sqlite_s, postgres_s = coordination_overhead(url, Path(tmp))
    base = rows[0]
    print(f"\n{'workers':>7} {'wall s':>7} {'trials':>6} {'trials/min':>10} {'x1':>5} {'confirm':>7} "
          f"{'confirm/min':>11} {'x1':>5} {'duplicated':>10}")  # fmt: skip
    for r in rows:
        print(
            f"{r['workers']:>7} {r['wall_s']:>7.1f} {r['trials']:>6} {r['trials_per_min']:>10.2f} "
            f"{r['trials_per_min'] / base['trials_per_min']:>5.2f} {r['confirm_runs']:>7} "
            f"{r['confirm_per_min']:>11.2f} "
            f"{(r['confirm_per_min'] / base['confirm_per_min']) if base['confirm_per_min'] else 0:>5.2f} "
            f"{r['duplicated']:>10}"
        )
    print(
        f"\ncoordination per trial (no training, {OVERHEAD_TRIALS} trials): "
        f"SQLite ask/tell {sqlite_s * 1000:.1f} ms, "
        f"PostgreSQL worker claim/tell {postgres_s * 1000:.1f} ms ({postgres_s / sqlite_s:.1f}x)"
    )
    print("duplicated trainings (target 0):", sum(r["duplicated"] for r in rows))
    return 0 if all(r["duplicated"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
