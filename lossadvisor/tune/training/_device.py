"""Where a trial runs: the device, its autocast precision, CPU threads, and seeding.

Threads are chosen deliberately (measured on 2 cores): torch with 2 threads slowed 25-40x when
another process kept one core busy, while one thread per process stayed steady. So a single tuning process
takes every core only when the machine is otherwise idle; as soon as the 1-minute load average shows other
work, it takes only the cores left free (at least one). Tests and parallel workers pass ``threads=1``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np

from lossadvisor.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")
# Load-average units below which a core counts as free (the load of a nearly idle desktop).
IDLE_LOAD_PER_CORE = 0.25


@dataclass(frozen=True)
class DeviceChoice:
    """The resolved device and how to run on it."""

    name: str  # "cpu", "cuda", "cuda:1", "mps"
    autocast_dtype: str | None  # "bfloat16" on CUDA, None elsewhere (float32)
    threads: int  # torch intra-op threads (CPU work, including data preparation)


def choose_threads(*, cpu_count: int | None = None, load_average: float | None = None) -> int:
    """Torch threads for one tuning process: all cores when idle, otherwise the free ones (at least 1).

    Args:
        cpu_count: Cores usable by this process (default: the scheduler affinity).
        load_average: 1-minute load average (default: ``os.getloadavg()``; 0 where unavailable).

    Example:
        >>> choose_threads(cpu_count=2, load_average=0.1)
        2
        >>> choose_threads(cpu_count=2, load_average=1.2)
        1
    """
    if cpu_count is None:
        cpu_count = (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        )
    if load_average is None:
        try:
            load_average = os.getloadavg()[0]
        except OSError:
            load_average = 0.0
    if load_average <= IDLE_LOAD_PER_CORE * cpu_count:
        return max(1, cpu_count)
    return max(1, min(cpu_count, int(cpu_count - load_average)))


def resolve_device(device: str = "auto", *, threads: int | None = None) -> DeviceChoice:
    """Pick the device: CUDA (bfloat16 autocast), then Apple MPS, then CPU; ``device`` forces one.

    Args:
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        threads: Torch CPU threads; None chooses with :func:`choose_threads`.

    Raises:
        ConfigError: An unknown device name, or a device that is not available on this machine.
    """
    import torch

    base = device.split(":", 1)[0]
    if base not in DEVICES:
        raise ConfigError(f"The 'device' option must be one of {DEVICES} (or cuda:N); got {device!r}.")
    if threads is not None and threads < 1:
        raise ConfigError(f"The 'threads' option must be at least 1; got {threads}.")
    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if base == "auto":
        device = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
        base = device
    if base == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"--device {device} was asked for but CUDA is not available here; use --device cpu."
        )
    if base == "mps" and not has_mps:
        raise ConfigError("--device mps was asked for but Apple MPS is not available here; use --device cpu.")
    n_threads = threads if threads is not None else choose_threads()
    torch.set_num_threads(n_threads)
    dtype = "bfloat16" if base == "cuda" and torch.cuda.is_bf16_supported() else None
    return DeviceChoice(name=device, autocast_dtype=dtype, threads=n_threads)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a NumPy generator for the data order.

    On CPU the same seed gives the same trial bit for bit; CUDA kernels are not all deterministic.
    """
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
