"""Compound losses: a region term mixed with a pixel term, checked once and computed from shared inputs.

``mix * region + (1 - mix) * pixel`` with ``mix`` in [0, 1]. A term whose weight is 0 is not computed, so
``mix = 0`` returns exactly the pixel loss and ``mix = 1`` exactly the region loss (bit for bit, and no
gradient leaks from the other term). Both terms are means, so the mix is a plain weighted average of
numbers on comparable scales (Dice in [0, 1], CE about 0.7 at chance for binary).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lossadvisor.losses import _functional as LF
from lossadvisor.losses._base import SegmentationLoss, reduce_pixels, reduce_terms
from lossadvisor.losses._contract import Prepared
from lossadvisor.losses._distribution import CELoss, FocalLoss, WeightedCELoss
from lossadvisor.losses._region import DiceLoss


class _MixedLoss(SegmentationLoss):
    """``mix * dice + (1 - mix) * pixel`` over one :class:`Prepared` input."""

    dice: DiceLoss
    pixel: SegmentationLoss
    mix: float

    def _dice_options(
        self, *, smooth: float, squared: bool, batch_dice: bool, include_background: bool, log_dice: bool
    ) -> DiceLoss:
        self._options(
            {
                "smooth": smooth,
                "squared": squared,
                "batch_dice": batch_dice,
                "include_background": include_background,
                "log_dice": log_dice,
            }
        )
        return DiceLoss(
            smooth=smooth,
            squared=squared,
            batch_dice=batch_dice,
            include_background=include_background,
            log_dice=log_dice,
            ignore_index=self._config.get("ignore_index"),
        )

    def forward_prepared(self, inputs: Prepared) -> torch.Tensor:
        if self.mix == 0.0:
            return self.pixel.forward_prepared(inputs)
        if self.mix == 1.0:
            return self.dice.forward_prepared(inputs)
        region = self.dice.forward_prepared(inputs)
        pixel = self.pixel.forward_prepared(inputs)
        return self.mix * region + (1.0 - self.mix) * pixel


class DiceCELoss(_MixedLoss):
    """``mix * Dice + (1 - mix) * CE``: Dice's overlap objective with cross-entropy's steady gradients.

    The mix bounds Dice's gradient explosions on tiny objects (CE's per-pixel gradient is at most
    1 / pixels) while keeping its insensitivity to imbalance; nnU-Net trains every dataset with Dice + CE at
    equal weights, i.e. mix 0.5 up to a factor 2 (Isensee et al. 2021). ``pos_weight`` / ``class_weights``
    weight the CE term only.

    Args:
        mix: weight of the Dice term in [0, 1]; 0 is :class:`CELoss`, 1 is :class:`DiceLoss`.
        smooth, squared, batch_dice, include_background, log_dice: the Dice term, as :class:`DiceLoss`.
        pos_weight, class_weights: weights of the CE term, as :class:`WeightedCELoss`.
        ignore_index: target value whose pixels take no part in either term.

    Example:
        >>> loss_fn = DiceCELoss(mix=0.3, ignore_index=255)
    """

    loss_name = "dice_ce"

    def __init__(
        self,
        *,
        mix: float = 0.5,
        smooth: float = 1.0,
        squared: bool = False,
        batch_dice: bool = True,
        include_background: bool = False,
        log_dice: bool = False,
        pos_weight: float | None = None,
        class_weights: Sequence[float] | None = None,
        ignore_index: int | None = None,
    ) -> None:
        super().__init__()
        opts = self._options(
            {
                "mix": mix,
                "pos_weight": pos_weight,
                "class_weights": class_weights,
                "ignore_index": ignore_index,
            }
        )
        self.mix = opts["mix"]
        self.dice = self._dice_options(
            smooth=smooth,
            squared=squared,
            batch_dice=batch_dice,
            include_background=include_background,
            log_dice=log_dice,
        )
        if pos_weight is None and class_weights is None:
            self.pixel = CELoss(ignore_index=ignore_index)
        else:
            self.pixel = WeightedCELoss(
                pos_weight=pos_weight, class_weights=class_weights, ignore_index=ignore_index
            )


class DiceFocalLoss(_MixedLoss):
    """``mix * Dice + (1 - mix) * focal``: for imbalance where CE's easy background still dominates.

    References: Zhu et al. 2019, AnatomyNet (Medical Physics); Lin et al. 2017 (focal loss).

    Args:
        mix: weight of the Dice term in [0, 1]; 0 is :class:`FocalLoss`, 1 is :class:`DiceLoss`.
        gamma, alpha, class_weights: the focal term, as :class:`FocalLoss`.
        smooth, squared, batch_dice, include_background, log_dice: the Dice term, as :class:`DiceLoss`.
        ignore_index: target value whose pixels take no part in either term.
    """

    loss_name = "dice_focal"

    def __init__(
        self,
        *,
        mix: float = 0.5,
        gamma: float = 2.0,
        alpha: float | None = None,
        smooth: float = 1.0,
        squared: bool = False,
        batch_dice: bool = True,
        include_background: bool = False,
        log_dice: bool = False,
        class_weights: Sequence[float] | None = None,
        ignore_index: int | None = None,
    ) -> None:
        super().__init__()
        opts = self._options({"mix": mix, "ignore_index": ignore_index})
        self.mix = opts["mix"]
        self.dice = self._dice_options(
            smooth=smooth,
            squared=squared,
            batch_dice=batch_dice,
            include_background=include_background,
            log_dice=log_dice,
        )
        self.pixel = FocalLoss(
            gamma=gamma, alpha=alpha, class_weights=class_weights, ignore_index=ignore_index
        )
        self._config.update(
            {"gamma": self.pixel.gamma, "alpha": alpha, "class_weights": self.pixel.class_weights}
        )


class UnifiedFocalLoss(SegmentationLoss):
    """Asymmetric unified focal loss (Yeung et al. 2022, Computerized Medical Imaging and Graphics).

    ``weight * L_aF + (1 - weight) * L_aFT``: an asymmetric focal CE that suppresses only the background's
    easy pixels, plus an asymmetric focal Tversky term that enhances only the rare classes' loss. Class 0 is
    the background; every other class is treated as rare (Yeung et al. define the binary case; this is its
    natural multi-class form). As in MONAI, each term is averaged over the classes (the paper sums them, so
    values are the paper's divided by the number of classes); Tversky indices are computed per image.

    Args:
        weight: lambda, the share of the focal CE term.
        delta: weight of false negatives (1 - delta on false positives) and of rare-class CE (paper: 0.6).
        gamma: background CE is scaled by ``(1 - p) ** gamma``, rare Tversky terms raised to ``1 - gamma``.
        smooth: added to the Tversky numerator and denominator (see the region losses' absent-class rule).
        ignore_index: target value whose pixels take no part in the loss.
    """

    loss_name = "unified_focal"

    def __init__(
        self,
        *,
        weight: float = 0.5,
        delta: float = 0.6,
        gamma: float = 0.5,
        smooth: float = 1.0,
        ignore_index: int | None = None,
    ) -> None:
        super().__init__()
        opts = self._options(
            {"weight": weight, "delta": delta, "gamma": gamma, "smooth": smooth, "ignore_index": ignore_index}
        )
        self.weight: float = opts["weight"]
        self.delta: float = opts["delta"]
        self.gamma: float = opts["gamma"]
        self.smooth: float = opts["smooth"]
        self.ignore_index: int | None = opts["ignore_index"]

    def forward_prepared(self, inputs: Prepared) -> torch.Tensor:
        k = inputs.num_classes
        loss = inputs.logits.new_zeros(())
        if self.weight > 0.0:
            focal = LF.asymmetric_focal_map(
                inputs.log_pt(), inputs.is_background(), delta=self.delta, gamma=self.gamma
            )
            loss = loss + self.weight * reduce_pixels(focal, inputs.valid_mask, "mean") / k
        if self.weight < 1.0:
            sums = inputs.region_sums(per_image=True)
            terms = LF.asymmetric_focal_tversky(*sums, delta=self.delta, gamma=self.gamma, smooth=self.smooth)
            rows = inputs.row_validity(per_image=True)
            loss = loss + (1.0 - self.weight) * reduce_terms(terms, rows, None, "mean")
        return loss
