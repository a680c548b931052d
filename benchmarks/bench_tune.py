"""What a tuning study spends its time on, on the bundled example data (examples/buildings, 31 tiles).

Measures, on ``--threads`` CPU threads (1 by default: steady on a shared machine):

- the trial loop's throughput (training images per second, validation included) of one run of the compact
  U-Net at 128 px, and the share of that run spent preparing batches (target: at most 10 %);
- Optuna's overhead per trial (ask, suggest, report and prune checks every epoch, user attributes, tell) on
  the default SQLite storage, with training replaced by nothing, as a share of one real trial;
- the wall time of the README's main job (``lossadvisor tune`` on examples/buildings with the defaults; target
  about 10 minutes on 2 cores). ``--quick`` skips it and runs a 3-trial study at 64 px instead.

Usage: ``python -m benchmarks tune [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "buildings"
TARGET_DATA_SHARE = 0.10
TARGET_MAIN_JOB_S = 600.0
OVERHEAD_TRIALS = 30


def _data(size: int, cache_dir: Path):
    from lossadvisor.io import read_mask
    from lossadvisor.tune import build_train_data, pair_files

    pairs = pair_files(EXAMPLE / "images", EXAMPLE / "masks").pairs
    return build_train_data(
        pairs, read_mask=lambda p: read_mask(p).labels, cache_dir=cache_dir, fingerprint="bench", size=size
    )


def trial_loop(size: int, epochs: int, threads: int, cache_dir: Path) -> tuple[float, float, float]:
    """(images/s, data share, seconds) of one training run with plain CE."""
    from lossadvisor.losses import build_loss
    from lossadvisor.tune import TrialConfig, resolve_device, train_trial

    data = _data(size, cache_dir)
    config = TrialConfig("ce", {}, 1e-3, epochs=epochs, steps_per_epoch=20)
    out = train_trial(
        config,
        data,
        num_classes=2,
        loss_factory=lambda name, params: build_loss(name, **params),
        device=resolve_device("cpu", threads=threads),
    )
    return out.images_seen / out.duration_s, out.data_s / out.duration_s, out.duration_s


def optuna_overhead(epochs: int, workdir: Path) -> float:
    """Seconds of Optuna bookkeeping per trial (SQLite), training replaced by nothing."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(f"sqlite:///{workdir / 'overhead.db'}")
    study = optuna.create_study(
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=epochs // 2),
    )
    start = time.perf_counter()
    for i in range(OVERHEAD_TRIALS):
        trial = study.ask()
        loss = trial.suggest_categorical("loss", ["ce", "weighted_ce", "dice", "dice_ce"])
        unit = trial.suggest_float("lr_unit", 0.0, 1.0)
        if loss == "dice_ce":
            trial.suggest_float("dice_ce.mix", 0.1, 0.9)
        trial.set_user_attr("lr", 1e-3 * (1 + unit))
        for epoch in range(1, epochs + 1):
            trial.report(0.1 * epoch + 0.01 * (i % 7), epoch)
            trial.should_prune()
        trial.set_user_attr("epochs", [{"epoch": e, "val_iou": 0.5} for e in range(epochs)])
        study.tell(trial, 0.5 + 0.01 * (i % 7))
    return (time.perf_counter() - start) / OVERHEAD_TRIALS


def main_job(workdir: Path, quick: bool, threads: int | None) -> float:
    """Wall seconds of the README main job (or a 3-trial study at 64 px with ``quick``)."""
    from lossadvisor.tune import tune

    options = {"size": 64, "epochs": 2, "n_trials": 3, "seeds": 1} if quick else {}
    start = time.perf_counter()
    tune(
        EXAMPLE / "images",
        EXAMPLE / "masks",
        out=workdir / "main_job",
        progress=False,
        threads=threads,
        report=not quick,
        **options,
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks tune", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; skip the full main job")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the trial loop")
    args, _ = parser.parse_known_args(argv)
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, 1-min load average {load:.2f} at start")
    workdir = Path(tempfile.mkdtemp(prefix="bench_tune_"))
    try:
        size, epochs = (64, 2) if args.quick else (128, 8)
        ips, share, seconds = trial_loop(size, epochs, args.threads, workdir / "cache")
        verdict = "ok" if share <= TARGET_DATA_SHARE else "ABOVE TARGET"
        print(
            f"trial loop ({size} px, batch 8, {epochs}x20 steps, {args.threads} thread(s)): "
            f"{ips:.1f} images/s, {seconds:.1f} s per trial"
        )
        print(
            f"data preparation share of trial time: {share:.1%} "
            f"(target <= {TARGET_DATA_SHARE:.0%}: {verdict})"
        )
        overhead = optuna_overhead(epochs, workdir)
        print(
            f"Optuna overhead per trial (SQLite, {epochs} reports): {overhead * 1000:.1f} ms "
            f"= {overhead / seconds:.2%} of a trial"
        )
        wall = main_job(workdir, args.quick, None if not args.quick else args.threads)
        what = "quick study (64 px, 3 trials, 1 seed)" if args.quick else "README main job (make example)"
        target = "" if args.quick else f" (target about {TARGET_MAIN_JOB_S / 60:.0f} min on 2 quiet cores)"
        print(f"{what}: {wall:.1f} s{target}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
