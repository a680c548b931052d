"""Values worked out by hand on tiny tensors, and the minimum at a perfect prediction.

The 2x2 binary example used throughout: foreground probabilities p = (0.5, 0.75, 0.25, 0.1) (logits 0, ln 3,
-ln 3, -ln 9) against targets g = (1, 1, 0, 0). Then I = 1.25, P = 1.6, sum p^2 = 0.885, G = 2; the background
channel has I = 1.65, P = 2.4, G = 2.
"""

from __future__ import annotations

import math

import pytest
import torch

from lossadvisor.losses import LOSSES, build_loss

LN3, LN9 = math.log(3.0), math.log(9.0)


def _example(channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor([0.0, LN3, -LN3, -LN9], dtype=torch.float64).reshape(1, 1, 2, 2)
    if channels == 2:  # softmax over (0, x) is sigmoid(x)
        x = torch.cat([torch.zeros_like(x), x], dim=1)
    return x, torch.tensor([[[1, 1], [0, 0]]])


def _value(name: str, channels: int = 1, **params) -> float:
    x, t = _example(channels)
    return float(build_loss(name, **params)(x, t))


CE_PIXELS = [-math.log(0.5), -math.log(0.75), -math.log(0.75), -math.log(0.9)]


@pytest.mark.parametrize("channels", [1, 2])
def test_cross_entropy(channels):
    assert _value("ce", channels) == pytest.approx(sum(CE_PIXELS) / 4)
    assert _value("ce", channels, reduction="sum") == pytest.approx(sum(CE_PIXELS))


@pytest.mark.parametrize(
    ("channels", "params"), [(1, {"pos_weight": 3.0}), (2, {"class_weights": [1.0, 3.0]})]
)
def test_weighted_cross_entropy_divides_by_pixels_not_weights(channels, params):
    expected = (3 * CE_PIXELS[0] + 3 * CE_PIXELS[1] + CE_PIXELS[2] + CE_PIXELS[3]) / 4
    assert _value("weighted_ce", channels, **params) == pytest.approx(expected)
    x, t = _example(1)
    reference = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(3.0, dtype=torch.float64))(
        x[:, 0], t.double()
    )
    assert expected == pytest.approx(float(reference))


def test_focal_by_hand():
    p_t = [0.5, 0.75, 0.75, 0.9]
    terms = [(1 - p) ** 2 * -math.log(p) for p in p_t]
    assert _value("focal", gamma=2.0) == pytest.approx(sum(terms) / 4)
    alpha = [0.25, 0.25, 0.75, 0.75]  # alpha on foreground, 1 - alpha on background
    assert _value("focal", alpha=0.25) == pytest.approx(
        sum(a * v for a, v in zip(alpha, terms, strict=True)) / 4
    )
    assert _value("focal", gamma=0.0) == pytest.approx(_value("ce"))


@pytest.mark.parametrize("channels", [1, 2])
def test_dice_variants(channels):
    assert _value("dice", channels) == pytest.approx(1 - 3.5 / 4.6)  # (2 * 1.25 + 1) / (1.6 + 2 + 1)
    assert _value("dice", channels, squared=True) == pytest.approx(1 - 3.5 / 3.885)
    assert _value("dice", channels, log_dice=True) == pytest.approx(-math.log(3.5 / 4.6))
    background = 1 - 4.3 / 5.4  # (2 * 1.65 + 1) / (2.4 + 2 + 1)
    assert _value("dice", channels, include_background=True) == pytest.approx(
        (1 - 3.5 / 4.6 + background) / 2
    )
    weighted = (1 * background + 3 * (1 - 3.5 / 4.6)) / 4
    assert _value("dice", channels, include_background=True, class_weights=[1, 3]) == pytest.approx(weighted)


def test_tversky_and_focal_tversky():
    # TP = 1.25, FP = P - TP = 0.35, FN = G - TP = 0.75; alpha on FP, beta on FN.
    ti = (1.25 + 1) / (1.25 + 0.3 * 0.35 + 0.7 * 0.75 + 1)
    assert _value("tversky", alpha=0.3, beta=0.7) == pytest.approx(1 - ti)
    assert _value("tversky") == pytest.approx(1 - ti)  # alpha defaults to 1 - beta
    swapped = (1.25 + 1) / (1.25 + 0.7 * 0.35 + 0.3 * 0.75 + 1)
    assert _value("tversky", alpha=0.7, beta=0.3) == pytest.approx(1 - swapped)
    assert _value("focal_tversky", gamma=0.75) == pytest.approx((1 - ti) ** 0.75)
    assert _value("tversky", alpha=0.5, beta=0.5, smooth=1e-8) == pytest.approx(_value("dice", smooth=1e-8))


def test_generalized_dice_by_hand():
    # G = (2, 2): equal Sudre weights (1/4 each, normalised to 1/2). Score = 2 (0.5*1.65 + 0.5*1.25) / 4.0.
    assert _value("generalized_dice", smooth=1e-8) == pytest.approx(1 - 2.9 / 4.0)
    x = torch.zeros(1, 1, 1, 4, dtype=torch.float64)  # p = 0.5 everywhere; G = (3, 1) -> w ∝ (1/9, 1)
    t = torch.tensor([[[1, 0, 0, 0]]])
    w = torch.tensor([1 / 9, 1.0])
    score = 2 * float(w @ torch.tensor([1.5, 0.5])) / float(w @ torch.tensor([2.0 + 3.0, 2.0 + 1.0]))
    assert float(build_loss("generalized_dice", smooth=1e-8)(x, t)) == pytest.approx(1 - score)


