"""The maths of every loss as pure functions of tensors; no validation, no reduction choices, no state.

Shapes: ``log_probs`` ``(N, K, H, W)``; ``targets`` ``(N, H, W)`` int64 (ignored pixels already replaced by a
valid index and masked out through ``valid``); ``valid`` ``(N, H, W)`` in {0, 1}. ``H, W`` stands for any
number of spatial axes (``D, H, W`` for volumes). Region statistics
(``intersection``, ``pred_sum``, ``target_sum``) have shape ``(B, K)``: one row per image, or a single row for
batch-level scores.

Numerical rules (see ``tests/losses/test_losses_numerics.py``):

* Probabilities come from log-probabilities (log-sigmoid / log-softmax), so logits of +-1e4 never give
  ``log(0)``; ``1 - p`` is computed as ``-expm1(log p)`` to keep its precision near p = 1.
* Powers with an exponent below 1 have an infinite slope at 0, so their base is clamped at ``POW_EPS``.
* Region scores add ``smooth`` to numerator and denominator (Laplace smoothing). An absent class (no target
  pixel in the row) with predicted mass P then scores ``smooth / (smooth + P)``: 1 (loss 0) for an empty
  prediction, falling smoothly as false positives grow, with a slope bounded by ``1 / smooth``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POW_EPS = 1e-6  # smallest base of a fractional power: keeps the slope of x ** 0.5 at 0 finite


def cross_entropy_map(log_probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-pixel ``-log p_t``, shape ``(N, H, W)``."""
    return -log_probs.gather(1, targets.unsqueeze(1)).squeeze(1)


