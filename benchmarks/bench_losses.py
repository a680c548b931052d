"""What each loss costs inside a training step: its forward+backward time as a share of one U-Net step.

For a binary batch ``(8, 1, 256, 256)`` and a 5-class batch ``(8, 5, 256, 256)``, one run measures:

- one training step of the tuner's compact U-Net (``lossadvisor.tune.CompactUNet``, channels 16-32-64-128)
  on the same batch: forward, CE loss, backward and an AdamW update;
- for every registered loss (default parameters), forward + backward from the logits alone.

Each time is the median of ``--repeat`` runs after one warm-up, on ``--threads`` CPU threads (1 by default: on
a shared machine one thread per process keeps timings steady). Targets: at most 10 % of the step for every
loss but Lovász, which sorts every pixel's error (at most 30 %).
Usage: ``python -m benchmarks losses [--quick] [--repeat N] [--threads N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

BATCH = 8
FULL_SIZE = 256
QUICK_SIZE = 128
CLASS_COUNTS = (1, 5)
TARGET_SHARE = 0.10
TARGET_SHARE_LOVASZ = 0.30
SLOW_BY_DESIGN = {"lovasz": TARGET_SHARE_LOVASZ}


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def unet_step_seconds(classes: int, size: int, repeat: int) -> float:
    """One optimiser step of the compact U-Net on a random batch (CE loss, AdamW)."""
    import torch

    from lossadvisor.losses import build_loss
    from lossadvisor.tune import CompactUNet

    g = torch.Generator().manual_seed(0)
    images = torch.randn(BATCH, 3, size, size, generator=g)
    targets = torch.randint(0, max(classes, 2), (BATCH, size, size), generator=g)
    model = CompactUNet(3, classes)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = build_loss("ce")

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        loss_fn(model(images), targets).backward()
        optimiser.step()

    return median_seconds(step, repeat)


def loss_seconds(name: str, classes: int, size: int, repeat: int) -> float:
    """Forward + backward of one loss from logits of the batch's shape."""
    import torch

    from lossadvisor.losses import build_loss

    g = torch.Generator().manual_seed(1)
    logits = torch.randn(BATCH, classes, size, size, generator=g).requires_grad_(True)
    targets = torch.randint(0, max(classes, 2), (BATCH, size, size), generator=g)
    params = {"pos_weight": 4.0} if name == "weighted_ce" and classes == 1 else {}
    if name == "weighted_ce" and classes > 1:
        params = {"class_weights": [0.5] + [2.0] * (classes - 1)}
    loss_fn = build_loss(name, **params)

    def forward_backward() -> None:
        logits.grad = None
        loss_fn(logits, targets).backward()

    return median_seconds(forward_backward, repeat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks losses", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZE} px tiles and 2 repeats: a check")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per measurement [default: 5]")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads [default: 1]")
    args, _ = parser.parse_known_args(argv)
    import torch

    from lossadvisor.losses import list_losses

    torch.set_num_threads(max(1, args.threads))
    size = QUICK_SIZE if args.quick else FULL_SIZE
    repeat = args.repeat or (2 if args.quick else 5)
    threads = torch.get_num_threads()
    print(f"batch {BATCH} x {size}^2, {threads} thread(s), median of {repeat} after a warm-up")
    misses = []
    for classes in CLASS_COUNTS:
        step = unet_step_seconds(classes, size, repeat)
        print(f"\nlogits ({BATCH}, {classes}, {size}, {size}): U-Net training step {step * 1e3:.1f} ms")
        print(f"{'loss':<18}{'fwd+bwd ms':>11}{'share':>8}{'target':>8}  verdict")
        for name in list_losses():
            seconds = loss_seconds(name, classes, size, repeat)
            share, target = seconds / step, SLOW_BY_DESIGN.get(name, TARGET_SHARE)
            verdict = "ok" if share <= target else "MISS"
            if share > target:
                misses.append(f"{name} (C={classes}): {share:.1%}")
            print(f"{name:<18}{seconds * 1e3:>11.2f}{share:>8.1%}{target:>8.0%}  {verdict}")
    print("\nall losses within target" if not misses else "\nover target: " + "; ".join(misses))
    if os.environ.get("CI"):
        print("(CI machine: figures are indicative only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
