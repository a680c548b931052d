"""Estimate the memory of one training step before the first one, and refuse a size that cannot fit.

A forward/backward pass keeps, for the backward, the activations autograd saves; they grow with the tile area
and the batch, while the weights, their gradients and AdamW's two moments do not. The estimate runs the model
once on a small probe (one tile of ``probe`` px, on the CPU, whatever the training device), records the bytes
of every tensor autograd saves for the backward (through ``torch.autograd.graph.saved_tensors_hooks``, each
storage counted once, the weights apart), scales them by ``batch x (side / probe)^2`` and adds four copies of
the weights. :data:`BACKWARD_FACTOR` covers the gradient buffers the backward creates while it frees the
saved tensors; it was calibrated against the measured peak (``benchmarks/bench_memory.py``). The probe costs
milliseconds, so a ``--crop 10000`` is refused with its estimate instead of taking the machine down.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from lossadvisor.errors import ConfigError

logger = logging.getLogger(__name__)

PROBE_SIDE = 64
# Measured peak / saved activations of a CompactUNet step (AdamW, batch 8) at 128-384 px was 1.17-1.20; 1.3
# keeps the estimate just above the measured peak. See
# benchmarks/bench_memory.py (estimate / measured peak: 1.09-1.10 at 128, 256 and 384 px).
BACKWARD_FACTOR = 1.3
GIB = 2**30
HOW = (
    "estimated from the activations autograd keeps on a {probe} px probe, scaled by tile area and batch, "
    "plus the weights, their gradients and AdamW's state"
)


@dataclass(frozen=True)
class MemoryEstimate:
    """The estimated peak of one training step (bytes) and its parts."""

    peak: int
    activations: int  # saved for the backward, at the training side and batch, times BACKWARD_FACTOR
    weights: int  # weights + gradients + two AdamW moments
    probe: int  # the probe's side

    @property
    def how(self) -> str:
        return HOW.format(probe=self.probe)


def estimate_step_memory(
    factory: Callable, *, in_channels: int, out_channels: int, side: int, batch: int, probe: int = PROBE_SIDE
) -> MemoryEstimate:
    """Estimate the peak bytes of one forward/backward/AdamW step on ``batch`` tiles of ``side`` px."""
    import torch

    probe = max(1, min(side, probe))
    model = factory(in_channels, out_channels)
    params = list(model.parameters())
    weight_bytes = sum(p.numel() * p.element_size() for p in params)
    weight_ptrs = {p.untyped_storage().data_ptr() for p in params}
    saved: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weight_ptrs:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    x = torch.zeros(1, in_channels, probe, probe)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    probe_bytes = sum(saved.values()) + out.numel() * out.element_size()
    del out, model
    activations = int(probe_bytes * batch * (side / probe) ** 2 * BACKWARD_FACTOR)
    weights = 4 * weight_bytes
    return MemoryEstimate(peak=activations + weights, activations=activations, weights=weights, probe=probe)


def available_memory(device: str = "cpu") -> int | None:
    """Bytes free for a new allocation on ``device``: MemAvailable of /proc/meminfo (or the free physical
    pages) on the CPU, ``torch.cuda.mem_get_info`` on a GPU; None where the system does not say."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    if device != "cpu":
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:  # noqa: PTH123
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_step_memory(
    factory: Callable,
    *,
    in_channels: int,
    out_channels: int,
    side: int,
    batch: int,
    device: str,
    option: str,
    available: int | None = None,
) -> MemoryEstimate | None:
    """Refuse a training step that cannot fit in the memory ``device`` has free, before the first one.

    Args:
        option: How the user set ``side`` ("--size 4096", "--crop 10000"), for the message.
        available: Free bytes (default: :func:`available_memory`).

    Returns:
        The estimate, or None when the model fails on the probe (the model check, run next, says why).

    Raises:
        ConfigError: The estimate exceeds the free memory; the message gives both and how it was estimated.
    """
    try:
        estimate = estimate_step_memory(
            factory, in_channels=in_channels, out_channels=out_channels, side=side, batch=batch
        )
    except Exception as exc:  # noqa: BLE001 - a model that fails on the probe: the model check names it
        logger.debug("No memory estimate: the probe failed (%s: %s).", type(exc).__name__, exc)
        return None
    free = available_memory(device) if available is None else available
    if free is not None and estimate.peak > free:
        raise ConfigError(
            f"Training at {option} with --batch-size {batch} needs about {estimate.peak / GIB:.1f} GiB for "
            f"one forward/backward pass ({estimate.how}); {device} has {free / GIB:.1f} GiB available. Use "
            f"a smaller --size or --crop, or a smaller --batch-size. Nothing was written."
        )
    return estimate
