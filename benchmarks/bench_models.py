"""What one trial costs with each ``--model`` preset, next to the compact U-Net, on examples/buildings.

For each preset (compact, monai-unet, monai-segresnet; the MONAI ones only when MONAI is installed), one
training run of plain CE at 128 px, batch 8, on ``--threads`` CPU threads (1 by default: steady on a shared
machine), validation included, exactly as a study runs it (``train_trial``). Prints training images
per second, seconds per trial at the default budget (8 epochs of 20 steps), the parameter count, and each
preset's throughput as a share of the compact U-Net's, so a user knows what a study with that model costs.
With ``--repeat N`` the presets run in N interleaved rounds (compact, unet, segresnet, compact, ...) and the
median is shown, so a machine whose load changes during the run biases every model alike.

Usage: ``python -m benchmarks models [--quick] [--threads N] [--steps N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "buildings"
DEFAULT_TRIAL_STEPS = 8 * 20  # tune's CPU default: 8 epochs of at least 20 steps
# An untimed run of each model first: thread-pool and allocator warm-up would be charged to the first model.
WARMUP_STEPS = 4


def _data(size: int, cache_dir: Path):
    from lossadvisor.io import read_mask
    from lossadvisor.tune import build_train_data, pair_files

    pairs = pair_files(EXAMPLE / "images", EXAMPLE / "masks").pairs
    return build_train_data(
        pairs, read_mask=lambda p: read_mask(p).labels, cache_dir=cache_dir, fingerprint="bench", size=size
    )


def one_trial(preset: str, data, *, steps: int, threads: int) -> tuple[float, float, int]:
    """(training images/s, seconds of the run, parameters) of one plain-CE run of ``preset``."""
    from lossadvisor.losses import build_loss
    from lossadvisor.tune import TrialConfig, resolve_device, train_trial
    from lossadvisor.tune.training._models import check_model, resolve_model

    spec = resolve_model(preset)
    device = resolve_device("cpu", threads=threads)
    info = check_model(spec, in_channels=3, out_channels=1, side=data.side, device=device.name)
    epochs = max(1, steps // 20)
    config = TrialConfig("ce", {}, 1e-3, epochs=epochs, steps_per_epoch=max(1, steps // epochs))
    out = train_trial(
        config,
        data,
        num_classes=2,
        loss_factory=lambda name, params: build_loss(name, **params),
        device=device,
        model_factory=spec.factory,
    )
    if out.failed:
        raise RuntimeError(f"{preset}: {out.fail_reason}")
    return out.images_seen / out.duration_s, out.duration_s, info.parameters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks models", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 px and 20 steps: checks that it runs")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps per run (default 160)")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds; the median is shown")
    args, _ = parser.parse_known_args(argv)
    import os

    from lossadvisor.tune.training._models import PRESETS

    size = 64 if args.quick else 128
    steps = args.steps or (20 if args.quick else DEFAULT_TRIAL_STEPS)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, 1-min load average {load:.2f} at start")
    print(f"one trial: plain CE, {size} px, batch 8, {steps} steps + validation, {args.threads} thread(s)")
    has_monai = importlib.util.find_spec("monai") is not None
    workdir = Path(tempfile.mkdtemp(prefix="bench_models_"))
    rows = []
    try:
        data = _data(size, workdir / "cache")
        presets = [p for p in PRESETS if has_monai or not p.startswith("monai")]
        for preset in PRESETS:
            if preset not in presets:
                print(f"{preset}: skipped (MONAI not installed: pip install 'lossadvisor[monai]')")
            else:  # first-call costs (thread pools, allocator) are not charged to the first model timed
                one_trial(preset, data, steps=WARMUP_STEPS, threads=args.threads)
        runs: dict[str, list[tuple[float, float, int]]] = {p: [] for p in presets}
        for _ in range(max(1, args.repeat)):
            for preset in presets:
                runs[preset].append(one_trial(preset, data, steps=steps, threads=args.threads))
        for preset in presets:
            ips = float(np.median([r[0] for r in runs[preset]]))
            seconds = float(np.median([r[1] for r in runs[preset]]))
            rows.append((preset, runs[preset][0][2], ips, seconds * DEFAULT_TRIAL_STEPS / steps))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"1-min load average {load_end:.2f} at the end; median of {max(1, args.repeat)} interleaved run(s)")
    reference = rows[0][2]
    header = (
        f"{'model':<18} {'parameters':>11} {'images/s':>9} {'s/trial (160 steps)':>20} {'vs compact':>11}"
    )
    print("\n" + header)
    for preset, params, ips, per_trial in rows:
        print(f"{preset:<18} {params:>11,} {ips:>9.1f} {per_trial:>20.1f} {ips / reference:>10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
