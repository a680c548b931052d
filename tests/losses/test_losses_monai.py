"""Agreement with MONAI's implementations on random inputs, where the conventions match (within 1e-5).

Convention mapping (ours -> MONAI):
* targets ``(N, H, W)`` class indices -> MONAI ``(N, 1, H, W)`` with ``to_onehot_y=True`` (softmax inputs) or
  the float mask itself (one sigmoid channel);
* one sigmoid channel, our ``include_background=False`` (score the foreground) -> MONAI ``sigmoid=True,
  include_background=True`` (its only channel is the foreground);
* ``smooth`` -> ``smooth_nr = smooth_dr = smooth``; ``batch_dice`` -> ``batch``; ``squared`` ->
  ``squared_pred``; Tversky ``alpha`` (false positives) and ``beta`` (false negatives) mean the same in both;
* focal: MONAI's ``mean`` averages over N*C*H*W elements, ours over the N*H*W pixels of a per-pixel loss, so
  ours = C x MONAI's for softmax inputs (equal for one sigmoid channel);
* generalized Dice: our Sudre weights are normalised to sum 1 per row; with a negligible ``smooth`` the
  ratio is the same;
* ``AsymmetricUnifiedFocalLoss`` takes probabilities (it applies no activation), so it gets
  ``softmax(logits)``; its epsilon (1e-7) is our ``smooth``.
"""

from __future__ import annotations

import warnings

import pytest
import torch

monai_losses = pytest.importorskip("monai.losses")

from lossadvisor.losses import build_loss  # noqa: E402

ATOL = 1e-5


def _inputs(channels: int, seed: int = 0, n: int = 2, size: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, channels, size, size, generator=g) * 2.0
    targets = torch.randint(0, max(channels, 2), (n, size, size), generator=g)
    return logits.double(), targets


def _monai(cls_name: str, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(monai_losses, cls_name)(**kwargs)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("include_background", [False, True])
def test_dice_softmax(squared, batch, include_background):
    x, t = _inputs(3)
    ours = build_loss(
        "dice", smooth=1e-5, squared=squared, batch_dice=batch, include_background=include_background
    )(x, t)
    ref = _monai(
        "DiceLoss", softmax=True, to_onehot_y=True, include_background=include_background,
        squared_pred=squared, smooth_nr=1e-5, smooth_dr=1e-5, batch=batch,
    )(x, t.unsqueeze(1))  # fmt: skip
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)


@pytest.mark.parametrize("batch", [False, True])
def test_dice_sigmoid(batch):
    x, t = _inputs(1, seed=1)
    ours = build_loss("dice", smooth=1.0, batch_dice=batch)(x, t)
    ref = _monai("DiceLoss", sigmoid=True, smooth_nr=1.0, smooth_dr=1.0, batch=batch)(
        x, t.unsqueeze(1).double()
    )
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)


@pytest.mark.parametrize("mix", [0.2, 0.5, 0.9])
def test_dice_ce(mix):
    x, t = _inputs(4, seed=2)
    ours = build_loss("dice_ce", mix=mix, smooth=1e-5, batch_dice=False, include_background=True)(x, t)
    ref = _monai(
        "DiceCELoss", softmax=True, to_onehot_y=True, lambda_dice=mix, lambda_ce=1 - mix, smooth_nr=1e-5,
        smooth_dr=1e-5,
    )(x, t.unsqueeze(1))  # fmt: skip
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)


def test_dice_ce_sigmoid():
    x, t = _inputs(1, seed=3)
    ours = build_loss("dice_ce", mix=0.4, smooth=1e-5, batch_dice=False)(x, t)
    ref = _monai("DiceCELoss", sigmoid=True, lambda_dice=0.4, lambda_ce=0.6, smooth_nr=1e-5, smooth_dr=1e-5)(
        x, t.unsqueeze(1).double()
    )
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)


@pytest.mark.parametrize("gamma", [0.5, 2.0, 3.0])
def test_focal_softmax(gamma):
    x, t = _inputs(3, seed=4)
    ours = build_loss("focal", gamma=gamma)(x, t)
    ref = _monai("FocalLoss", gamma=gamma, use_softmax=True, to_onehot_y=True)(x, t.unsqueeze(1))
    assert float(ours) == pytest.approx(3 * float(ref), abs=ATOL)


@pytest.mark.parametrize("alpha", [None, 0.25])
def test_focal_sigmoid(alpha):
    x, t = _inputs(1, seed=5)
    ours = build_loss("focal", gamma=2.0, alpha=alpha)(x, t)
    ref = _monai("FocalLoss", gamma=2.0, alpha=alpha)(x, t.unsqueeze(1).double())
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)


@pytest.mark.parametrize(("alpha", "beta"), [(0.3, 0.7), (0.7, 0.3), (0.5, 0.5)])
@pytest.mark.parametrize("batch", [False, True])
def test_tversky(alpha, beta, batch):
    x, t = _inputs(3, seed=6)
    ours = build_loss(
        "tversky", alpha=alpha, beta=beta, smooth=1e-5, batch_dice=batch, include_background=True
    )
    ref = _monai(
        "TverskyLoss", softmax=True, to_onehot_y=True, alpha=alpha, beta=beta, smooth_nr=1e-5, smooth_dr=1e-5,
        batch=batch,
    )  # fmt: skip
    assert float(ours(x, t)) == pytest.approx(float(ref(x, t.unsqueeze(1))), abs=ATOL)


@pytest.mark.parametrize("w_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("batch", [False, True])
def test_generalized_dice(w_type, batch):
    x, t = _inputs(3, seed=7)
    ours = build_loss("generalized_dice", weight_type=w_type, smooth=1e-8, batch_dice=batch)(x, t)
    ref = _monai(
        "GeneralizedDiceLoss", softmax=True, to_onehot_y=True, w_type=w_type, smooth_nr=1e-8, smooth_dr=1e-8,
        batch=batch,
    )(x, t.unsqueeze(1))  # fmt: skip
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)


def test_generalized_dice_with_an_absent_class_uses_the_same_rule():
    x, t = _inputs(3, seed=8)
    t = t.clamp_max(1)  # class 2 absent everywhere: its weight becomes the largest present weight
    ours = build_loss("generalized_dice", smooth=1e-8)(x, t)
    ref = _monai(
        "GeneralizedDiceLoss", softmax=True, to_onehot_y=True, smooth_nr=1e-8, smooth_dr=1e-8, batch=True
    )
    assert float(ours) == pytest.approx(float(ref(x, t.unsqueeze(1))), abs=ATOL)


@pytest.mark.parametrize(("weight", "delta", "gamma"), [(0.5, 0.7, 0.5), (0.3, 0.6, 0.2), (0.8, 0.5, 0.75)])
def test_unified_focal(weight, delta, gamma):
    x, t = _inputs(2, seed=9)
    ours = build_loss("unified_focal", weight=weight, delta=delta, gamma=gamma, smooth=1e-7)(x, t)
    ref = _monai("AsymmetricUnifiedFocalLoss", to_onehot_y=True, weight=weight, delta=delta, gamma=gamma)(
        torch.softmax(x, dim=1), t.unsqueeze(1)
    )
    assert float(ours) == pytest.approx(float(ref), abs=ATOL)
