"""Every loss against the fastest equivalent a user could pick instead, side by side in one run.

For each registered loss (default options) and each input ``(8, C, 256, 256)`` with C = 1 (sigmoid), C = 2 and
C = 5 (softmax), without and with ``ignore_index`` (about 10 % of the pixels at 255), one run times forward +
backward from the logits of lossadvisor's loss and of its reference (``benchmarks/_loss_references.py``:
MONAI's equivalent, plain torch, or a pure-torch port of Berman et al.'s Lovász code). The two are timed
alternately (A B A B ...) after warm-up calls, so load on a shared machine hits both alike; each time is the
median of ``--repeat`` runs in process CPU time, the ratio lossadvisor's median over the reference's, on
``--threads`` CPU threads (1 by default). The same table is then repeated on volumes ``(2, C, 64, 64, 64)``
(as many voxels as the images' pixels; ``--dims 2`` or ``--dims 3`` runs one table only), where the U-Net
share is of one step of the compact 3-D U-Net. Targets: lossadvisor within 1.2x of its reference, Lovász
within 1.5x, in 2-D and 3-D alike. Each time is also given as a share of one training step of the tuner's
compact U-Net on the same batch (``--no-unet`` skips it). With CUDA present the table is repeated on the GPU
(wall time). On Linux the process keeps freed buffers (:func:`steady_allocator`), so page faults do not
decide the ratios.

Usage: ``python -m benchmarks losses [--quick] [--repeat N] [--threads N] [--loss NAME] [--classes C]
[--dims 2|3] [--no-unet] [--device cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

from benchmarks._loss_references import Case, make_case, reference

BATCH = 8
FULL_SIZE = 256
QUICK_SIZE = 64
# volumes: batch and side (full, quick); full has as many voxels as the images' pixels (2 x 64^3 = 8 x 256^2)
VOLUME_BATCH = 2
VOLUME_SIZES = (64, 32)  # sides divisible by 16 for the compact 3-D U-Net's share
CLASS_COUNTS = (1, 2, 5)
TARGET_RATIO = 1.2
TARGET_RATIO_LOVASZ = 1.5
TARGETS = {"lovasz": TARGET_RATIO_LOVASZ}
WARMUP = 5  # first calls allocate and fault in their buffers


def steady_allocator() -> str:
    """Keep freed buffers in the process (glibc ``mallopt``), so no call pays for faulting fresh pages in.

    By default glibc returns large freed blocks to the system and every new multi-megabyte tensor is paged in
    again; how often depends on what ran before in the process, which made the same pair differ by 5x from
    one run to the next. With the thresholds raised, both sides are timed in the steady state a training
    loop reaches. Returns a line for the header.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if sys.platform != "linux" or not name:
        return "system allocator as is"
    libc = ctypes.CDLL(name)
    m_trim_threshold, m_mmap_threshold = -1, -3
    limit = 32 * 1024 * 1024  # glibc's largest mmap threshold on 64-bit; the largest tensor here is 10 MiB
    if libc.mallopt(m_mmap_threshold, limit) and libc.mallopt(m_trim_threshold, 2 * limit):
        return "glibc malloc keeps freed blocks (mmap/trim thresholds 32/64 MiB)"
    return "system allocator as is (mallopt refused)"


def interleaved_medians(
    a: Callable[[], object],
    b: Callable[[], object],
    repeat: int,
    sync: Callable[[], object],
    clock: Callable[[], float],
) -> tuple[float, float, float]:
    """Median times of ``a`` and ``b`` and their ratio, timed alternately.

    ``WARMUP`` runs of each first; then ``repeat`` pairs, each ``a`` then ``b``, so a change of load on a
    shared machine touches both medians alike.
    ``clock`` is the process's CPU time on the CPU (time spent waiting for a core on a loaded machine is not
    the loss's cost) and wall time, after a device synchronisation, on a GPU.
    """
    for _ in range(WARMUP):
        a()
        b()
    times_a, times_b = [], []
    for _ in range(repeat):
        for fn, times in ((a, times_a), (b, times_b)):
            sync()
            start = clock()
            fn()
            sync()
            times.append(clock() - start)
    median_a, median_b = statistics.median(times_a), statistics.median(times_b)
    return median_a, median_b, median_a / median_b


def unet_step_seconds(classes: int, size: int, repeat: int, device: str, dims: int = 2) -> float:
    """One optimiser step of the compact U-Net (2-D, or 3-D for volumes) on a random batch (CE, AdamW)."""
    import torch

    from lossadvisor.losses import build_loss
    from lossadvisor.tune import CompactUNet, CompactUNet3d

    g = torch.Generator().manual_seed(0)
    batch = BATCH if dims == 2 else VOLUME_BATCH
    in_channels = 3 if dims == 2 else 1
    spatial = (size,) * dims
    images = torch.randn(batch, in_channels, *spatial, generator=g).to(device)
    targets = torch.randint(0, max(classes, 2), (batch, *spatial), generator=g).to(device)
    model = (CompactUNet if dims == 2 else CompactUNet3d)(in_channels, classes).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = build_loss("ce")

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        loss_fn(model(images), targets).backward()
        optimiser.step()

    clock = time.perf_counter if device == "cuda" else time.process_time
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    step()
    times = []
    for _ in range(repeat):
        sync()
        start = clock()
        step()
        sync()
        times.append(clock() - start)
    return statistics.median(times)


