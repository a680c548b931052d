"""How hard a loss pushes on the logits: the gradient-norm diagnostic training uses to flag explosions.

Dice's gradient divides by the predicted and true masses (Milletari et al. 2016, Eq. 2); on a batch of tiny
objects with a model that predicts background it is orders of magnitude larger than cross-entropy's, whose
per-pixel gradient ``(p - y) / pixels`` is bounded. Measuring it on the user's own batches turns that folklore
into a number (``tests/losses/test_losses_diagnostics.py`` reproduces it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lossadvisor.errors import DataError


def gradient_norm(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], logits: torch.Tensor, targets: torch.Tensor
) -> float:
    """L2 norm of ``d loss / d logits`` for one batch, without touching any model parameter.

    Args:
        loss_fn: any loss following the contract (a lossadvisor loss or a compatible callable).
        logits: ``(N, C, H, W)`` logits; they are detached and copied, so the caller's graph is left alone.
        targets: ``(N, H, W)`` class indices.

    Returns:
        The Euclidean norm of the gradient over all logits (``inf`` or ``nan`` if the loss produced one).

    Raises:
        DataError: the loss did not return a scalar (use ``reduction="mean"`` or ``"sum"``).

    Example:
        >>> from lossadvisor.losses import DiceLoss
        >>> logits, targets = torch.randn(2, 1, 8, 8), torch.randint(0, 2, (2, 8, 8))
        >>> norm = gradient_norm(DiceLoss(), logits, targets)
    """
    probe = logits.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(probe, targets)
        if loss.ndim != 0:
            raise DataError(
                f"gradient_norm needs a scalar loss. Got shape {tuple(loss.shape)}; "
                "use reduction='mean' or 'sum'."
            )
        (grad,) = torch.autograd.grad(loss, probe)
    return float(grad.double().norm())
