"""Segmentation losses behind one contract, their registry, class-weight helpers and a gradient diagnostic.

Every loss takes logits ``(N, C, *spatial)`` and int64 targets ``(N, *spatial)`` (images or volumes); binary
is ``C == 1`` (sigmoid) or ``C == 2`` (softmax). ``ignore_index`` pixels take no part in any term. See
``docs/ARCHITECTURE.md``.

The registry (:data:`LOSSES`, :func:`get_spec`, :func:`build_loss`) and the class-weight helpers import no
torch, so ``lossadvisor advise`` starts fast; the loss classes and :func:`gradient_norm` are loaded on first
use through the module ``__getattr__`` below.

Example:
    >>> from lossadvisor.losses import build_loss
    >>> loss_fn = build_loss("dice_ce", mix=0.3)           # doctest: +SKIP
    >>> loss = loss_fn(model(images), masks)                # doctest: +SKIP
"""

from __future__ import annotations

from lossadvisor._lazy import lazy_names
from lossadvisor.losses._registry import LOSSES, build_loss, get_spec, list_losses
from lossadvisor.losses._spec import BOUNDED_LR_TEST_NOTE, LossSpec, ParamSpec
from lossadvisor.losses._weights import (
    class_weights_from_frequencies,
    class_weights_from_profile,
    pos_weight_from_frequency,
)

# Public names that need torch, and the private module that defines each.
_LAZY = {
    "CELoss": "_distribution",
    "WeightedCELoss": "_distribution",
    "FocalLoss": "_distribution",
    "DiceLoss": "_region",
    "TverskyLoss": "_region",
    "FocalTverskyLoss": "_region",
    "GeneralizedDiceLoss": "_region",
    "LovaszLoss": "_lovasz",
    "DiceCELoss": "_compound",
    "DiceFocalLoss": "_compound",
    "UnifiedFocalLoss": "_compound",
    "gradient_norm": "_diagnostics",
}


__getattr__, __dir__ = lazy_names(globals(), _LAZY)

__all__ = [
    "BOUNDED_LR_TEST_NOTE",
    "LOSSES",
    "LossSpec",
    "ParamSpec",
    "build_loss",
    "class_weights_from_frequencies",
    "class_weights_from_profile",
    "get_spec",
    "list_losses",
    "pos_weight_from_frequency",
    *_LAZY,
]
