"""The cheap forms of the common case give the numbers of the general K-channel forms.

``prepare(..., fast=False)`` forces the general forms (log-probabilities of every class, one-hot targets, an
all-ones mask); the default takes the fast ones (the binary case as one logit, torch's fused cross-entropy,
no mask when nothing is ignored, a fused backward for binary region sums). On random float32 inputs, for
C = 1, 2 and 5, with and without ``ignore_index``, values and gradients must agree to float32 rounding.
"""

from __future__ import annotations

import pytest
import torch

from lossadvisor.losses import LOSSES, build_loss
from lossadvisor.losses._binary import binary_region_sums
from lossadvisor.losses._contract import LossInputError, prepare

IGNORE = 255

# option sets that reach every branch of the fast forms (weights, squared masses, per-image rows, background)
VARIANTS = {
    "ce": [{}, {"reduction": "sum"}, {"reduction": "none"}],
    "weighted_ce": [
        {"class_weights": "ramp"},
        {"pos_weight": 3.0},
        {"class_weights": "ramp", "reduction": "none"},
    ],
    "focal": [{}, {"gamma": 0.5, "class_weights": "ramp"}, {"alpha": 0.3}],
    "dice": [
        {},
        {"squared": True, "batch_dice": False},
        {"include_background": True, "log_dice": True},
        {"squared": True, "include_background": True, "class_weights": "ramp", "reduction": "none"},
    ],
    "tversky": [{}, {"batch_dice": False, "include_background": True}],
    "focal_tversky": [{}, {"gamma": 2.0, "batch_dice": False}],
    "generalized_dice": [{}, {"batch_dice": False, "weight_type": "simple"}, {"include_background": False}],
    "lovasz": [{}, {"per_image": True, "classes": "all"}],
    "dice_ce": [{}, {"mix": 0.3, "batch_dice": False, "class_weights": "ramp"}],
    "dice_focal": [{}, {"alpha": 0.25, "include_background": True}],
    "unified_focal": [{}, {"weight": 0.2, "gamma": 0.3}],
}
BINARY_ONLY = ("pos_weight", "alpha")


def _cases():
    for name in LOSSES:
        for i, params in enumerate(VARIANTS[name]):
            for channels in (1, 2, 5):
                if channels == 5 and any(key in params for key in BINARY_ONLY):
                    continue
                for ignore in (None, IGNORE):
                    yield pytest.param(name, params, channels, ignore, id=f"{name}{i}-C{channels}-{ignore}")


def _params(params: dict, channels: int, ignore: int | None) -> dict:
    k = max(channels, 2)
    out = {key: ([0.5 + i for i in range(k)] if value == "ramp" else value) for key, value in params.items()}
    return out if ignore is None else {**out, "ignore_index": ignore}


def _inputs(channels: int, ignore: int | None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, channels, 9, 11, generator=g) * 3.0
    t = torch.randint(0, max(channels, 2), (3, 9, 11), generator=g)
    if ignore is not None:
        t[torch.rand(t.shape, generator=g) < 0.25] = ignore
        t[1] = ignore  # one image with nothing counted: per-image rows must drop it on both paths
    return x, t


def test_the_benchmark_inputs_take_the_fast_path():
    """Without this, the agreement below could compare the general path with itself."""
    for channels in (1, 2, 5):
        for ignore in (None, IGNORE):
            x, t = _inputs(channels, ignore)
            assert prepare(x, t, ignore_index=ignore, loss="ce").fast
            assert not prepare(x, t, ignore_index=ignore, loss="ce", fast=False).fast
    x, t = _inputs(5, None)
    assert not prepare(x, t, ignore_index=0, loss="ce").fast  # a class index as ignore value: general


@pytest.mark.parametrize(("name", "params", "channels", "ignore"), list(_cases()))
def test_fast_and_general_paths_agree(name, params, channels, ignore):
    x, t = _inputs(channels, ignore)
    loss_fn = build_loss(name, **_params(params, channels, ignore))

    fast_x = x.clone().requires_grad_(True)
    fast = loss_fn(fast_x, t)
    general_x = x.clone().requires_grad_(True)
    general = loss_fn.forward_prepared(prepare(general_x, t, ignore_index=ignore, loss=name, fast=False))
    assert fast.dtype == general.dtype == torch.float32 and fast.shape == general.shape
    torch.testing.assert_close(fast, general, rtol=2e-5, atol=2e-6)

    fast.sum().backward()
    general.sum().backward()
    torch.testing.assert_close(fast_x.grad, general_x.grad, rtol=1e-4, atol=1e-7)
    if ignore is not None:
        ignored = (t == ignore).unsqueeze(1).expand_as(x)
        assert torch.all(fast_x.grad[ignored] == 0)


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_fused_binary_sums_pass_gradcheck(per_image, squared, background, masked):
    g = torch.Generator().manual_seed(3)
    logit = (torch.randn(2, 4, 5, generator=g, dtype=torch.float64) * 2).requires_grad_(True)
    valid = (torch.rand(2, 4, 5, generator=g) > 0.3).double() if masked else None
    target = (torch.rand(2, 4, 5, generator=g) > 0.5).double() * (1.0 if valid is None else valid)
    mix = torch.randn(6, generator=g, dtype=torch.float64)

    def scalar(z: torch.Tensor) -> torch.Tensor:
        inter, pred, _ = binary_region_sums(
            z, target, valid, per_image=per_image, squared=squared, background=background
        )
        # a generic smooth function of every output, so each output's gradient is checked
        return (mix[: inter.numel()] * inter.reshape(-1)).sum() + (
            mix[: pred.numel()] * pred.reshape(-1) ** 2
        ).sum()

    assert torch.autograd.gradcheck(scalar, (logit,), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_fused_binary_sums_equal_the_two_channel_sums():
    g = torch.Generator().manual_seed(4)
    logit = torch.randn(3, 6, 7, generator=g, dtype=torch.float64) * 3
    target = (torch.rand(3, 6, 7, generator=g) > 0.6).double()
    inter, pred, true = binary_region_sums(logit, target, None, per_image=True, background=True)
    probs = torch.stack([torch.sigmoid(-logit), torch.sigmoid(logit)], dim=1)
    onehot = torch.stack([1.0 - target, target], dim=1)
    torch.testing.assert_close(inter, (probs * onehot).sum(dim=(2, 3)))
    torch.testing.assert_close(pred, probs.sum(dim=(2, 3)))
    torch.testing.assert_close(true, onehot.sum(dim=(2, 3)))


@pytest.mark.parametrize("channels", [1, 2, 5])
def test_fast_path_still_reports_an_out_of_range_index_beside_ignored_pixels(channels):
    x, t = _inputs(channels, IGNORE)
    t[2, 3, 4] = 9
    with pytest.raises(LossInputError, match=r"index 9 is out of range .*\(ignore_index=255\)"):
        build_loss("dice", ignore_index=IGNORE)(x, t)
    t[2, 3, 4] = -3
    with pytest.raises(LossInputError, match=r"index -3 is out of range"):
        build_loss("ce", ignore_index=IGNORE)(x, t)
