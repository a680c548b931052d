"""The one input contract every loss shares: checks before any work, then the tensors the maths needs.

Contract: logits ``(N, C, *spatial)`` of any float dtype, targets ``(N, *spatial)`` of an integer dtype
holding class indices, with any number of spatial axes: ``(N, C, H, W)`` images and ``(N, C, D, H, W)``
volumes alike (below, ``H, W`` stands for all the spatial axes; a "pixel" is a voxel in 3-D).
``C == 1`` is binary with a sigmoid; ``C >= 2`` uses a softmax (``C == 2`` is binary too).
In the general form a single sigmoid channel ``x`` becomes the two log-probabilities
``(log sigmoid(-x), log sigmoid(x))``, so every loss sees ``K >= 2`` class channels, and ``C == 1`` and
``C == 2`` with logits ``(0, x)`` give the same values. In the common case (:attr:`Prepared.fast`) a binary
problem is instead one logit map, ``x`` or ``x1 - x0``, and nothing is masked when nothing can be ignored:
the same numbers for a fraction of the passes over the batch.

The target values are checked with one pass and one host synchronisation (``aminmax`` of a tensor the
losses need anyway), not several scans.

Everything runs in float32 (or float64 when the logits are float64, for gradcheck): under float16 / bfloat16
autocast the logits are upcast here, so sums over a quarter of a million pixels do not lose the small terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import torch
import torch.nn.functional as F

from lossadvisor.errors import ConfigError, DataError
from lossadvisor.losses import _functional as LF
from lossadvisor.losses._binary import binary_region_sums


class LossInputError(DataError):
    """Logits or targets that break the loss contract (shape, dtype or a class index out of range)."""


class Prepared:
    """The checked inputs, with the tensors each loss needs built on first use and kept for the next term.

    ``logits``: the upcast ``(N, C, H, W)`` logits. ``raw_targets``: ``(N, H, W)`` int64 as given (the ignore
    value still in place). ``keep``: ``(N, H, W)`` bool, True where counted, or ``None`` when nothing can be
    ignored. ``binary_sigmoid``: the input had one channel. ``num_classes``: ``K`` (2 for one channel).

    ``fast`` marks the common case: ``ignore_index`` is ``None`` or outside ``[0, K)``, so a target's value
    says its class and whether it counts. The losses then take the cheap forms below (no log-probabilities
    of a binary problem, no all-ones mask, the binary case as one logit); otherwise, and with
    ``fast=False``, they take the general K-channel forms (``log_probs``, ``one_hot``, ``probs``,
    ``valid``). Both give the same numbers up to rounding (``tests/losses/test_losses_fast_path.py``).
    """

    def __init__(
        self,
        logits: torch.Tensor,
        raw_targets: torch.Tensor,
        keep: torch.Tensor | None,
        *,
        ignore_index: int | None,
        fast: bool,
        clean_targets: torch.Tensor | None = None,
        binary_target: torch.Tensor | None = None,
        valid_mask: torch.Tensor | None = None,
        deferred_check: str | None = None,
    ) -> None:
        self.logits = logits
        self.raw_targets = raw_targets
        self.keep = keep
        self.ignore_index = ignore_index
        self.fast = fast
        self.binary_sigmoid = logits.shape[1] == 1
        self.num_classes = 2 if self.binary_sigmoid else logits.shape[1]
        # the loss name, while the target range is still to be checked (on first use of `targets`)
        self._deferred_check = deferred_check
        # tensors the input check already built are stored under their property's name (cached_property)
        for name, value in (
            ("targets", clean_targets),
            ("binary_target", binary_target),
            ("valid_mask", valid_mask),
        ):
            if value is not None:
                self.__dict__[name] = value

    # --- general forms: every loss can be written with these ------------------------------------------------
    @cached_property
    def targets(self) -> torch.Tensor:
        """``(N, H, W)`` int64 class indices with ignored pixels set to 0 (use ``valid`` to drop them).

        Raises:
            LossInputError: a counted target is not a class index (when :func:`prepare` deferred the check).
        """
        if self.keep is None:
            clean = self.raw_targets
        else:
            clean = torch.where(self.keep, self.raw_targets, torch.zeros_like(self.raw_targets))
        if self._deferred_check is not None:
            _check_range_of(clean, self.logits, self.ignore_index, self._deferred_check)
        return clean

    def check_targets(self) -> None:
        """Check the target range now if :func:`prepare` deferred it (raises :class:`LossInputError`)."""
        self.targets  # noqa: B018 - building the cleaned targets runs the check

    @cached_property
    def valid(self) -> torch.Tensor:
        """``(N, H, W)`` float, 1 where counted (all ones when nothing is ignored)."""
        mask = self.valid_mask
        return torch.ones_like(self.raw_targets, dtype=self.logits.dtype) if mask is None else mask

    @cached_property
    def valid_mask(self) -> torch.Tensor | None:
        """``(N, H, W)`` float, 1 where counted, or ``None`` when every pixel counts (the cheap form)."""
        return None if self.keep is None else self.keep.to(self.logits.dtype)

    @cached_property
    def log_probs(self) -> torch.Tensor:
        """``(N, K, H, W)`` log-probabilities: ``(log sigmoid(-x), log sigmoid(x))`` for one channel."""
        x = self.logits
        if self.binary_sigmoid:
            return torch.cat([F.logsigmoid(-x), F.logsigmoid(x)], dim=1)
        return F.log_softmax(x, dim=1)

    def one_hot(self) -> torch.Tensor:
        """``(N, K, H, W)`` one-hot targets, all zeros at ignored pixels."""
        # scatter the validity itself: one float write pass, ~8x faster than F.one_hot + permute + cast on CPU
        onehot = torch.zeros_like(self.log_probs)
        return onehot.scatter_(1, self.targets.unsqueeze(1), self.valid.unsqueeze(1))

    def probs(self) -> torch.Tensor:
        """``(N, K, H, W)`` probabilities, zeroed at ignored pixels (so no gradient reaches them)."""
        return self.log_probs.exp() * self.valid.unsqueeze(1)

    # --- cheap forms of the common case (``fast``) ----------------------------------------------------------
    @cached_property
    def binary_logit(self) -> torch.Tensor:
        """K == 2: ``(N, H, W)`` logit of class 1 against class 0 (one channel: ``x``; two: ``x1 - x0``).

        ``sigmoid`` of it is the softmax probability of class 1 and ``logsigmoid`` its log, so the binary
        losses need one channel instead of two log-probability maps.
        """
        x = self.logits
        if self.binary_sigmoid:
            return x.squeeze(1)  # a view both ways: x[:, 0] would copy the gradient into a zeroed tensor
        background, foreground = x.unbind(1)  # one stacked gradient, not two zero-filled slices
        return foreground - background

    @cached_property
    def binary_target(self) -> torch.Tensor:
        """K == 2: ``(N, H, W)`` float, 1 at counted class-1 pixels, 0 elsewhere (ignored pixels included)."""
        g = self.raw_targets.to(self.logits.dtype)
        return g if self.valid_mask is None else g * self.valid_mask

    # --- what the losses ask for; each picks the cheap form when it can ------------------------------------
    def region_sums(
        self, *, per_image: bool, squared: bool = False, first_class: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Soft intersection, predicted and true mass per (row, class) for classes ``first_class..K-1``.

        See :func:`~lossadvisor.losses._functional.region_sums`; a class that is not asked for is not
        computed. Multi-class probabilities come from one softmax (not ``exp(log_softmax)``), and with nothing
        ignored no mask is applied.
        """
        if not self.fast:
            sums = LF.region_sums(self.probs(), self.one_hot(), per_image=per_image, squared=squared)
            return tuple(part[:, first_class:] for part in sums)  # type: ignore[return-value]
        if self.num_classes == 2:
            return binary_region_sums(
                self.binary_logit,
                self.binary_target,
                self.valid_mask,
                per_image=per_image,
                squared=squared,
                background=first_class == 0,
            )
        probs = torch.softmax(self.logits, dim=1)
        index = self.targets.unsqueeze(1)
        mask = self.valid_mask
        if mask is None:
            onehot = torch.zeros_like(probs).scatter_(1, index, 1.0)
        else:
            onehot = torch.zeros_like(probs).scatter_(1, index, mask.unsqueeze(1))
        probs, onehot = probs[:, first_class:], onehot[:, first_class:]
        if mask is not None:
            probs = probs * mask.unsqueeze(1)
        return LF.region_sums(probs, onehot, per_image=per_image, squared=squared)

    def log_pt(self) -> torch.Tensor:
        """``(N, H, W)`` log-probability of each pixel's target class (any finite value where ignored)."""
        if self.fast and self.num_classes == 2:
            return LF.binary_log_pt(self.binary_logit, self.binary_target)
        return self.log_probs.gather(1, self.targets.unsqueeze(1)).squeeze(1)

    def is_background(self) -> torch.Tensor:
        """``(N, H, W)`` bool, the pixel's target is class 0 (ignored pixels may read either way)."""
        if self.fast and self.num_classes == 2:
            return self.binary_target == 0
        return self.targets == 0

    def weight_map(self, weights: torch.Tensor) -> torch.Tensor:
        """``(N, H, W)`` weight of each pixel's target class from the ``(K,)`` class weights."""
        if self.fast and self.num_classes == 2:
            return weights[0] + (weights[1] - weights[0]) * self.binary_target
        return weights[self.targets]

    def count(self) -> torch.Tensor | float:
        """Counted pixels, at least 1: a plain number when all count, else a 0-d tensor (no host sync)."""
        if self.keep is None:
            return float(max(self.raw_targets.numel(), 1))
        return self.valid.sum().clamp_min(1.0)

    def row_validity(self, *, per_image: bool) -> torch.Tensor | None:
        """``(B,)`` 1.0 per row (image, or the batch) with a counted pixel; ``None`` if every row has one."""
        if self.keep is None and self.raw_targets.numel() > 0:
            return None
        counted = self.valid.sum(dim=tuple(range(1, self.valid.ndim)))
        if not per_image:
            counted = counted.sum(0, keepdim=True)
        return (counted > 0).to(self.logits.dtype)