def loss_params(name: str, channels: int, ignore_index: int | None) -> dict[str, object]:
    """The options the benchmark builds ``name`` with: defaults, plus the weights weighted CE needs."""
    params: dict[str, object] = {} if ignore_index is None else {"ignore_index": ignore_index}
    if name == "weighted_ce":
        weights = [0.5] + [2.0] * (channels - 1)
        params.update({"pos_weight": 4.0} if channels == 1 else {"class_weights": weights})
    return params


def time_pair(name: str, case: Case, repeat: int, device: str) -> tuple[str, float, float, float]:
    """``(reference label, lossadvisor s, reference s, ratio)`` for forward + backward on ``case``."""
    import torch

    from lossadvisor.losses import build_loss

    ours = build_loss(name, **loss_params(name, case.channels, case.ignore_index))
    label, ref = reference(name, case)
    x, t = case.logits, case.targets

    def run_ours() -> None:
        x.grad = None
        ours(x, t).backward()

    def run_ref() -> None:
        x.grad = None
        ref(x).backward()

    if device == "cuda":
        return (
            label,
            *interleaved_medians(run_ours, run_ref, repeat, torch.cuda.synchronize, time.perf_counter),
        )
    return (label, *interleaved_medians(run_ours, run_ref, repeat, lambda: None, time.process_time))


def run_table(args: argparse.Namespace, device: str, dims: int = 2) -> list[str]:
    """Print the ratio table on ``device`` for images (``dims`` 2) or volumes (3); return the misses."""
    import torch

    from lossadvisor.losses import list_losses

    if dims == 2:
        batch, size = BATCH, QUICK_SIZE if args.quick else FULL_SIZE
    else:
        batch, size = VOLUME_BATCH, VOLUME_SIZES[1] if args.quick else VOLUME_SIZES[0]
    repeat = args.repeat or (3 if args.quick else 15)
    names = [args.loss] if args.loss else list_losses()
    classes = [args.classes] if args.classes else list(CLASS_COUNTS)
    clock = "wall time" if device == "cuda" else "process CPU time"
    threads = torch.get_num_threads()
    print(f"\n[{device}, {dims}-D] batch {batch} x {size}^{dims}, {threads} thread(s), forward + backward, "
          f"{clock}, median of {repeat} interleaved runs after {WARMUP} warm-ups")  # fmt: skip
    header = f"{'loss':<17}{'C':>2} {'ignore':<7}{'ours ms':>9}{'ref ms':>9}{'ratio':>7}{'target':>7}  "
    misses = []
    for channels in classes:
        step = unet_step_seconds(channels, size, max(3, repeat // 5), device, dims) if args.unet else None
        if step is not None:
            print(f"\nC={channels}: compact {dims}-D U-Net training step {step * 1e3:.1f} ms")
        print("\n" + header + ("share  " if step else "") + "reference")
        for name in names:
            for ignored in (False, True):
                case = make_case(batch, channels, size, ignored=ignored, device=device, dims=dims)
                label, ours_s, ref_s, ratio = time_pair(name, case, repeat, device)
                target = TARGETS.get(name, TARGET_RATIO)
                verdict = "ok " if ratio <= target else "MISS"
                if ratio > target:
                    misses.append(f"{dims}-D {name} C={channels}{' ignore' if ignored else ''} {ratio:.2f}x")
                share = f"{ours_s / step:>6.1%} " if step else ""
                print(
                    f"{name:<17}{channels:>2} {'255' if ignored else '-':<7}{ours_s * 1e3:>9.2f}"
                    f"{ref_s * 1e3:>9.2f}{ratio:>6.2f}x{target:>6.1f}x {verdict} {share}{label}"
                )
    return misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks losses", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZE} px tiles and 3 repeats: a check")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per measurement [default: 15]")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads [default: 1]")
    parser.add_argument("--loss", default=None, help="time one loss only (a registry name)")
    parser.add_argument("--classes", type=int, choices=CLASS_COUNTS, help="one channel count only")
    parser.add_argument(
        "--dims", type=int, choices=(2, 3), help="images (2) or volumes (3) only [default: both]"
    )
    parser.add_argument("--no-unet", dest="unet", action="store_false", help="skip the U-Net step shares")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="[default: cpu, then cuda if present]")
    args, _ = parser.parse_known_args(argv)
    import torch

    torch.set_num_threads(max(1, args.threads))
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: torch sees no CUDA device here (torch.cuda.is_available() is False).")
        return 1
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}; load average {load:.2f} on {os.cpu_count()} cores at start")
    print(steady_allocator())
    misses = []
    for device in devices:
        for dims in [args.dims] if args.dims else [2, 3]:
            misses += [f"[{device}] {m}" for m in run_table(args, device, dims)]
    print("\nall losses within target" if not misses else "\nover target: " + "; ".join(misses))
    if os.environ.get("CI"):
        print("(CI machine: figures are indicative only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
