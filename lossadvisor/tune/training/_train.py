"""One short training run: AdamW on the compact U-Net, validated after every epoch.

What a run's score should say is how good the loss is, not how lucky the seed was: the recipe's steadying
parts (foreground-centred crops, the learning-rate schedule, evaluating a moving average of the weights) are
in :mod:`lossadvisor.tune.training._recipe`, chosen by :class:`TrialConfig`'s ``recipe``.

The loop knows nothing of Optuna. After each epoch it calls ``on_epoch(record)``; a callback that returns True
stops the run (the tuner uses this for pruning). Training is budgeted in optimiser steps, not epochs: an
"epoch" here is ``steps_per_epoch`` steps between two validations (measured during development: 50 steps
left every loss undertrained and 200 did much better, whatever the dataset size).

A run that produces a non-finite loss or gradient, or runs out of memory, ends as failed with its reason
instead of raising, so a study goes on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lossadvisor.tune.data import TrainData
from lossadvisor.tune.training._batches import BatchSource, make_batch_source
from lossadvisor.tune.training._device import DeviceChoice, seed_everything
from lossadvisor.tune.training._metrics import ObjectRecallTally, SegmentationTally, collapse_kind
from lossadvisor.tune.training._recipe import DEFAULT_RECIPE, TrainingRecipe, WeightAverage, lr_factor

# A step whose gradient norm exceeds this multiple of the running median is a spike (the Dice gradient blows
# up on small or absent objects, Milletari et al. 2016).
GRAD_SPIKE_FACTOR = 10.0
GRAD_SPIKE_WARMUP_STEPS = 10  # steps before the running median is trusted
GRAD_MEDIAN_WINDOW = 50
WEIGHT_DECAY = 1e-4
ModelFactory = Callable[[int, int], object]  # (in_channels, num_classes) -> nn.Module
LossFactory = Callable[[str, dict], object]  # (loss name, params) -> nn.Module


@dataclass(frozen=True)
class TrialConfig:
    """What one run trains: the loss, its parameters, the learning rate and the step budget."""

    loss: str
    params: dict
    lr: float
    epochs: int
    steps_per_epoch: int
    batch_size: int = 8
    warmup_steps: int = 0  # linear warm-up from lr/100 (0 = none)
    seed: int = 0
    objective: str = "iou"  # the metric a run is scored by (_metrics.SCORED_METRICS): val_score, best
    recipe: TrainingRecipe = DEFAULT_RECIPE  # weight average validated, foreground crops, schedule (_recipe)


@dataclass
class EpochRecord:
    """What one epoch measured (a row of ``epochs.csv``)."""

    epoch: int
    train_loss: float
    val_iou: float
    val_dice: float
    val_iou_per_class: list[float]
    pred_fg_share: float
    true_fg_share: float
    collapse: str  # "none" / "background" / "foreground"
    grad_norm_mean: float
    grad_norm_max: float
    grad_spikes: int
    nonfinite: int
    seconds: float
    val_score: float = math.nan  # the run's scored metric (TrialConfig.objective); val_iou under IoU


@dataclass
class TrialOutcome:
    """The whole run: its epochs, how it ended, and the object recall of the final model."""

    epochs: list[EpochRecord] = field(default_factory=list)
    failed: bool = False
    fail_reason: str = ""
    stopped_early: bool = False
    object_recall: dict[str, float | None] = field(default_factory=dict)
    duration_s: float = 0.0
    data_s: float = 0.0
    images_seen: int = 0
    nonfinite: int = 0  # 1 when the run ended on a non-finite loss, gradient or weight
    sample_predictions: np.ndarray | None = None  # final model's classes on the requested validation tiles
    # Final model, per validation tile (window in crop mode) and class: (n_val, 3, C) int64 counts of
    # intersection, predicted and labelled pixels; what the paired verdict resamples.
    image_counts: np.ndarray | None = None
    model: object | None = None

    @property
    def best(self) -> EpochRecord | None:
        """The epoch with the best scored metric (``val_score``)."""
        return max(self.epochs, key=lambda r: r.val_score) if self.epochs else None

    @property
    def final(self) -> EpochRecord | None:
        return self.epochs[-1] if self.epochs else None


class _TrialFailed(Exception):
    """Internal: ends a run with a recorded reason."""


def _is_oom(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def predict_classes(logits) -> np.ndarray:
    """Class indices from logits: ``logit > 0`` for one channel (sigmoid), argmax otherwise."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).long().cpu().numpy()
    return logits.argmax(dim=1).cpu().numpy()