def test_lovasz_hinge_by_hand():
    # labels (1, 0), logits (0.5, 0.5): errors (0.5, 1.5) sorted (1.5 [label 0], 0.5 [label 1]);
    # Jaccard losses along the order (0.5, 1.0) -> gradient (0.5, 0.5) -> 1.5 * 0.5 + 0.5 * 0.5 = 1.0.
    x = torch.tensor([[[[0.5, 0.5]]]])
    t = torch.tensor([[[1, 0]]])
    assert float(build_loss("lovasz")(x, t)) == pytest.approx(1.0)


def test_lovasz_softmax_on_hard_predictions_is_the_jaccard_loss():
    """The Lovasz extension agrees with the set function on its vertices (Berman et al. 2018)."""
    t = torch.tensor([[[0, 0, 1, 1], [2, 2, 2, 0]]])
    pred = torch.tensor([[[0, 1, 1, 1], [2, 2, 0, 0]]])
    x = torch.nn.functional.one_hot(pred, 3).permute(0, 3, 1, 2).double() * 40.0
    iou = []
    for c in range(3):
        inter = ((pred == c) & (t == c)).sum().item()
        union = ((pred == c) | (t == c)).sum().item()
        iou.append(inter / union)
    assert float(build_loss("lovasz")(x, t)) == pytest.approx(sum(1 - v for v in iou) / 3, abs=1e-9)


def test_absent_class_scoring_rule():
    """Empty target, empty prediction: loss 0; predicted mass P on an empty target: 1 - s / (s + P)."""
    t = torch.zeros(1, 2, 2, dtype=torch.long)
    empty = torch.full((1, 1, 2, 2), -40.0, dtype=torch.float64)
    for name in ("dice", "tversky", "dice_ce", "lovasz", "generalized_dice"):
        assert float(build_loss(name)(empty, t)) == pytest.approx(0.0, abs=1e-6), name
    # focal Tversky's fractional power keeps a finite slope by flooring its base at POW_EPS = 1e-6
    assert float(build_loss("focal_tversky")(empty, t)) == pytest.approx(1e-6**0.75, rel=1e-6)
    half = torch.zeros(1, 1, 2, 2, dtype=torch.float64)  # P = 4 * 0.5 = 2
    assert float(build_loss("dice")(half, t)) == pytest.approx(1 - 1 / 3)
    assert float(build_loss("dice", smooth=0.5)(half, t)) == pytest.approx(1 - 0.5 / 2.5)


def _perfect(name: str, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    k = max(channels, 2)
    t = torch.randint(0, k, (2, 6, 6), generator=g)
    if channels == 1:
        x = (t.double() * 2 - 1).unsqueeze(1) * 30.0
    else:
        x = torch.nn.functional.one_hot(t, k).permute(0, 3, 1, 2).double() * 60.0 - 30.0
    return x, t


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", list(LOSSES))
def test_perfect_prediction_gives_the_minimum(name, channels):
    """Every loss here has infimum 0; clamped fractional powers leave at most POW_EPS ** (1 - gamma)."""
    x, t = _perfect(name, channels)
    params = {"pos_weight": 2.0} if name == "weighted_ce" and channels == 1 else {}
    if name == "weighted_ce" and channels == 3:
        params = {"class_weights": [1.0, 2.0, 3.0]}
    loss_fn = build_loss(name, **params)
    best = float(loss_fn(x, t))
    assert 0.0 <= best < 1e-3
    assert float(loss_fn(x * 0.02, t)) > best  # a less confident prediction costs more


def _berman_lovasz_softmax(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Berman et al.'s reference algorithm (exact float sort), classes present in the target, one row."""
    losses = []
    for c in range(probs.shape[0]):
        fg = (labels == c).double()
        if fg.sum() == 0:
            continue
        errors = (fg - probs[c]).abs()
        errors_sorted, perm = torch.sort(errors, descending=True)
        gt = fg[perm]
        inter = gt.sum() - gt.cumsum(0)
        union = gt.sum() + (1 - gt).cumsum(0)
        jac = 1 - inter / union
        jac[1:] = jac[1:] - jac[:-1]
        losses.append(float(errors_sorted @ jac))
    return sum(losses) / len(losses)


def test_lovasz_softmax_grid_ranking_is_within_one_step_below_the_exact_value():
    g = torch.Generator().manual_seed(12)
    x = torch.randn(2, 4, 16, 16, generator=g, dtype=torch.float64) * 2
    t = torch.randint(0, 4, (2, 16, 16), generator=g)
    probs = torch.softmax(x, dim=1).permute(1, 0, 2, 3).reshape(4, -1)
    exact = _berman_lovasz_softmax(probs, t.reshape(-1))
    ours = float(build_loss("lovasz")(x, t))
    assert exact - 2**-16 <= ours <= exact + 1e-12
