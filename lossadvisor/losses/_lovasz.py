"""Lovász losses: convex surrogates of the Jaccard (IoU) loss (Berman, Rannen Triki & Blaschko 2018, CVPR).

One sigmoid channel uses the Lovász hinge on the logits; two or more channels use the Lovász-softmax on the
probabilities. Both sort the pixel errors, so they cost more than the other losses (O(P log P) per row).
Volumes ``(N, C, D, H, W)`` are flattened like images: a row's voxels form one list of errors, sorted as a
whole, so the 3-D loss is the Lovász extension of the volume's Jaccard loss (not an average over slices).
"""

from __future__ import annotations

import torch

from lossadvisor.losses import _functional as LF
from lossadvisor.losses._base import SegmentationLoss
from lossadvisor.losses._contract import Prepared


class LovaszLoss(SegmentationLoss):
    """Lovász hinge (``C == 1``) or Lovász-softmax (``C >= 2``): optimises the IoU the model is judged on.

    With hard predictions the Lovász-softmax of a class equals its Jaccard loss ``1 - IoU`` exactly; the
    hinge is zero once every pixel is on the right side with a margin of 1.

    Args:
        per_image: compute the loss per image and average (Berman et al. report it per image for Pascal VOC);
            the default scores the batch as one image, steadier when tiles are often empty.
        classes: multi-class only: ``"present"`` averages the classes that occur in the target
            (Berman et al.'s default, so an absent class does not count as a perfect score); ``"all"``
            averages every class.
        ignore_index: target value whose pixels take no part in the loss.

    The result is a scalar mean over rows with at least one counted pixel (and, for ``"present"``, at least
    one present class); a batch with nothing counted gives 0 with a zero gradient.
    """

    loss_name = "lovasz"

    def __init__(
        self, *, per_image: bool = False, classes: str = "present", ignore_index: int | None = None
    ) -> None:
        super().__init__()
        opts = self._options({"per_image": per_image, "classes": classes, "ignore_index": ignore_index})
        self.per_image: bool = opts["per_image"]
        self.classes: str = opts["classes"]
        self.ignore_index: int | None = opts["ignore_index"]

    def forward_prepared(self, inputs: Prepared) -> torch.Tensor:
        n = inputs.targets.shape[0]
        rows = n if self.per_image else 1
        valid = inputs.valid.reshape(rows, -1)
        if inputs.binary_sigmoid:
            logits = inputs.logits[:, 0].reshape(rows, -1)
            labels = inputs.targets.to(logits.dtype).reshape(rows, -1)
            losses = LF.lovasz_hinge(logits, labels, valid)
            keep = (valid.sum(dim=1) > 0).to(losses.dtype)
        else:
            k = inputs.num_classes
            order = (1, 0, *range(2, inputs.logits.ndim))  # classes first, then rows of flattened voxels
            probs = inputs.probs().permute(order).reshape(k, rows, -1).transpose(0, 1)
            onehot = inputs.one_hot().permute(order).reshape(k, rows, -1).transpose(0, 1)
            per_class = LF.lovasz_softmax(probs, onehot, valid)  # (rows, K)
            counted = (valid.sum(dim=1, keepdim=True) > 0).to(per_class.dtype)
            if self.classes == "present":
                chosen = (onehot.sum(dim=-1) > 0).to(per_class.dtype)
            else:
                chosen = counted.expand_as(per_class)
            losses = (per_class * chosen).sum(dim=1) / chosen.sum(dim=1).clamp_min(1.0)
            keep = (chosen.sum(dim=1) > 0).to(losses.dtype)
        return (losses * keep).sum() / keep.sum().clamp_min(1.0)
