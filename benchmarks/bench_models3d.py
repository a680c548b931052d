"""3-D trial throughput: the compact 3-D U-Net against MONAI's 3-D UNet, in the same run, at 2 threads.

One training run each of plain CE exactly as a 3-D study runs it (``train_trial`` on volumes: patches of
``32 x 48 x 32`` voxels, the automatic patch of the hippocampus example, 2 patches per batch, every third
centred on foreground, then sliding-window validation of the held-out volumes), on ``--threads`` CPU threads
(2 by default, the machine the example is sized for). The volumes are synthetic, shaped like the MSD
hippocampus cases (36 x 50 x 36 voxels at 1 mm, one channel, two lesion classes): throughput does not depend
on what the voxels hold. Prints training voxels per second (patch voxels seen / wall time of the whole run,
validation included), seconds per run, parameters, and MONAI's throughput as a share of the compact
network's. The two models run in ``--repeat`` interleaved rounds (compact, monai, compact, ...), median
shown, so a change of load on a shared machine hits both alike.

Usage: ``python -m benchmarks models3d [--quick] [--threads N] [--steps N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys

import numpy as np

SHAPE = (36, 50, 36)
PATCH = (32, 48, 32)
CASES = 10  # 8 training, 2 validation volumes
DEFAULT_STEPS = 60
WARMUP_STEPS = 2


def _data(quick: bool):
    from lossadvisor.tune.data._volumes import assemble_volumes

    rng = np.random.default_rng(0)
    shape = (24, 34, 24) if quick else SHAPE
    images, labels = [], []
    for _ in range(CASES):
        label = np.zeros(shape, np.int16)
        z, y, x = (s // 2 for s in shape)
        label[z - 4 : z + 4, y - 8 : y, x - 3 : x + 3] = 1
        label[z - 4 : z + 4, y : y + 8, x - 3 : x + 3] = 2
        images.append(rng.normal(size=(*shape, 1)).astype(np.float32) + label[..., None])
        labels.append(label)
    patch = (32, 32, 32) if quick else PATCH
    return assemble_volumes(
        images, labels, [(1.0, 1.0, 1.0)] * CASES, [f"case{i}" for i in range(CASES)],
        train_idx=list(range(CASES - 2)), val_idx=[CASES - 2, CASES - 1], patch=patch, skipped=[],
    )  # fmt: skip


def one_trial(preset: str, data, *, steps: int, threads: int) -> tuple[float, float, int]:
    """(training voxels/s, seconds of the run, parameters) of one plain-CE 3-D run of ``preset``."""
    from lossadvisor.losses import build_loss
    from lossadvisor.tune.training import (
        TrialConfig,
        check_model,
        for_volumes,
        resolve_device,
        resolve_model,
        train_trial,
    )

    spec = for_volumes(resolve_model(preset))
    device = resolve_device("cpu", threads=threads)
    info = check_model(
        spec, in_channels=1, out_channels=3, side=data.side, device=device.name, patch=data.patch
    )
    config = TrialConfig("ce", {}, 1e-3, epochs=1, steps_per_epoch=steps, batch_size=2)
    out = train_trial(
        config, data, num_classes=3, loss_factory=lambda name, params: build_loss(name, **params),
        device=device, model_factory=spec.factory,
    )  # fmt: skip
    if out.failed:
        raise RuntimeError(f"{preset}: {out.fail_reason}")
    voxels = out.images_seen * int(np.prod(data.patch))
    return voxels / out.duration_s, out.duration_s, info.parameters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks models3d", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="32^3 patches and 6 steps: checks that it runs")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument(
        "--steps", type=int, default=None, help=f"optimiser steps per run (default {DEFAULT_STEPS})"
    )
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the median is shown")
    args, _ = parser.parse_known_args(argv)
    if importlib.util.find_spec("monai") is None:
        print("MONAI is not installed (pip install 'lossadvisor[monai]'): nothing to compare against.")
        return 1
    steps = args.steps or (6 if args.quick else DEFAULT_STEPS)
    repeat = 1 if args.quick else max(1, args.repeat)
    data = _data(args.quick)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, 1-min load average {load:.2f} at start")
    print(
        f"one run: plain CE, patches {'x'.join(map(str, data.patch))}, batch 2, {steps} steps + "
        f"sliding-window validation of 2 volumes, {args.threads} thread(s), median of {repeat} interleaved "
        "round(s)"
    )
    presets = ["compact", "monai-unet"]
    for preset in presets:  # thread pools and allocator warmed up before anything is timed
        one_trial(preset, data, steps=WARMUP_STEPS, threads=args.threads)
    runs: dict[str, list[tuple[float, float, int]]] = {p: [] for p in presets}
    for _ in range(repeat):
        for preset in presets:
            runs[preset].append(one_trial(preset, data, steps=steps, threads=args.threads))
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"1-min load average {load_end:.2f} at the end")
    print(f"\n{'model':<12} {'parameters':>11} {'voxels/s':>11} {'s/run':>7} {'vs compact':>11}")
    reference = statistics.median(r[0] for r in runs["compact"])
    for preset in presets:
        vps = statistics.median(r[0] for r in runs[preset])
        seconds = statistics.median(r[1] for r in runs[preset])
        params = runs[preset][0][2]
        print(f"{preset:<12} {params:>11,} {vps:>11,.0f} {seconds:>7.1f} {vps / reference:>10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
