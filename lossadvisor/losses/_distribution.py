"""Distribution-based losses: a per-pixel term averaged over the counted pixels (CE, weighted CE, focal).

``mean`` divides by the number of counted pixels, not by the sum of the pixel weights as
``torch.nn.CrossEntropyLoss(weight=...)`` does: that way ``C == 1`` with ``pos_weight=w`` and ``C == 2`` with
``class_weights=(1, w)`` give the same value as ``BCEWithLogitsLoss(pos_weight=w)``, and weights normalised by
:func:`~lossadvisor.losses.class_weights_from_profile` keep the loss on the scale of plain CE.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from lossadvisor.errors import ConfigError
from lossadvisor.losses import _functional as LF
from lossadvisor.losses._base import SegmentationLoss, reduce_pixels
from lossadvisor.losses._contract import LossInputError, Prepared, class_weight_tensor

_NO_IGNORE = -100  # F.cross_entropy's default; the target check has already refused negative indices


class CELoss(SegmentationLoss):
    """Cross-entropy: binary cross-entropy for one sigmoid channel, softmax cross-entropy otherwise.

    The baseline every candidate must beat; the right choice when classes are roughly balanced.

    Args:
        ignore_index: target value whose pixels take no part in the loss.
        reduction: ``"mean"`` over counted pixels, ``"sum"``, or ``"none"`` for the ``(N, H, W)`` map.

    Example:
        >>> loss = CELoss(ignore_index=255)(torch.zeros(2, 1, 4, 4), torch.ones(2, 4, 4, dtype=torch.long))
    """

    loss_name = "ce"

    def __init__(self, *, ignore_index: int | None = None, reduction: str = "mean") -> None:
        super().__init__()
        opts = self._options({"ignore_index": ignore_index, "reduction": reduction})
        self.ignore_index: int | None = opts["ignore_index"]
        self.reduction: str = opts["reduction"]
        self.pos_weight: float | None = None
        self.class_weights: tuple[float, ...] | None = None

    def forward_prepared(self, inputs: Prepared) -> torch.Tensor:
        weights = class_weight_tensor(
            inputs, self.class_weights, pos_weight=self.pos_weight, loss=self.loss_name
        )
        if inputs.fast:
            return self._torch_cross_entropy(inputs, weights)
        return self._weighted_reduce(self.pixel_map(inputs), inputs, weights)

    def pixel_map(self, inputs: Prepared) -> torch.Tensor:
        """The unweighted per-pixel loss ``(N, H, W)``; :class:`FocalLoss` overrides it."""
        return -inputs.log_pt()

    def _weighted_reduce(
        self, loss_map: torch.Tensor, inputs: Prepared, weights: torch.Tensor | None
    ) -> torch.Tensor:
        if weights is not None:
            loss_map = loss_map * inputs.weight_map(weights)
        return reduce_pixels(loss_map, inputs.valid_mask, self.reduction)

    def _torch_cross_entropy(self, inputs: Prepared, weights: torch.Tensor | None) -> torch.Tensor:
        """The common case through torch's fused kernels: BCE-with-logits on the binary logit, else
        ``F.cross_entropy`` on the raw targets with its own ``ignore_index``; ``mean`` over counted pixels.

        With an ``ignore_index`` :func:`prepare` leaves the multi-class range check to first use; on the CPU
        torch's kernel checks every counted index itself, so a bad one is reported here with the contract's
        message, and no pass of ours is spent on it.
        """
        reduction = "none" if self.reduction == "none" else "sum"
        # torch's own mean is ours when every pixel counts (BCE: always; CE: unweighted, as it divides by
        # the weights' sum): one node less than summing and dividing
        own_mean = self.reduction == "mean" and inputs.keep is None
        if own_mean and (inputs.num_classes == 2 or weights is None):
            reduction = "mean"
        if inputs.num_classes == 2:
            mask, pos_weight = inputs.valid_mask, None
            if weights is not None and self.pos_weight is not None:
                pos_weight = weights[1]  # weights are (1, pos_weight): BCE's own form
            elif weights is not None:
                pixel_weights = inputs.weight_map(weights)
                mask = pixel_weights if mask is None else pixel_weights * mask
            loss = F.binary_cross_entropy_with_logits(
                inputs.binary_logit,
                inputs.binary_target,
                weight=mask,
                pos_weight=pos_weight,
                reduction=reduction,
            )
        else:
            ignore = inputs.ignore_index if inputs.ignore_index is not None else _NO_IGNORE
            if inputs.logits.device.type != "cpu":
                inputs.check_targets()  # CUDA kernels assert on a bad index instead of raising
            try:
                loss = F.cross_entropy(
                    inputs.logits,
                    inputs.raw_targets,
                    weight=weights,
                    ignore_index=ignore,
                    reduction=reduction,
                )
            except (IndexError, RuntimeError) as torch_error:
                try:
                    inputs.check_targets()  # the contract's message, naming the index and the ignore value
                except LossInputError as error:
                    raise error from None
                raise torch_error
        if self.reduction == "mean" and reduction == "sum":
            loss = loss / inputs.count()
        return loss


class WeightedCELoss(CELoss):
    """Cross-entropy with a positive weight (binary) or one weight per class.

    Give ``pos_weight`` (foreground over background, as ``BCEWithLogitsLoss``) or ``class_weights``; compute
    either from the dataset with :func:`~lossadvisor.losses.pos_weight_from_frequency` or
    :func:`~lossadvisor.losses.class_weights_from_profile`, which clip the weights: over-weighted CE makes the
    network paint the rare class everywhere.

    References: Ronneberger et al. 2015 (U-Net weight maps); Eigen & Fergus 2015 (median frequency balancing).
    """

    loss_name = "weighted_ce"

    def __init__(
        self,
        *,
        pos_weight: float | None = None,
        class_weights: Sequence[float] | None = None,
        ignore_index: int | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(ignore_index=ignore_index, reduction=reduction)
        opts = self._options({"pos_weight": pos_weight, "class_weights": class_weights})
        if opts["pos_weight"] is not None and opts["class_weights"] is not None:
            raise ConfigError(
                "weighted_ce takes 'pos_weight' (binary) or 'class_weights', not both. Got both "
                f"pos_weight={pos_weight!r} and class_weights={class_weights!r}."
            )
        if opts["pos_weight"] is None and opts["class_weights"] is None:
            warnings.warn("weighted_ce without pos_weight or class_weights is plain CE.", stacklevel=2)
        self.pos_weight = opts["pos_weight"]
        self.class_weights = opts["class_weights"]


class FocalLoss(CELoss):
    """Focal loss ``-alpha_t (1 - p_t) ** gamma log p_t`` (Lin et al. 2017, ICCV).

    The factor ``(1 - p_t) ** gamma`` shrinks the loss of pixels already classified well, so the mass of easy
    background stops dominating the gradient. ``gamma = 0`` is CE.

    Args:
        gamma: focusing exponent (Lin et al. use 2; the tuner searches [1, 3]).
        alpha: binary only: weight of foreground pixels, ``1 - alpha`` for background (Lin et al. use 0.25).
        class_weights: one weight per class (the multi-class form of ``alpha``).
        ignore_index: target value whose pixels take no part in the loss.
        reduction: ``"mean"`` over counted pixels, ``"sum"`` or ``"none"``.
    """

    loss_name = "focal"

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        alpha: float | None = None,
        class_weights: Sequence[float] | None = None,
        ignore_index: int | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(ignore_index=ignore_index, reduction=reduction)
        opts = self._options({"gamma": gamma, "alpha": alpha, "class_weights": class_weights})
        if opts["alpha"] is not None and opts["class_weights"] is not None:
            raise ConfigError("focal takes 'alpha' (binary) or 'class_weights', not both.")
        self.gamma: float = opts["gamma"]
        self.alpha: float | None = opts["alpha"]
        self.class_weights = opts["class_weights"]

    def forward_prepared(self, inputs: Prepared) -> torch.Tensor:
        if self.alpha is not None:
            if inputs.num_classes != 2:
                raise ConfigError(
                    f"focal: 'alpha' is for binary segmentation; the logits have C = {inputs.num_classes}. "
                    "Use 'class_weights' with one weight per class instead."
                )
            weights = inputs.logits.new_tensor([1.0 - self.alpha, self.alpha])
        else:
            weights = class_weight_tensor(inputs, self.class_weights, loss=self.loss_name)
        return self._weighted_reduce(self.pixel_map(inputs), inputs, weights)

    def pixel_map(self, inputs: Prepared) -> torch.Tensor:
        return LF.focal_from_log_pt(inputs.log_pt(), self.gamma)
