"""torch.autograd.gradcheck in float64 on small inputs: analytic gradients match finite differences."""

from __future__ import annotations

import pytest
import torch

from lossadvisor.losses import LOSSES, build_loss

OPTIONS = {
    "weighted_ce": [{"pos_weight": 3.0}, {"class_weights": [0.5, 1.0, 2.0]}],
    "focal": [{"gamma": 2.0}, {"gamma": 0.5, "alpha": 0.3}, {"gamma": 1.5, "class_weights": [1.0, 2.0, 3.0]}],
    "dice": [{}, {"squared": True, "batch_dice": False}, {"log_dice": True, "include_background": True}],
    "tversky": [{"beta": 0.8}],
    "focal_tversky": [{"gamma": 0.75}, {"gamma": 2.0, "batch_dice": False}],
    "generalized_dice": [{}, {"weight_type": "simple", "batch_dice": False}],
    "lovasz": [{}, {"per_image": True, "classes": "all"}],
    "dice_ce": [{"mix": 0.4}, {"mix": 0.7, "squared": True, "class_weights": [1.0, 2.0, 0.5]}],
    "dice_focal": [{"mix": 0.5, "gamma": 2.0}],
    "unified_focal": [{}, {"weight": 0.2, "gamma": 0.3}],
}


def _cases():
    for name in LOSSES:
        for params in OPTIONS.get(name, [{}]):
            for channels in (1, 3):
                if channels == 1 and "class_weights" in params:
                    continue
                if channels == 3 and ("pos_weight" in params or "alpha" in params):
                    continue
                yield pytest.param(name, params, channels, id=f"{name}-{params}-C{channels}")


@pytest.mark.parametrize(("name", "params", "channels"), list(_cases()))
def test_gradcheck(name, params, channels):
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(2, channels, 3, 3, generator=g, dtype=torch.float64) * 1.5).requires_grad_(True)
    t = torch.randint(0, max(channels, 2), (2, 3, 3), generator=g)
    t[0, 0, 0] = 255  # an ignored pixel: its gradient must be exactly zero, which gradcheck also checks
    loss_fn = build_loss(name, ignore_index=255, **params)
    assert torch.autograd.gradcheck(lambda z: loss_fn(z, t), (x,), eps=1e-6, atol=1e-6, rtol=1e-4)
