"""Every loss on volumes ``(N, C, D, H, W)``: the same contract, values and rules as on images.

Three kinds of check, none of which reads the expected value off our own code:

* MONAI references on 3-D tensors (MONAI's losses take any number of spatial axes), with the convention
  mapping of ``test_losses_monai.py``;
* an invariant: every loss sums or sorts over the spatial axes as one set of voxels, so a volume
  ``(N, C, D, H, W)`` and the image ``(N, C, D * H, W)`` made of its slices stacked give the same value and
  the same gradient (Lovász included: its voxels are flattened in the same order);
* gradcheck in float64 and the awkward cases (empty and all-background volumes, a fully ignored batch).
"""

from __future__ import annotations

import warnings

import pytest
import torch

from lossadvisor.losses import LOSSES, build_loss

monai_losses = pytest.importorskip("monai.losses")

ATOL = 1e-5
IGNORE = 255


def _volumes(channels: int, seed: int = 0, n: int = 2, shape=(5, 6, 7)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, channels, *shape, generator=g, dtype=torch.float64) * 2.0
    targets = torch.randint(0, max(channels, 2), (n, *shape), generator=g)
    return logits, targets


def _monai(cls_name: str, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(monai_losses, cls_name)(**kwargs)


def _params(name: str, channels: int) -> dict:
    params: dict = {}
    if name == "weighted_ce":
        params = {"pos_weight": 3.0} if channels == 1 else {"class_weights": [0.5, 1.0, 2.0][:channels]}
    return params


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [False, True])
def test_dice_softmax_matches_monai_in_3d(batch, include_background):
    x, t = _volumes(3)
    ours = build_loss("dice", smooth=1e-5, batch_dice=batch, include_background=include_background)(x, t)
    ref = _monai(
        "DiceLoss", softmax=True, to_onehot_y=True, include_background=include_background,
        smooth_nr=1e-5, smooth_dr=1e-5, batch=batch,
    )(x, t.unsqueeze(1))  # fmt: skip
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)


@pytest.mark.parametrize("squared", [False, True])
def test_dice_sigmoid_matches_monai_in_3d(squared):
    x, t = _volumes(1, seed=1)
    ours = build_loss("dice", smooth=1.0, squared=squared, batch_dice=False)(x, t)
    ref = _monai("DiceLoss", sigmoid=True, squared_pred=squared, smooth_nr=1.0, smooth_dr=1.0)(
        x, t.unsqueeze(1).double()
    )
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)


def test_dice_ce_matches_monai_in_3d():
    x, t = _volumes(4, seed=2)
    ours = build_loss("dice_ce", mix=0.5, smooth=1e-5, batch_dice=False, include_background=True)(x, t)
    ref = _monai(
        "DiceCELoss", softmax=True, to_onehot_y=True, lambda_dice=0.5, lambda_ce=0.5, smooth_nr=1e-5,
        smooth_dr=1e-5,
    )(x, t.unsqueeze(1))  # fmt: skip
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)


def test_focal_matches_monai_in_3d():
    x, t = _volumes(3, seed=4)
    ours = build_loss("focal", gamma=2.0)(x, t)
    ref = _monai("FocalLoss", gamma=2.0, use_softmax=True, to_onehot_y=True)(x, t.unsqueeze(1))
    assert float(ours) == pytest.approx(3 * float(ref), abs=ATOL)  # MONAI averages over C as well


def test_focal_sigmoid_matches_monai_in_3d():
    x, t = _volumes(1, seed=5)
    ours = build_loss("focal", gamma=2.0, alpha=0.25)(x, t)
    ref = _monai("FocalLoss", gamma=2.0, alpha=0.25)(x, t.unsqueeze(1).double())
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)


@pytest.mark.parametrize("batch", [False, True])
def test_tversky_matches_monai_in_3d(batch):
    x, t = _volumes(3, seed=6)
    ours = build_loss("tversky", alpha=0.3, beta=0.7, smooth=1e-5, batch_dice=batch, include_background=True)
    ref = _monai(
        "TverskyLoss", softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7, smooth_nr=1e-5, smooth_dr=1e-5,
        batch=batch,
    )  # fmt: skip
    assert float(ours(x, t)) == pytest.approx(float(ref(x, t.unsqueeze(1))), abs=ATOL)


def test_generalized_dice_matches_monai_in_3d():
    x, t = _volumes(3, seed=7)
    ours = build_loss("generalized_dice", smooth=1e-8, batch_dice=False)(x, t)
    ref = _monai(
        "GeneralizedDiceLoss", softmax=True, to_onehot_y=True, smooth_nr=1e-8, smooth_dr=1e-8, batch=False
    )(x, t.unsqueeze(1))
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)


