"""The learning-rate range test the way fastai runs it, to reproduce the learning rate a fastai user picks.

Smith (2017, "Cyclical learning rates for training neural networks") raises the learning rate exponentially
over a short run and reads a good value off the loss curve. fastai's ``lr_find`` smooths the loss with a
debiased exponential moving average (beta 0.98), stops once the smoothed loss exceeds 4x its minimum, and
suggests the 'valley' (its default since fastai 2.5: two thirds down the longest descending stretch) or the
'steep' point (the steepest descent).

Bounded losses break the test: Dice lives in [0, 1], so its smoothed loss barely moves, the 4x
stop never fires and the suggestion says more about the sweep than about the data. The record marks such
results ``suspect`` with a note; the tuner searches the learning rate instead of trusting them.
"""

from __future__ import annotations

import math

import numpy as np

from lossadvisor._run_records import LRRangeTest
from lossadvisor.losses import BOUNDED_LR_TEST_NOTE
from lossadvisor.tune.data import TrainData
from lossadvisor.tune.training._batches import make_batch_source
from lossadvisor.tune.training._device import DeviceChoice, seed_everything

START_LR = 1e-7  # fastai's defaults
END_LR = 10.0
NUM_ITERATIONS = 100
SMOOTHING_BETA = 0.98
STOP_DIVERGENCE_FACTOR = 4.0
BOUNDED_NOTE = BOUNDED_LR_TEST_NOTE  # the registry's ``bounded`` losses (LossSpec.bounded)
NO_STOP_NOTE = (
    "The loss never rose to 4x its minimum, so the sweep ended without the divergence fastai's rule relies "
    "on; the suggestion is suspect."
)


LRRangeResult = LRRangeTest  # one loss's sweep: the record of an lr_range_test.json entry


def valley(lrs: list[float], losses: list[float]) -> float:
    """fastai's 'valley' rule: two thirds down the longest strictly descending subsequence of the losses.

    Example:
        >>> valley([1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0], [1.0, 0.9, 0.5, 0.2, 0.3, 2.0])
        0.0001
    """
    n = len(losses)
    if n < 2:
        return float(lrs[0])
    lds = [1] * n
    max_start, max_end = 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    # fastai's start index can be -1 (off by one), which Python would wrap to the largest rate; clamp it.
    idx = max(0, max_start + int(sections) + int(sections / 2))
    return float(lrs[idx])


def steep(lrs: list[float], losses: list[float]) -> float:
    """fastai's 'steep' rule: the learning rate where the loss falls fastest against log(lr)."""
    if len(losses) < 2:
        return float(lrs[0])
    slopes = np.gradient(np.asarray(losses), np.log(np.asarray(lrs)))
    return float(lrs[int(np.argmin(slopes))])


def lr_range_test(
    loss_name: str,
    data: TrainData,
    *,
    num_classes: int,
    loss_factory,
    device: DeviceChoice,
    model_factory=None,
    params: dict | None = None,
    batch_size: int = 8,
    num_iterations: int = NUM_ITERATIONS,
    seed: int = 0,
    bounded: bool = False,
) -> LRRangeResult:
    """Sweep the learning rate from 1e-7 to 10 over ``num_iterations`` AdamW steps on a fresh model.

    Args:
        loss_name: Registry name of the loss.
        data: The decoded dataset.
        num_classes: Classes including background.
        loss_factory: ``(name, params) -> nn.Module``.
        device: Where to run.
        model_factory: As for :func:`train_trial`.
        params: Loss parameters.
        batch_size: Batch size of the sweep.
        num_iterations: Steps of the sweep (fastai: 100).
        seed: Seed of the model and batches.
        bounded: The loss is bounded (Dice family): mark the result suspect.
    """
    import torch

    from lossadvisor.tune.training._train import WEIGHT_DECAY, _autocast_factory, default_model

    rng = seed_everything(seed)
    out_channels = 1 if num_classes == 2 else num_classes
    model = (model_factory or default_model(data))(data.channels, out_channels)
    model = model.to(device.name).train()
    loss_fn = loss_factory(loss_name, dict(params or {}))
    optimiser = torch.optim.AdamW(model.parameters(), lr=START_LR, weight_decay=WEIGHT_DECAY)
    source = make_batch_source(data, batch_size=batch_size, device=device.name, rng=rng)
    autocast = _autocast_factory(device)
    ratio = (END_LR / START_LR) ** (1 / max(1, num_iterations - 1))
    lrs, smoothed = [], []
    avg, best, stopped = 0.0, math.inf, False
    for i in range(num_iterations):
        lr = START_LR * ratio**i
        for group in optimiser.param_groups:
            group["lr"] = lr
        x, y = source.train_batch()
        with autocast():
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        value = float(loss.detach())
        if not math.isfinite(value):
            stopped = True
            break
        avg = SMOOTHING_BETA * avg + (1 - SMOOTHING_BETA) * value
        debiased = avg / (1 - SMOOTHING_BETA ** (i + 1))
        lrs.append(lr)
        smoothed.append(debiased)
        best = min(best, debiased)
        if debiased > STOP_DIVERGENCE_FACTOR * best:
            stopped = True
            break
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    # fastai suggests from the recorded curve without its first tenth (warm-up noise) and last 5 points
    # (the divergence itself): ``recorder.lrs[num_it // 10 : -5]``.
    skip_start = num_iterations // 10
    lrs_k, losses_k = lrs[skip_start:-5], smoothed[skip_start:-5]
    if len(lrs_k) < 2:
        lrs_k, losses_k = lrs, smoothed
    notes = []
    if bounded:
        notes.append(BOUNDED_NOTE)
    if not stopped:
        notes.append(NO_STOP_NOTE)
    return LRRangeResult(
        loss=loss_name,
        suggested_lr=valley(lrs_k, losses_k) if lrs_k else START_LR,
        method="valley",
        steep_lr=steep(lrs_k, losses_k) if lrs_k else START_LR,
        lrs=tuple(lrs),
        losses=tuple(smoothed),
        stopped_early=stopped,
        suspect=bool(notes),
        note=" ".join(notes),
    )
