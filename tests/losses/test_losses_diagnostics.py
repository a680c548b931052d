"""gradient_norm reproduces the known behaviour: V-Net Dice explodes on tiny objects, CE does not, a mix
with CE bounds it.

The batch: eight 128x128 tiles, each with a one-pixel object, scored by a model that already predicts
background everywhere (logits -5): the moment early in training where Dice runs wild.
"""

from __future__ import annotations

import pytest
import torch

from lossadvisor.errors import DataError
from lossadvisor.losses import build_loss, gradient_norm

N, SIZE, BACKGROUND_LOGIT = 8, 128, -5.0
VNET = {"squared": True, "batch_dice": False, "smooth": 1e-5}  # Milletari et al.'s form, per image


@pytest.fixture(scope="module")
def tiny_objects() -> tuple[torch.Tensor, torch.Tensor]:
    targets = torch.zeros(N, SIZE, SIZE, dtype=torch.long)
    for i in range(N):
        targets[i, 10 + 7 * i, 20 + 5 * i] = 1
    return torch.full((N, 1, SIZE, SIZE), BACKGROUND_LOGIT), targets


def test_vnet_dice_gradient_is_far_larger_than_ce(tiny_objects):
    logits, targets = tiny_objects
    ce = gradient_norm(build_loss("ce"), logits, targets)
    dice = gradient_norm(build_loss("dice", **VNET), logits, targets)
    assert dice > 50 * ce  # about 96x here; the gap grows with the tile size (CE's shrinks as 1/sqrt(pixels))


@pytest.mark.parametrize("mix", [0.1, 0.5, 0.9])
def test_mixing_with_ce_bounds_it(tiny_objects, mix):
    logits, targets = tiny_objects
    ce = gradient_norm(build_loss("ce"), logits, targets)
    dice = gradient_norm(build_loss("dice", **VNET), logits, targets)
    mixed = gradient_norm(build_loss("dice_ce", mix=mix, **VNET), logits, targets)
    assert mixed <= mix * dice + (1 - mix) * ce + 1e-12  # the mix scales Dice's share linearly
    assert mixed >= mix * dice - (1 - mix) * ce - 1e-12


def test_the_default_dice_form_is_far_calmer(tiny_objects):
    """Batch-level Sorensen Dice with smooth = 1 (the defaults) stays within a few times CE's gradient."""
    logits, targets = tiny_objects
    ce = gradient_norm(build_loss("ce"), logits, targets)
    assert gradient_norm(build_loss("dice"), logits, targets) < 5 * ce


def test_gradient_norm_matches_autograd_and_leaves_the_input_alone():
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    t = torch.randint(0, 3, (2, 5, 5))
    loss_fn = build_loss("ce")
    expected = torch.autograd.grad(loss_fn(x, t), x)[0].norm()
    assert gradient_norm(loss_fn, x, t) == pytest.approx(float(expected), rel=1e-6)
    assert x.grad is None


def test_gradient_norm_needs_a_scalar():
    with pytest.raises(DataError, match=r"needs a scalar loss\. Got shape \(2, 4, 4\); use reduction='mean'"):
        gradient_norm(
            build_loss("ce", reduction="none"), torch.zeros(2, 1, 4, 4), torch.zeros(2, 4, 4).long()
        )