def focal_map(log_probs: torch.Tensor, targets: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-pixel focal loss ``-(1 - p_t) ** gamma * log p_t`` (Lin et al. 2017), shape ``(N, H, W)``."""
    return focal_from_log_pt(log_probs.gather(1, targets.unsqueeze(1)).squeeze(1), gamma)


def focal_from_log_pt(log_pt: torch.Tensor, gamma: float) -> torch.Tensor:
    """Focal loss from the log-probability of the true class; ``1 - p_t`` is ``-expm1(log p_t)``."""
    if gamma == 0.0:
        return -log_pt
    modulator = safe_pow(-torch.expm1(log_pt), gamma)
    return -modulator * log_pt


def binary_log_pt(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``log p_t`` of a binary problem from the class-1 logit and the 0/1 target: ``logsigmoid(±logit)``."""
    return F.logsigmoid(logit * (2.0 * target - 1.0))


def safe_pow(base: torch.Tensor, exponent: float) -> torch.Tensor:
    """``base ** exponent`` for ``base`` in [0, 1] with a finite slope everywhere.

    Exponents of 1 or more are left alone (the slope at 0 is 0 or 1). Below 1 the slope at 0 is infinite, so
    the base is clamped at :data:`POW_EPS`: the value never drops below ``POW_EPS ** exponent`` (3e-5 for the
    focal Tversky default 0.75), the price of a finite gradient at a perfect prediction.
    """
    if exponent >= 1.0:
        return base if exponent == 1.0 else base.pow(exponent)
    return base.clamp_min(POW_EPS).pow(exponent)


def region_sums(
    probs: torch.Tensor, onehot: torch.Tensor, *, per_image: bool, squared: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft intersection, predicted mass and target mass per (row, class).

    Args:
        probs: ``(N, K, H, W)`` probabilities, already zero at ignored pixels.
        onehot: ``(N, K, H, W)`` one-hot targets, zero at ignored pixels.
        per_image: one row per image (``(N, K)``) rather than one row for the batch (``(1, K)``).
        squared: sum ``p ** 2`` and ``g ** 2`` in the masses (the V-Net denominator).
    """
    spatial = tuple(range(2, probs.ndim))
    intersection = (probs * onehot).sum(dim=spatial)
    pred_sum = (probs * probs if squared else probs).sum(dim=spatial)
    target_sum = onehot.sum(dim=spatial)  # g ** 2 == g for one-hot targets
    if not per_image:
        intersection, pred_sum, target_sum = (
            t.sum(0, keepdim=True) for t in (intersection, pred_sum, target_sum)
        )
    return intersection, pred_sum, target_sum


def dice_score(
    intersection: torch.Tensor, pred_sum: torch.Tensor, target_sum: torch.Tensor, smooth: float
) -> torch.Tensor:
    """Soft Sorensen-Dice ``(2 I + s) / (P + G + s)`` (Milletari et al. 2016 with squared masses)."""
    return (2.0 * intersection + smooth) / (pred_sum + target_sum + smooth)


def tversky_score(
    intersection: torch.Tensor,
    pred_sum: torch.Tensor,
    target_sum: torch.Tensor,
    *,
    alpha: float,
    beta: float,
    smooth: float,
) -> torch.Tensor:
    """Tversky index ``(TP + s) / (TP + alpha * FP + beta * FN + s)`` (Salehi et al. 2017).

    ``alpha`` weighs FALSE POSITIVES and ``beta`` FALSE NEGATIVES; alpha = beta = 0.5 is Dice.
    """
    false_pos = (pred_sum - intersection).clamp_min(0.0)
    false_neg = (target_sum - intersection).clamp_min(0.0)
    return (intersection + smooth) / (intersection + alpha * false_pos + beta * false_neg + smooth)


def generalized_dice_weights(target_sum: torch.Tensor, weight_type: str) -> torch.Tensor:
    """Sudre et al. (2017) class weights per row, normalised to sum 1 over the classes.

    ``"square"``: ``1 / G ** 2``; ``"simple"``: ``1 / G``; ``"uniform"``: 1. A class absent from a row (G = 0)
    would get an infinite weight; like MONAI it gets the largest weight of the present classes instead, and a
    row with no class present weighs every class equally. The normalisation leaves the score unchanged but
    keeps ``smooth`` on the scale of a pixel whatever the class volumes.
    """
    if weight_type == "uniform":
        weights = torch.ones_like(target_sum)
    else:
        power = 2.0 if weight_type == "square" else 1.0
        present = target_sum > 0
        weights = torch.where(present, target_sum.clamp_min(1e-12).pow(-power), torch.zeros_like(target_sum))
        row_max = weights.max(dim=1, keepdim=True).values
        weights = torch.where(present, weights, row_max)
        weights = torch.where(row_max > 0, weights, torch.ones_like(weights))
    return (weights / weights.sum(dim=1, keepdim=True)).detach()


def generalized_dice_score(
    intersection: torch.Tensor,
    pred_sum: torch.Tensor,
    target_sum: torch.Tensor,
    weights: torch.Tensor,
    smooth: float,
) -> torch.Tensor:
    """``(2 sum_k w_k I_k + s) / (sum_k w_k (P_k + G_k) + s)`` per row, shape ``(B,)``."""
    numerator = 2.0 * (weights * intersection).sum(dim=1) + smooth
    denominator = (weights * (pred_sum + target_sum)).sum(dim=1) + smooth
    return numerator / denominator


def lovasz_grad(gt_sorted: torch.Tensor, valid_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss w.r.t. errors sorted in decreasing order.

    Along the last axis (Berman et al. 2018, Alg. 1). ``gt_sorted`` is 0/1 (0 at ignored pixels) and
    ``valid_sorted`` marks counted pixels: an ignored pixel joins neither the intersection nor the union, so
    its gradient is 0 and it changes nobody else's, wherever the sort put it. The union is clamped at 1 (it is
    0 only before the first counted pixel), so there is no division by zero.
    """
    gts = gt_sorted.sum(dim=-1, keepdim=True)
    intersection = gts - gt_sorted.cumsum(dim=-1)
    union = gts + ((1.0 - gt_sorted) * valid_sorted).cumsum(dim=-1)
    jaccard = 1.0 - intersection / union.clamp_min(1.0)
    return torch.cat([jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]], dim=-1)


def lovasz_hinge(logits: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Binary Lovasz hinge per row: ``logits``, ``labels`` (0/1), ``valid`` are ``(B, P)``; returns ``(B,)``.

    Ignored pixels get a hinge error of -1, so relu makes their term 0. The hinge errors are unbounded, so the
    rows are sorted exactly.
    """
    signs = 2.0 * labels - 1.0
    errors = (1.0 - logits * signs).masked_fill(valid == 0, -1.0)
    errors_sorted, order = torch.sort(errors, dim=-1, descending=True)
    grad = lovasz_grad(labels.gather(-1, order) * valid.gather(-1, order), valid.gather(-1, order))
    return (torch.relu(errors_sorted) * grad).sum(dim=-1)


def lovasz_softmax(probs: torch.Tensor, onehot: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Lovasz-softmax per (row, class), shape ``(B, K)`` (Berman et al. 2018, Eq. 12).

    ``probs``, ``onehot``: ``(B, K, P)``, zero at ignored pixels; ``valid``: ``(B, P)``. The caller chooses
    which classes to average.

    The errors ``|g - p|`` lie in [0, 1], so they are ranked on a grid of :data:`LOVASZ_SORT_LEVELS` steps
    (:func:`descending_order`). Any order is a vertex of the base polytope, so the result is a lower bound of
    the exact Lovasz extension, below it by at most one grid step (1.5e-5; the gradient entries are
    non-negative and sum to at most 1), and exact whenever no two distinct errors share a step.
    """
    errors = (onehot - probs).abs()  # 0 at ignored pixels: they add nothing to the sum
    order = descending_order(errors.detach())
    mask = valid.unsqueeze(1).expand_as(probs)
    grad = lovasz_grad(onehot.gather(-1, order), mask.gather(-1, order))
    return (errors.gather(-1, order) * grad).sum(dim=-1)


LOVASZ_SORT_LEVELS = 65535  # 16-bit ranks: a linear-time radix sort, ~15x faster than a float sort on CPU


def descending_order(errors: torch.Tensor) -> torch.Tensor:
    """Indices sorting ``errors`` (in [0, 1]) in decreasing order along the last axis, on a 16-bit grid.

    Ties within one grid step keep their position order (stable), so CPU (numpy's radix sort) and other
    devices (``torch.sort``) give the same permutation.
    """
    keys = (errors.clamp(0.0, 1.0) * LOVASZ_SORT_LEVELS).round().to(torch.int32)
    if keys.device.type == "cpu":
        import numpy as np

        flipped = (LOVASZ_SORT_LEVELS - keys).numpy().astype(np.uint16)
        return torch.from_numpy(np.argsort(flipped, axis=-1, kind="stable")).to(torch.int64)
    return torch.sort(keys, dim=-1, descending=True, stable=True).indices


def asymmetric_focal_map(
    log_pt: torch.Tensor, background: torch.Tensor, *, delta: float, gamma: float
) -> torch.Tensor:
    """Per-pixel asymmetric focal loss (Yeung et al. 2022, Eq. 16), shape ``(N, H, W)``.

    ``log_pt``: log-probability of each pixel's true class; ``background``: bool, the pixel is class 0.
    Background pixels: ``-(1 - delta) * (1 - p_0) ** gamma * log p_0`` (suppressed when easy);
    foreground pixels: ``-delta * log p_t`` (never suppressed, the "asymmetric" part).
    """
    suppress = safe_pow(-torch.expm1(log_pt), gamma)
    scale = torch.where(background, (1.0 - delta) * suppress, torch.full_like(log_pt, delta))
    return -scale * log_pt


def asymmetric_focal_tversky(
    intersection: torch.Tensor,
    pred_sum: torch.Tensor,
    target_sum: torch.Tensor,
    *,
    delta: float,
    gamma: float,
    smooth: float,
) -> torch.Tensor:
    """Per (row, class) asymmetric focal Tversky loss (Yeung et al. 2022, Eq. 18), shape ``(B, K)``.

    Modified Tversky index with ``delta`` on false negatives and ``1 - delta`` on false positives; the
    background column is ``1 - mTI``, every other class ``(1 - mTI) ** (1 - gamma)`` (enhanced when hard).
    """
    mti = tversky_score(intersection, pred_sum, target_sum, alpha=1.0 - delta, beta=delta, smooth=smooth)
    loss = 1.0 - mti
    enhanced = safe_pow(loss, 1.0 - gamma)
    return torch.cat([loss[:, :1], enhanced[:, 1:]], dim=1)