def check_inputs(logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int | None, loss: str) -> None:
    """Raise :class:`LossInputError` if the inputs' types, shapes, dtypes or devices break the contract.

    Reads no tensor data; :func:`prepare` checks the target values with :func:`check_target_range`.
    """
    if not isinstance(logits, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise LossInputError(
            f"{loss} expects torch tensors (logits, targets). Got {type(logits).__name__} and "
            f"{type(targets).__name__}."
        )
    if logits.ndim < 3 or not logits.is_floating_point():
        raise LossInputError(
            f"{loss} expects float logits of shape (N, C, *spatial), e.g. (N, C, H, W) or (N, C, D, H, W). "
            f"Got shape {tuple(logits.shape)} with dtype {logits.dtype}."
        )
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise LossInputError(
            f"{loss} expects integer class-index targets (int64) of shape (N, *spatial). "
            f"Got dtype {targets.dtype}; "
            "convert one-hot or float masks with `targets.argmax(1)` or `targets.long()`."
        )
    n, _c, *spatial = logits.shape
    expected = (n, *spatial)
    if tuple(targets.shape) != expected:
        squeezable = tuple(targets.shape) == (n, 1, *spatial)
        hint = " Squeeze the channel axis: `targets[:, 0]`." if squeezable else ""
        raise LossInputError(
            f"{loss} expects targets of shape (N, *spatial) = {expected} for logits of shape "
            f"{tuple(logits.shape)}. "
            f"Got targets of shape {tuple(targets.shape)}.{hint}"
        )
    if targets.device != logits.device:
        raise LossInputError(f"{loss}: logits are on {logits.device} but targets on {targets.device}.")


def check_target_range(
    low: int, high: int, *, shape: tuple[int, ...], ignore_index: int | None, loss: str
) -> None:
    """Raise :class:`LossInputError` unless the counted targets' extremes ``low`` and ``high`` are classes."""
    c = shape[1]
    num_classes = 2 if c == 1 else c
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        extra = "" if ignore_index is None else f" (ignore_index={ignore_index})"
        mode = "a single sigmoid channel takes targets 0 and 1" if c == 1 else f"C = {c} classes"
        raise LossInputError(
            f"{loss}: target class index {bad} is out of range [0, {num_classes - 1}] for logits of shape "
            f"{shape} ({mode}){extra}. {_range_hint(bad, c)}"
        )


def _range_hint(bad: int, channels: int) -> str:
    """The fix that fits the value: a binary mask stored as 0/255 is not a 'don't care' value."""
    if channels == 1 and bad == 255:
        return (
            "If 255 is the foreground of a 0/255 (or 1-bit) mask, map it to 1 (lossadvisor.io.read_mask "
            "does); if it marks 'don't care' pixels, set ignore_index=255."
        )
    if bad >= 0 and bad != 255:
        return (
            "Class values must be 0..C-1: renumber them (a class map, --class-map, does) or give the model "
            "as many outputs as classes; set ignore_index only for a 'don't care' value."
        )
    return "Set ignore_index for a 'don't care' value such as 255."



def prepare(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    ignore_index: int | None,
    loss: str,
    fast: bool = True,
) -> Prepared:
    """Check the inputs, then keep what every loss needs: upcast logits, int64 targets, the counted mask.

    The target range is checked in one pass over a tensor the losses need anyway (the float binary target,
    or the cleaned class indices), with one host synchronisation. ``fast=False`` forces the general forms
    (tests compare the two).
    """
    check_inputs(logits, targets, ignore_index=ignore_index, loss=loss)
    x = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
    t = targets if targets.dtype == torch.int64 else targets.long()
    num_classes = 2 if x.shape[1] == 1 else x.shape[1]
    fast = fast and t.numel() > 0 and (ignore_index is None or not 0 <= ignore_index < num_classes)
    keep = None if ignore_index is None else t != ignore_index
    if t.numel() == 0:
        return Prepared(x, t, keep, ignore_index=ignore_index, fast=False)
    if fast and num_classes == 2:
        valid_mask = None if keep is None else keep.to(x.dtype)
        checked = t.to(x.dtype) if valid_mask is None else t.to(x.dtype).mul_(valid_mask)
        prepared = Prepared(
            x, t, keep, ignore_index=ignore_index, fast=True, binary_target=checked, valid_mask=valid_mask
        )
    elif fast and keep is not None:
        # K > 2 with an ignore value outside the classes: the cleaned targets, and their check, are built on
        # first use; cross-entropy alone never needs them, as torch's kernel checks the range (see CELoss)
        return Prepared(x, t, keep, ignore_index=ignore_index, fast=True, deferred_check=loss)
    else:
        checked = t if keep is None else torch.where(keep, t, torch.zeros_like(t))
        prepared = Prepared(x, t, keep, ignore_index=ignore_index, fast=fast, clean_targets=checked)
    _check_range_of(checked, x, ignore_index, loss)
    return prepared


def _check_range_of(checked: torch.Tensor, logits: torch.Tensor, ignore_index: int | None, loss: str) -> None:
    """One ``aminmax`` pass and one synchronisation over targets whose ignored pixels hold a valid value."""
    low, high = (int(v) for v in torch.stack(torch.aminmax(checked)).tolist())
    check_target_range(low, high, shape=tuple(logits.shape), ignore_index=ignore_index, loss=loss)


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
        return torch.tensor([1.0, pos_weight], dtype=prepared.logits.dtype, device=prepared.logits.device)
    if class_weights is None:
        return None
    if len(class_weights) != k:
        raise ConfigError(
            f"{loss}: 'class_weights' must have one weight per class ({k} for these logits"
            f"{', background then foreground' if k == 2 else ''}). Got {len(class_weights)}."
        )
    return torch.tensor(list(class_weights), dtype=prepared.logits.dtype, device=prepared.logits.device)
