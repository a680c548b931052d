"""Where Dice breaks, these must not: finite value and gradient in every awkward case, for every loss.

Cases: all-background targets, all-foreground targets, a fully ignored batch, logits of +-1e4, one-pixel
objects, batch size 1, and a class absent from the batch; each with one sigmoid channel and with a softmax
over three classes, and with each region loss both per image and over the batch.
"""

from __future__ import annotations

import pytest
import torch

from lossadvisor.losses import LOSSES, build_loss

IGNORE = 255
SIZE = 12


def _case(case: str, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    k = max(channels, 2)
    n = 1 if case == "batch_of_one" else 3
    x = torch.randn(n, channels, SIZE, SIZE, generator=g) * 3
    t = torch.randint(0, k, (n, SIZE, SIZE), generator=g)
    if case == "all_background":
        t.zero_()
    elif case == "all_foreground":
        t.fill_(k - 1)
    elif case == "fully_ignored":
        t.fill_(IGNORE)
    elif case == "extreme_logits":
        x = torch.sign(torch.randn(x.shape, generator=g)) * 1e4
    elif case == "one_pixel_objects":
        t.zero_()
        t[:, 5, 7] = k - 1
        x = x - 8.0  # a model that predicts background everywhere
    elif case == "absent_class":
        t = t.clamp_max(k - 2) if k > 2 else t.zero_()
    return x, t


def _params(name: str, k: int, per_image: bool) -> dict:
    params: dict = {"ignore_index": IGNORE}
    if name == "weighted_ce":
        params["class_weights"] = [1.0] + [10.0] * (k - 1)
    if "batch_dice" in LOSSES[name].defaults():
        params["batch_dice"] = not per_image
    if name == "lovasz":
        params["per_image"] = per_image
    return params


CASES = [
    "all_background",
    "all_foreground",
    "fully_ignored",
    "extreme_logits",
    "one_pixel_objects",
    "batch_of_one",
    "absent_class",
]


@pytest.mark.parametrize("per_image", [False, True], ids=["batch", "per_image"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("case", CASES)
def test_value_and_gradient_are_finite(case, channels, per_image):
    x, t = _case(case, channels)
    for name in LOSSES:
        logits = x.clone().requires_grad_(True)
        loss = build_loss(name, **_params(name, max(channels, 2), per_image))(logits, t)
        loss.backward()
        assert torch.isfinite(loss), (name, float(loss.detach()))
        assert torch.isfinite(logits.grad).all(), name
        if case == "fully_ignored":
            assert float(loss.detach()) == 0.0 and torch.all(logits.grad == 0), name


@pytest.mark.parametrize(
    "name", ["dice", "tversky", "focal_tversky", "generalized_dice", "dice_ce", "lovasz"]
)
def test_extreme_squared_and_log_dice_variants_stay_finite(name):
    x, t = _case("extreme_logits", 3)
    for extra in ({"smooth": 1e-8}, {"squared": True, "smooth": 1e-8}, {"log_dice": True, "smooth": 1e-8}):
        params = {k: v for k, v in extra.items() if k in LOSSES[name].defaults()}
        logits = x.clone().requires_grad_(True)
        loss = build_loss(name, **params)(logits, t)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(logits.grad).all(), (name, extra)


def test_empty_prediction_on_empty_target_is_not_the_maximal_loss():
    """On an all-background batch, predicting background scores near 0 and predicting foreground near 1."""
    t = torch.zeros(2, SIZE, SIZE, dtype=torch.long)
    empty = torch.full((2, 1, SIZE, SIZE), -12.0)
    full = torch.full((2, 1, SIZE, SIZE), 12.0)
    for name in (
        "dice",
        "tversky",
        "focal_tversky",
        "generalized_dice",
        "lovasz",
        "dice_ce",
        "unified_focal",
    ):
        for per_image in (False, True):
            loss_fn = build_loss(name, **_params(name, 2, per_image))
            low, high = float(loss_fn(empty, t)), float(loss_fn(full, t))
            assert low < 0.01 and high > 10 * low + 0.3, (name, per_image, low, high)
    no_background = build_loss("generalized_dice", include_background=False)
    assert float(no_background(empty, t)) < 0.01 and float(no_background(full, t)) > 0.9