def evaluate(
    model,
    source: BatchSource,
    *,
    num_classes: int,
    ignore_index: int | None,
    autocast,
    recall: ObjectRecallTally | None = None,
    per_image: list | None = None,
) -> SegmentationTally:
    """Validation pass over every validation tile; object recall is counted too when ``recall`` is given, and
    each tile's counts are appended to ``per_image`` (see :func:`image_counts`) when it is a list."""
    import torch

    model.eval()
    k = max(num_classes, 2)
    tally = SegmentationTally(k)
    with torch.no_grad():
        for pred, masks, spacings in source.predictions(model, autocast):
            tally.add(pred, masks, ignore_index=ignore_index)
            if per_image is not None:
                per_image.extend(image_counts(pred, masks, num_classes=k, ignore_index=ignore_index))
            if recall is not None:
                for p, m, spacing in zip(pred, masks, spacings, strict=True):
                    recall.add(p, m, num_classes=k, spacing=spacing)
    model.train()
    return tally


def image_counts(
    pred: np.ndarray, target: np.ndarray, *, num_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """Per image and class, the pixels of intersection, prediction and label: ``(n, 3, num_classes)``.

    Example:
        >>> image_counts(np.array([[[1, 1, 0]]]), np.array([[[1, 0, 0]]]), num_classes=2).tolist()
        [[[1, 1], [1, 2], [2, 1]]]
    """
    out = np.zeros((len(pred), 3, num_classes), dtype=np.int64)
    for i, (p, t) in enumerate(zip(pred, target, strict=True)):
        valid = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
        pv, tv = p[valid].astype(np.int64), t[valid].astype(np.int64)
        out[i, 0] = np.bincount(tv[pv == tv], minlength=num_classes)[:num_classes]
        out[i, 1] = np.bincount(pv, minlength=num_classes)[:num_classes]
        out[i, 2] = np.bincount(tv, minlength=num_classes)[:num_classes]
    return out


def _predict_tiles(model, source: BatchSource, indices: list[int], autocast) -> np.ndarray:
    model.eval()
    return source.predict_samples(model, indices, autocast)


def default_model(data: TrainData) -> ModelFactory:
    """The compact U-Net of the data's dimensionality: :class:`CompactUNet` or :class:`CompactUNet3d`."""
    from lossadvisor.tune.training._unet import CompactUNet

    dims = data.spatial_dims
    return lambda c, k: CompactUNet(c, k, spatial_dims=dims)


def _autocast_factory(device: DeviceChoice):
    import contextlib

    import torch

    if device.autocast_dtype:
        return lambda: torch.autocast(device_type="cuda", dtype=getattr(torch, device.autocast_dtype))
    return contextlib.nullcontext


def train_trial(
    config: TrialConfig,
    data: TrainData,
    *,
    num_classes: int,
    loss_factory: LossFactory,
    device: DeviceChoice,
    model_factory: ModelFactory | None = None,
    ignore_index: int | None = None,
    on_epoch: Callable[[EpochRecord], bool] | None = None,
    sample_indices: list[int] | None = None,
    keep_model: bool = False,
) -> TrialOutcome:
    """Train one configuration and measure it after every epoch.

    Args:
        config: Loss, parameters, learning rate and step budget.
        data: The decoded dataset.
        num_classes: Classes including background; the model gets 1 output channel when this is 2 (binary,
            sigmoid), ``num_classes`` otherwise.
        loss_factory: Builds the loss module from ``(name, params)``.
        device: Where to run (:func:`resolve_device`).
        model_factory: ``(in_channels, num_classes) -> nn.Module``; default :class:`CompactUNet`.
        ignore_index: Label value left out of the metrics (the loss handles it through its own params).
        on_epoch: Called with each :class:`EpochRecord`; returning True stops the run early (pruning).
        sample_indices: Validation tiles whose final predictions are kept (``outcome.sample_predictions``).
        keep_model: Keep the trained model on the outcome (for sample predictions).

    Returns:
        The outcome; ``failed`` and ``fail_reason`` are set for a non-finite or out-of-memory run.
        KeyboardInterrupt is not caught.
    """
    import torch

    start = time.perf_counter()
    rng = seed_everything(config.seed)
    out_channels = 1 if num_classes == 2 else num_classes
    outcome = TrialOutcome()
    autocast = _autocast_factory(device)
    try:
        model = (model_factory or default_model(data))(data.channels, out_channels)
        model = model.to(device.name)
        loss_fn = loss_factory(config.loss, dict(config.params))
        if hasattr(loss_fn, "to"):
            loss_fn = loss_fn.to(device.name)
        optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=WEIGHT_DECAY)
        source = make_batch_source(
            data, batch_size=config.batch_size, device=device.name, rng=rng, ignore_index=ignore_index,
            foreground_share=config.recipe.foreground_share,
        )  # fmt: skip
        recipe = config.recipe
        average = (
            WeightAverage(model, decay=recipe.ema_decay, warmup=recipe.ema_warmup)
            if recipe.ema_decay is not None
            else None
        )
        scored = average.model if average is not None else model  # the model every validation measures
        total_steps = config.epochs * config.steps_per_epoch
        params = [p for p in model.parameters() if p.requires_grad]
        norms: list[float] = []
        step = 0
        model.train()
        for epoch in range(1, config.epochs + 1):
            t_epoch = time.perf_counter()
            losses, epoch_norms, spikes = [], [], 0
            for _ in range(config.steps_per_epoch):
                rate = config.lr * lr_factor(recipe.schedule, step, total_steps, config.warmup_steps)
                for group in optimiser.param_groups:
                    group["lr"] = rate
                t_data = time.perf_counter()
                x, y = source.train_batch()
                outcome.data_s += time.perf_counter() - t_data
                with autocast():
                    logits = model(x)
                loss = loss_fn(logits.float(), y)
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise _TrialFailed(f"non-finite loss ({loss_value}) at epoch {epoch}, step {step + 1}")
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                grads = [p.grad.detach().norm() for p in params if p.grad is not None]
                norm = float(torch.stack(grads).norm()) if grads else 0.0
                if not math.isfinite(norm):
                    raise _TrialFailed(f"non-finite gradient norm at epoch {epoch}, step {step + 1}")
                window = norms[-GRAD_MEDIAN_WINDOW:]
                if len(window) >= GRAD_SPIKE_WARMUP_STEPS and norm > GRAD_SPIKE_FACTOR * float(
                    np.median(window)
                ):
                    spikes += 1
                norms.append(norm)
                epoch_norms.append(norm)
                optimiser.step()
                if average is not None:
                    average.update(model)
                losses.append(loss_value)
                step += 1
                outcome.images_seen += len(x)
            is_last = epoch == config.epochs
            recall = ObjectRecallTally.for_data(data) if is_last else None
            per_image: list | None = [] if is_last else None
            tally = evaluate(
                scored,
                source,
                num_classes=num_classes,
                ignore_index=ignore_index,
                autocast=autocast,
                recall=recall,
                per_image=per_image,
            )
            if per_image:
                outcome.image_counts = np.stack(per_image)
            iou, dice, iou_per_class, _ = tally.scores()
            pred_share, true_share = tally.foreground_shares()
            if not all(math.isfinite(float(p.detach().float().abs().max())) for p in params):
                raise _TrialFailed(f"non-finite weights after epoch {epoch}")
            record = EpochRecord(
                epoch=epoch,
                train_loss=float(np.mean(losses)),
                val_iou=iou,
                val_dice=dice,
                val_iou_per_class=[float(v) for v in iou_per_class],
                pred_fg_share=pred_share,
                true_fg_share=true_share,
                collapse=collapse_kind(pred_share, true_share),
                grad_norm_mean=float(np.mean(epoch_norms)),
                grad_norm_max=float(np.max(epoch_norms)),
                grad_spikes=spikes,
                nonfinite=0,
                seconds=time.perf_counter() - t_epoch,
                val_score=tally.score(config.objective),
            )
            outcome.epochs.append(record)
            if recall is not None:
                outcome.object_recall = recall.recall()
            if on_epoch is not None and on_epoch(record) and not is_last:
                outcome.stopped_early = True
                break
        if sample_indices:
            outcome.sample_predictions = _predict_tiles(scored, source, sample_indices, autocast)
        if keep_model:
            outcome.model = scored
    except _TrialFailed as exc:
        outcome.failed, outcome.fail_reason, outcome.nonfinite = True, str(exc), 1
    except RuntimeError as exc:
        if not _is_oom(exc):
            raise
        outcome.failed = True
        outcome.fail_reason = f"out of memory ({exc}); reduce --size, --crop or the batch size"
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    outcome.duration_s = time.perf_counter() - start
    return outcome
