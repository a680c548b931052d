"""The one input contract every loss shares: checks before any work, then the tensors the maths needs.

Contract: logits ``(N, C, H, W)`` of any float dtype, targets ``(N, H, W)`` of an integer dtype holding class
indices. ``C == 1`` is binary with a sigmoid; ``C >= 2`` uses a softmax (``C == 2`` is binary too).
Internally a single sigmoid channel ``x`` becomes the two log-probabilities
``(log sigmoid(-x), log sigmoid(x))``, so every loss sees ``K >= 2`` class channels, and ``C == 1`` and
``C == 2`` with logits ``(0, x)`` give the same values.

Everything runs in float32 (or float64 when the logits are float64, for gradcheck): under float16 / bfloat16
autocast the logits are upcast here, so sums over a quarter of a million pixels do not lose the small terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lossadvisor.errors import ConfigError, DataError


class LossInputError(DataError):
    """Logits or targets that break the loss contract (shape, dtype or a class index out of range)."""


@dataclass(frozen=True)
class Prepared:
    """The checked inputs in the form the maths wants.

    ``log_probs``: ``(N, K, H, W)`` log-probabilities (float32/float64). ``targets``: ``(N, H, W)`` int64 with
    ignored pixels set to 0 (use ``valid`` to drop them). ``valid``: ``(N, H, W)`` float, 1 where counted.
    ``logits``: the upcast logits. ``binary_sigmoid``: the input had one channel. ``num_classes``: ``K``.
    """

    logits: torch.Tensor
    log_probs: torch.Tensor
    targets: torch.Tensor
    valid: torch.Tensor
    binary_sigmoid: bool
    num_classes: int

    def one_hot(self) -> torch.Tensor:
        """``(N, K, H, W)`` one-hot targets, all zeros at ignored pixels."""
        # scatter the validity itself: one float write pass, ~8x faster than F.one_hot + permute + cast on CPU
        onehot = torch.zeros_like(self.log_probs)
        return onehot.scatter_(1, self.targets.unsqueeze(1), self.valid.unsqueeze(1))

    def probs(self) -> torch.Tensor:
        """``(N, K, H, W)`` probabilities, zeroed at ignored pixels (so no gradient reaches them)."""
        return self.log_probs.exp() * self.valid.unsqueeze(1)


def check_inputs(logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int | None, loss: str) -> None:
    """Raise :class:`LossInputError` if the inputs break the contract; nothing else is computed."""
    if not isinstance(logits, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise LossInputError(
            f"{loss} expects torch tensors (logits, targets). Got {type(logits).__name__} and "
            f"{type(targets).__name__}."
        )
    if logits.ndim != 4 or not logits.is_floating_point():
        raise LossInputError(
            f"{loss} expects float logits of shape (N, C, H, W). Got shape {tuple(logits.shape)} with dtype "
            f"{logits.dtype}."
        )
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise LossInputError(
            f"{loss} expects integer class-index targets (int64) of shape (N, H, W). "
            f"Got dtype {targets.dtype}; "
            "convert one-hot or float masks with `targets.argmax(1)` or `targets.long()`."
        )
    n, c, h, w = logits.shape
    if tuple(targets.shape) != (n, h, w):
        hint = " Squeeze the channel axis: `targets[:, 0]`." if tuple(targets.shape) == (n, 1, h, w) else ""
        raise LossInputError(
            f"{loss} expects targets of shape (N, H, W) = {(n, h, w)} for logits of shape "
            f"{tuple(logits.shape)}. "
            f"Got targets of shape {tuple(targets.shape)}.{hint}"
        )
    if targets.device != logits.device:
        raise LossInputError(f"{loss}: logits are on {logits.device} but targets on {targets.device}.")
    if targets.numel() == 0:
        return
    num_classes = 2 if c == 1 else c
    counted = targets if ignore_index is None else targets[targets != ignore_index]
    if counted.numel() == 0:
        return
    low, high = int(counted.min()), int(counted.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        extra = "" if ignore_index is None else f" (ignore_index={ignore_index})"
        mode = "a single sigmoid channel takes targets 0 and 1" if c == 1 else f"C = {c} classes"
        raise LossInputError(
            f"{loss}: target class index {bad} is out of range [0, {num_classes - 1}] for logits of shape "
            f"{tuple(logits.shape)} ({mode}){extra}. Set ignore_index for a 'don't care' value such as 255."
        )


def prepare(logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int | None, loss: str) -> Prepared:
    """Check the inputs, then build log-probabilities, clean targets and the counted-pixel mask."""
    check_inputs(logits, targets, ignore_index=ignore_index, loss=loss)
    x = logits.double() if logits.dtype == torch.float64 else logits.float()
    binary_sigmoid = x.shape[1] == 1
    if binary_sigmoid:
        log_probs = torch.cat([F.logsigmoid(-x), F.logsigmoid(x)], dim=1)
    else:
        log_probs = F.log_softmax(x, dim=1)
    targets = targets.long()
    if ignore_index is None:
        valid = torch.ones_like(targets, dtype=x.dtype)
    else:
        keep = targets != ignore_index
        valid = keep.to(x.dtype)
        targets = torch.where(keep, targets, torch.zeros_like(targets))
    return Prepared(x, log_probs, targets, valid, binary_sigmoid, log_probs.shape[1])


def class_weight_tensor(
    prepared: Prepared, class_weights: Sequence[float] | None, *, pos_weight: float | None = None, loss: str
) -> torch.Tensor | None:
    """The ``(K,)`` class-weight tensor, or ``None``; checks the count against the number of classes.

    ``pos_weight`` (binary only) becomes the weights ``(1, pos_weight)``.
    """
    k = prepared.num_classes
    if pos_weight is not None:
        if k != 2:
            raise ConfigError(
                f"{loss}: 'pos_weight' is for binary segmentation (C = 1 or 2); the logits have C = {k}. "
                "Use 'class_weights' with one weight per class instead."
            )
        return torch.tensor(
            [1.0, pos_weight], dtype=prepared.log_probs.dtype, device=prepared.log_probs.device
        )
    if class_weights is None:
        return None
    if len(class_weights) != k:
        raise ConfigError(
            f"{loss}: 'class_weights' must have one weight per class ({k} for these logits"
            f"{', background then foreground' if k == 2 else ''}). Got {len(class_weights)}."
        )
    return torch.tensor(list(class_weights), dtype=prepared.log_probs.dtype, device=prepared.log_probs.device)
