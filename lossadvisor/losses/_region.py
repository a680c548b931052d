"""Region-based losses: overlap scores computed from soft sums over each image or the whole batch.

Dice, Tversky and focal Tversky share everything but the score (or the term made from it), so each variant
overrides one method, as segmentation_models_pytorch derives Tversky from Dice.

**How an absent class is scored.** ``smooth`` is added to numerator and denominator. A class with no target
pixel in a row (an image, or the batch when ``batch_dice``) and predicted mass P scores ``s / (s + P)``
(Tversky: ``s / (s + alpha P)``):
an empty prediction on an empty target gives loss 0, not the maximal loss, and false positives raise the loss
smoothly towards 1 with a gradient bounded by ``1 / s``. With the default ``s = 1`` one pixel's worth of false
probability already costs 0.5. A row with no counted pixel at all (every pixel ignored) is left out.

**Reductions.** Terms form a ``(B, K)`` matrix (B = N per image, 1 for batch Dice; K = scored classes).
``mean`` is their class-weighted mean over rows with counted pixels, ``sum`` the weighted sum, ``none`` the
weighted matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lossadvisor.losses import _functional as LF
from lossadvisor.losses._base import SegmentationLoss, reduce_terms
from lossadvisor.losses._contract import Prepared, class_weight_tensor


class _OverlapLoss(SegmentationLoss):
    """Shared machinery: soft sums, class selection, weighting and reduction."""

    squared: bool = False

    def _region_options(
        self,
        *,
        smooth: float,
        batch_dice: bool,
        include_background: bool,
        class_weights: Sequence[float] | None,
        ignore_index: int | None,
        reduction: str,
    ) -> None:
        opts = self._options(
            {
                "smooth": smooth,
                "batch_dice": batch_dice,
                "include_background": include_background,
                "class_weights": class_weights,
                "ignore_index": ignore_index,
                "reduction": reduction,
            }
        )
        self.smooth: float = opts["smooth"]
        self.batch_dice: bool = opts["batch_dice"]
        self.include_background: bool = opts["include_background"]
        self.class_weights: tuple[float, ...] | None = opts["class_weights"]
        self.ignore_index: int | None = opts["ignore_index"]
        self.reduction: str = opts["reduction"]

    def forward_prepared(self, inputs: Prepared) -> torch.Tensor:
        per_image = not self.batch_dice
        first = 0 if self.include_background else 1
        sums = inputs.region_sums(per_image=per_image, squared=self.squared, first_class=first)
        terms = self.term(self.score(*sums))
        weights = class_weight_tensor(inputs, self.class_weights, loss=self.loss_name)
        if weights is not None:
            weights = weights[first:]
        return reduce_terms(terms, inputs.row_validity(per_image=per_image), weights, self.reduction)

    def score(
        self, intersection: torch.Tensor, pred_sum: torch.Tensor, target_sum: torch.Tensor
    ) -> torch.Tensor:
        """Overlap score per (row, class), in (0, 1]."""
        raise NotImplementedError

    def term(self, score: torch.Tensor) -> torch.Tensor:
        """Loss term made from a score; ``1 - score`` unless a variant says otherwise."""
        return 1.0 - score


class DiceLoss(_OverlapLoss):
    """Soft Dice loss ``1 - (2 I + s) / (P + G + s)`` per class, averaged over the scored classes.

    Dice targets the overlap metric directly, which suits imbalanced data, but its gradient divides by the
    predicted and true masses: on tiny or absent objects it grows by orders of magnitude (Milletari et al.
    2016; see :func:`~lossadvisor.losses.gradient_norm`), and a few wrong pixels move it a lot. Mixing it
    with CE (:class:`~lossadvisor.losses.DiceCELoss`) steadies training.

    Args:
        smooth: added to numerator and denominator; sets how an absent class is scored (module docstring).
        squared: square the masses in the denominator, the V-Net form ``sum p^2 + sum g^2``.
        batch_dice: sum over the whole batch (nnU-Net) instead of scoring each image on its own.
        include_background: also score class 0 (for one sigmoid channel: the ``1 - p`` channel).
        log_dice: ``-log(Dice)`` instead of ``1 - Dice`` (Wong et al. 2018), steeper far from the optimum.
        class_weights: one weight per class (all C, background first) for the mean over classes.
        ignore_index: target value whose pixels take no part in the loss.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (module docstring).

    References: Milletari et al. 2016, V-Net (3DV); Sudre et al. 2017 (DLMIA).

    Example:
        >>> loss = DiceLoss(batch_dice=False)(torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8)))
    """

    loss_name = "dice"

    def __init__(
        self,
        *,
        smooth: float = 1.0,
        squared: bool = False,
        batch_dice: bool = True,
        include_background: bool = False,
        log_dice: bool = False,
        class_weights: Sequence[float] | None = None,
        ignore_index: int | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        opts = self._options({"squared": squared, "log_dice": log_dice})
        self.squared = opts["squared"]
        self.log_dice: bool = opts["log_dice"]
        self._region_options(
            smooth=smooth,
            batch_dice=batch_dice,
            include_background=include_background,
            class_weights=class_weights,
            ignore_index=ignore_index,
            reduction=reduction,
        )

    def score(
        self, intersection: torch.Tensor, pred_sum: torch.Tensor, target_sum: torch.Tensor
    ) -> torch.Tensor:
        return LF.dice_score(intersection, pred_sum, target_sum, self.smooth)

    def term(self, score: torch.Tensor) -> torch.Tensor:
        return -torch.log(score) if self.log_dice else 1.0 - score


class TverskyLoss(_OverlapLoss):
    """Tversky loss ``1 - (TP + s) / (TP + alpha FP + beta FN + s)`` (Salehi et al. 2017, MLMI).

    **alpha weighs FALSE POSITIVES and beta FALSE NEGATIVES** (as in Salehi et al. and MONAI). Some papers and
    libraries swap the two letters (Abraham & Khan 2019 put alpha on false negatives): check before copying a
    published setting. ``beta > 0.5`` favours recall, what small structures under imbalance need; alpha =
    beta = 0.5 is Dice.

    Args:
        alpha: false-positive weight; ``None`` means ``1 - beta``.
        beta: false-negative weight (default 0.7, Salehi et al.'s best).
        smooth, batch_dice, include_background, class_weights, ignore_index, reduction: as :class:`DiceLoss`.
    """

    loss_name = "tversky"

    def __init__(
        self,
        *,
        alpha: float | None = None,
        beta: float = 0.7,
        smooth: float = 1.0,
        batch_dice: bool = True,
        include_background: bool = False,
        class_weights: Sequence[float] | None = None,
        ignore_index: int | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        opts = self._options({"alpha": alpha, "beta": beta})
        self.beta: float = opts["beta"]
        self.alpha: float = 1.0 - self.beta if opts["alpha"] is None else opts["alpha"]
        self._region_options(
            smooth=smooth,
            batch_dice=batch_dice,
            include_background=include_background,
            class_weights=class_weights,
            ignore_index=ignore_index,
            reduction=reduction,
        )

    def score(
        self, intersection: torch.Tensor, pred_sum: torch.Tensor, target_sum: torch.Tensor
    ) -> torch.Tensor:
        return LF.tversky_score(
            intersection, pred_sum, target_sum, alpha=self.alpha, beta=self.beta, smooth=self.smooth
        )


class FocalTverskyLoss(TverskyLoss):
    """Focal Tversky loss ``(1 - TI) ** gamma`` (Abraham & Khan 2019, ISBI).

    Abraham & Khan write the exponent as ``1 / gamma`` with gamma = 4/3; here ``gamma`` is the exponent
    itself, so their setting is 0.75 (the default). Exponents below 1 raise the loss of nearly-right
    classes, above 1 lower it. alpha (false positives) and beta (false negatives) as :class:`TverskyLoss`
    (their paper names them the other way round).
    """

    loss_name = "focal_tversky"

    def __init__(
        self,
        *,
        alpha: float | None = None,
        beta: float = 0.7,
        gamma: float = 0.75,
        smooth: float = 1.0,
        batch_dice: bool = True,
        include_background: bool = False,
        class_weights: Sequence[float] | None = None,
        ignore_index: int | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            alpha=alpha,
            beta=beta,
            smooth=smooth,
            batch_dice=batch_dice,
            include_background=include_background,
            class_weights=class_weights,
            ignore_index=ignore_index,
            reduction=reduction,
        )
        self.gamma: float = self._options({"gamma": gamma})["gamma"]

    def term(self, score: torch.Tensor) -> torch.Tensor:
        return LF.safe_pow(1.0 - score, self.gamma)


class GeneralizedDiceLoss(SegmentationLoss):
    """Generalized Dice loss: one score over all classes, each weighted by its inverse squared volume.

    Sudre et al. (2017, DLMIA) weight class k by ``1 / G_k ** 2`` so a class of a few pixels counts as much as
    the background. An absent class (G_k = 0) takes the largest weight of the present classes (MONAI's rule),
    so false positives on it still cost; the weights are normalised to sum 1 per row (see
    :func:`~lossadvisor.losses._functional.generalized_dice_weights`).

    Args:
        weight_type: ``"square"`` (Sudre), ``"simple"`` (1/G) or ``"uniform"``.
        smooth: added to numerator and denominator. The weights are normalised to sum 1, so the
            denominator is a weighted mean class volume in pixels and the default 1 is one pixel, the same
            absent-class rule as :class:`DiceLoss` (MONAI's 1e-5 is on its unnormalised 1/G^2 scale).
        batch_dice: one score for the batch, or one per image.
        include_background: score class 0 too (default, as Sudre et al.).
        ignore_index: target value whose pixels take no part in the loss.
        reduction: ``"mean"`` or ``"sum"`` over rows, or ``"none"`` for the ``(B,)`` vector.
    """

    loss_name = "generalized_dice"

    def __init__(
        self,
        *,
        weight_type: str = "square",
        smooth: float = 1.0,
        batch_dice: bool = True,
        include_background: bool = True,
        ignore_index: int | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        opts = self._options(
            {
                "weight_type": weight_type,
                "smooth": smooth,
                "batch_dice": batch_dice,
                "include_background": include_background,
                "ignore_index": ignore_index,
                "reduction": reduction,
            }
        )
        self.weight_type: str = opts["weight_type"]
        self.smooth: float = opts["smooth"]
        self.batch_dice: bool = opts["batch_dice"]
        self.include_background: bool = opts["include_background"]
        self.ignore_index: int | None = opts["ignore_index"]
        self.reduction: str = opts["reduction"]

    def forward_prepared(self, inputs: Prepared) -> torch.Tensor:
        per_image = not self.batch_dice
        intersection, pred_sum, target_sum = inputs.region_sums(
            per_image=per_image, first_class=0 if self.include_background else 1
        )
        weights = LF.generalized_dice_weights(target_sum, self.weight_type)
        rows = 1.0 - LF.generalized_dice_score(intersection, pred_sum, target_sum, weights, self.smooth)
        reduced = reduce_terms(
            rows.unsqueeze(1), inputs.row_validity(per_image=per_image), None, self.reduction
        )
        return reduced[:, 0] if self.reduction == "none" else reduced