def test_unified_focal_matches_monai_in_3d():
    x, t = _volumes(2, seed=9)
    ours = build_loss("unified_focal", weight=0.5, delta=0.6, gamma=0.5, smooth=1e-7)(x, t)
    ref = _monai("AsymmetricUnifiedFocalLoss", to_onehot_y=True, weight=0.5, delta=0.6, gamma=0.5)(
        torch.softmax(x, dim=1), t.unsqueeze(1)
    )
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)


@pytest.mark.parametrize("ignored", [False, True], ids=["all-counted", "ignore"])
@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("name", list(LOSSES))
def test_a_volume_scores_like_its_slices_stacked_into_one_image(name, channels, ignored):
    """Value and gradient on ``(N, C, D, H, W)`` equal those on the reshaped image ``(N, C, D*H, W)``."""
    x, t = _volumes(channels, seed=13, shape=(4, 5, 6))
    if ignored:
        t[:, 1, 2:4, :3] = IGNORE
    params = _params(name, channels) | ({"ignore_index": IGNORE} if ignored else {})
    loss_fn = build_loss(name, **params)
    volume = x.clone().requires_grad_(True)
    image = x.clone().reshape(2, channels, 20, 6).requires_grad_(True)
    value_3d = loss_fn(volume, t)
    value_2d = loss_fn(image, t.reshape(2, 20, 6))
    value_3d.backward()
    value_2d.backward()
    assert float(value_3d.detach()) == pytest.approx(float(value_2d.detach()), abs=1e-10)
    assert torch.allclose(volume.grad.reshape(image.shape), image.grad, atol=1e-10)
    assert float(value_3d.detach()) > 0.0  # random logits: a loss of 0 would mean the voxels were never read


def test_a_volume_differs_from_a_different_volume():
    """The invariant above is not trivially true: moving foreground between volumes changes per-image Dice."""
    x, t = _volumes(1, seed=3, shape=(4, 4, 4))
    loss_fn = build_loss("dice", batch_dice=False)
    swapped = t.clone()
    swapped[0, 0], swapped[1, 0] = t[1, 0], t[0, 0]
    assert float(loss_fn(x, t)) != pytest.approx(float(loss_fn(x, swapped)), abs=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", list(LOSSES))
def test_gradcheck_in_3d(name, channels):
    params = _params(name, channels)
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(2, channels, 2, 3, 3, generator=g, dtype=torch.float64) * 1.5).requires_grad_(True)
    t = torch.randint(0, max(channels, 2), (2, 2, 3, 3), generator=g)
    t[0, 1, 0, 0] = IGNORE  # an ignored voxel: its gradient must be exactly zero
    loss_fn = build_loss(name, ignore_index=IGNORE, **params)
    assert torch.autograd.gradcheck(lambda z: loss_fn(z, t), (x,), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("case", ["all_background", "fully_ignored", "one_voxel_lesion", "extreme_logits"])
@pytest.mark.parametrize("channels", [1, 3])
def test_awkward_volumes_give_finite_values_and_gradients(case, channels):
    g = torch.Generator().manual_seed(11)
    k = max(channels, 2)
    x = torch.randn(2, channels, 6, 8, 8, generator=g) * 3
    t = torch.randint(0, k, (2, 6, 8, 8), generator=g)
    if case == "all_background":
        t.zero_()
    elif case == "fully_ignored":
        t.fill_(IGNORE)
    elif case == "one_voxel_lesion":
        t.zero_()
        t[:, 3, 4, 5] = k - 1
        x = x - 8.0
    elif case == "extreme_logits":
        x = torch.sign(torch.randn(x.shape, generator=g)) * 1e4
    for name in LOSSES:
        params = _params(name, channels) | {"ignore_index": IGNORE}
        logits = x.clone().requires_grad_(True)
        loss = build_loss(name, **params)(logits, t)
        loss.backward()
        assert torch.isfinite(loss), (name, float(loss.detach()))
        assert torch.isfinite(logits.grad).all(), name
        if case == "fully_ignored":
            assert float(loss.detach()) == 0.0 and torch.all(logits.grad == 0), name


def test_an_empty_volume_predicted_empty_scores_near_zero():
    """All-background volumes: an empty prediction is near loss 0, a full one is far from it."""
    t = torch.zeros(2, 6, 8, 8, dtype=torch.long)
    empty, full = torch.full((2, 1, 6, 8, 8), -12.0), torch.full((2, 1, 6, 8, 8), 12.0)
    region = ("dice", "tversky", "focal_tversky", "generalized_dice", "lovasz", "dice_ce", "unified_focal")
    for name in region:
        for per_image in (False, True):
            defaults = LOSSES[name].defaults()
            params = {"per_image": per_image} if name == "lovasz" else {}
            if "batch_dice" in defaults:
                params["batch_dice"] = not per_image
            loss_fn = build_loss(name, **params)
            low, high = float(loss_fn(empty, t)), float(loss_fn(full, t))
            assert low < 0.01 and high > 10 * low + 0.3, (name, per_image, low, high)
