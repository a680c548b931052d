"""The ``nn.Module`` base every loss shares: option checks against the registry, input checks, reductions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from lossadvisor.losses._contract import Prepared, prepare
from lossadvisor.losses._registry import validate_options


class SegmentationLoss(nn.Module):
    """Base of every lossadvisor loss: ``forward(logits (N, C, *spatial), targets (N, *spatial) int64)``.

    Subclasses set :attr:`loss_name` (their registry name), check their options with :meth:`_options` and
    implement :meth:`forward_prepared`, which compound losses call to share one input check.
    """

    loss_name: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()
        self._config: dict[str, Any] = {}

    def _options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check constructor options against the registry entry (ranges written once, same messages)."""
        checked = validate_options(self.loss_name, options)
        self._config.update(checked)
        return checked

    @property
    def config(self) -> dict[str, Any]:
        """The options this loss was built with: ``build_loss(loss.loss_name, **loss.config)`` rebuilds it."""
        return dict(self._config)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss of ``logits`` ``(N, C, *spatial)`` against class indices ``targets`` ``(N, *spatial)``."""
        return self.forward_prepared(self.prepare(logits, targets))

    def prepare(self, logits: torch.Tensor, targets: torch.Tensor) -> Prepared:
        return prepare(logits, targets, ignore_index=self._config.get("ignore_index"), loss=self.loss_name)

    def forward_prepared(self, inputs: Prepared) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self._config.items())


def reduce_pixels(loss_map: torch.Tensor, valid: torch.Tensor | None, reduction: str) -> torch.Tensor:
    """Reduce a per-pixel ``(N, H, W)`` map: ``mean`` over counted pixels, ``sum``, or the map (0 if ignored).

    ``valid`` is the ``(N, H, W)`` counted-pixel mask, or ``None`` when every pixel counts (no mask pass).
    A batch with no counted pixel gives 0 with a zero gradient, never 0 / 0.
    """
    if valid is not None:
        loss_map = loss_map * valid
    if reduction == "none":
        return loss_map
    total = loss_map.sum()
    if reduction == "sum":
        return total
    count = valid.sum().clamp_min(1.0) if valid is not None else max(loss_map.numel(), 1)
    return total / count


def reduce_terms(
    terms: torch.Tensor, row_valid: torch.Tensor | None, weights: torch.Tensor | None, reduction: str
) -> torch.Tensor:
    """Reduce ``(B, K)`` per (row, class) terms; rows without a counted pixel are left out.

    ``row_valid`` is ``(B,)`` 1.0 per counted row, or ``None`` when every row counts. ``mean`` is the
    (class-weighted) mean over counted rows and classes; ``sum`` the weighted sum; ``none`` the weighted
    ``(B, K)`` matrix.
    """
    if weights is not None:
        terms = terms * weights
    if reduction == "none":
        return terms
    kept = terms if row_valid is None else terms * row_valid.unsqueeze(1)
    if reduction == "sum":
        return kept.sum()
    class_total = weights.sum() if weights is not None else float(terms.shape[1])
    denominator = (float(terms.shape[0]) if row_valid is None else row_valid.sum()) * class_total
    if torch.is_tensor(denominator):
        return kept.sum() / denominator.clamp_min(1e-12)
    return kept.sum() / max(denominator, 1e-12)
