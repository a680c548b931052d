"""Region sums of a binary problem from one logit map, with a fused backward.

A binary region loss needs, per row, the soft intersection ``I = sum p g`` and the predicted mass
``P = sum p`` of class 1 (and of class 0 when the background is scored). Written with autograd ops that is
a sigmoid, products and sums, and backwards one graph node and one full pass per op; on a binary batch the
per-op cost is most of the loss's time. Here the forward is a sigmoid and one product-sum per term, and the
backward two passes whatever is scored (without ``squared``), from

``dL/dp = (a1 + a0) g + (b1 - a0 - b0) v``  (``a = dL/dI``, ``b = dL/dP``; class 0 has ``q = 1 - p``)

then ``dL/dz = dL/dp * p (1 - p)``, where ``g`` is the class-1 target and ``v`` the counted-pixel mask.
"""

from __future__ import annotations

from typing import Any

import torch


def binary_region_sums(
    logit: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None,
    *,
    per_image: bool,
    squared: bool = False,
    background: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`~lossadvisor.losses._functional.region_sums` of a binary problem, without two channels.

    Args:
        logit: ``(N, H, W)`` logit of class 1 against class 0: ``p_1 = sigmoid(logit)``.
        target: ``(N, H, W)`` float, 1 at counted class-1 pixels, 0 elsewhere.
        valid: ``(N, H, W)`` counted-pixel mask, or ``None`` when every pixel counts.
        per_image: one row per image rather than one for the batch.
        squared: sum ``p ** 2`` in the predicted mass (the V-Net denominator).
        background: also return class 0's column (first); otherwise only class 1's, shape ``(B, 1)``.

    Class 0's probability is ``sigmoid(-logit)``, not ``1 - p_1``, so it keeps its precision near 0.
    """
    rows = logit.shape[0] if per_image else 1
    inter_fg, pred_fg, inter_bg, pred_bg = _BinaryRegionSums.apply(
        logit, target, valid, per_image, squared, background
    )
    with torch.no_grad():
        flat_g = target.reshape(rows, -1)
        true_fg = flat_g.sum(1)
    if not background:
        return inter_fg.unsqueeze(1), pred_fg.unsqueeze(1), true_fg.unsqueeze(1)
    counted = valid.reshape(rows, -1).sum(1) if valid is not None else float(flat_g.shape[1])
    true_bg = counted - true_fg
    return (
        torch.stack([inter_bg, inter_fg], dim=1),
        torch.stack([pred_bg, pred_fg], dim=1),
        torch.stack([true_bg, true_fg], dim=1),
    )


def _product_sum(a: torch.Tensor, b: torch.Tensor, per_image: bool) -> torch.Tensor:
    """Row sums of ``a * b`` for ``(B, P)`` inputs; one dot product (no temporary) for a single row."""
    return (a * b).sum(1) if per_image else torch.dot(a[0], b[0]).reshape(1)


class _BinaryRegionSums(torch.autograd.Function):
    """``(I_1, P_1, I_0, P_0)`` per row; ``I_0``, ``P_0`` are empty unless ``background``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        logit: torch.Tensor,
        target: torch.Tensor,
        valid: torch.Tensor | None,
        per_image: bool,
        squared: bool,
        background: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = logit.shape[0] if per_image else 1
        prob = torch.sigmoid(logit)
        flat_p, flat_g = prob.reshape(rows, -1), target.reshape(rows, -1)
        flat_v = None if valid is None else valid.reshape(rows, -1)
        inter_fg = _product_sum(flat_p, flat_g, per_image)
        pred_fg = _mass(flat_p, flat_v, squared, per_image)
        inter_bg = pred_bg = inter_fg.new_zeros(0)
        if background:
            flat_q = torch.sigmoid(-logit).reshape(rows, -1)
            truth_bg = (1.0 - flat_g) if flat_v is None else flat_v - flat_g
            inter_bg = _product_sum(flat_q, truth_bg, per_image)
            pred_bg = _mass(flat_q, flat_v, squared, per_image)
        ctx.save_for_backward(prob, target, valid)
        ctx.options = (per_image, squared, background)
        return inter_fg, pred_fg, inter_bg, pred_bg

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, *grads: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        prob, target, valid = ctx.saved_tensors
        per_image, squared, background = ctx.options
        if not ctx.needs_input_grad[0]:
            return (None,) * 6
        spatial_ones = (1,) * (prob.ndim - 1)  # broadcast one value per row over every spatial axis
        shape = (-1, *spatial_ones) if per_image else (1, *spatial_ones)
        a1, b1 = grads[0].reshape(shape), grads[1].reshape(shape)
        a0, b0 = (grads[2].reshape(shape), grads[3].reshape(shape)) if background else (0.0, 0.0)
        coef_g = a1 + a0
        if not squared:
            # broadcast only in in-place ops: torch.addcmul with a broadcast first operand is ~20x slower
            grad_p = target.mul(coef_g)
            if valid is None:
                grad_p.add_(b1 - a0 - b0)
            else:
                grad_p.addcmul_(valid, b1 - a0 - b0)
        else:  # P = sum p^2 v: its derivative is 2 p v (class 0: -2 q v)
            mask = 1.0 if valid is None else valid
            grad_p = coef_g * target + (2.0 * (b1 * prob - b0 * (1.0 - prob)) - a0) * mask
        # dL/dz = dL/dp * p (1 - p), written over dL/dp: no further full-size tensor
        grad_z = torch.ops.aten.sigmoid_backward.grad_input(grad_p, prob, grad_input=grad_p)
        return grad_z, None, None, None, None, None


def _mass(prob: torch.Tensor, valid: torch.Tensor | None, squared: bool, per_image: bool) -> torch.Tensor:
    """Row sums of ``p`` (or ``p ** 2``) over counted pixels."""
    if squared:
        return _product_sum(prob * prob, valid, per_image) if valid is not None else (prob * prob).sum(1)
    return _product_sum(prob, valid, per_image) if valid is not None else prob.sum(1)
