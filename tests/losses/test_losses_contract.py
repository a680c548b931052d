"""The shared contract: binary modes agree, ignored pixels take no part, mix identities, autocast, errors."""

from __future__ import annotations

import pytest
import torch

from lossadvisor.errors import ConfigError, DataError
from lossadvisor.losses import LOSSES, build_loss

IGNORE = 255


def _params(name: str, classes: int) -> dict:
    if name == "weighted_ce":
        return {"pos_weight": 3.0} if classes == 2 else {"class_weights": [0.5 + i for i in range(classes)]}
    return {}


def _batch(channels: int, seed: int, ignore_share: float = 0.0, size: int = 8):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, channels, size, size, generator=g, dtype=torch.float64) * 2
    t = torch.randint(0, max(channels, 2), (3, size, size), generator=g)
    if ignore_share:
        t[torch.rand(t.shape, generator=g) < ignore_share] = IGNORE
    return x, t


@pytest.mark.parametrize("name", [n for n in LOSSES if n != "lovasz"])
def test_one_sigmoid_channel_equals_softmax_over_zero_and_the_logit(name):
    """Lovász is excluded on purpose: one channel uses the hinge, two the softmax surrogate."""
    x, t = _batch(1, seed=1)
    params = _params(name, 2)
    two = torch.cat([torch.zeros_like(x), x], dim=1)
    two_params = {"class_weights": [1.0, 3.0]} if name == "weighted_ce" else params
    assert float(build_loss(name, **params)(x, t)) == pytest.approx(
        float(build_loss(name, **two_params)(two, t))
    )


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", list(LOSSES))
def test_ignored_pixels_change_nothing(name, channels):
    """New logits at ignored pixels leave value and gradient unchanged, and their gradient is exactly 0."""
    x, t = _batch(channels, seed=2, ignore_share=0.3)
    loss_fn = build_loss(name, ignore_index=IGNORE, **_params(name, max(channels, 2)))
    x1 = x.clone().requires_grad_(True)
    loss1 = loss_fn(x1, t)
    loss1.backward()
    ignored = (t == IGNORE).unsqueeze(1).expand_as(x)
    x2 = torch.where(ignored, torch.randn_like(x) * 50, x).requires_grad_(True)
    loss2 = loss_fn(x2, t)
    loss2.backward()
    assert float(loss1.detach()) == pytest.approx(float(loss2.detach()), abs=1e-12)
    assert torch.all(x1.grad[ignored] == 0) and torch.all(x2.grad[ignored] == 0)
    torch.testing.assert_close(x1.grad, x2.grad)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", list(LOSSES))
def test_ignoring_a_region_equals_cropping_it_away(name, channels):
    x, t = _batch(channels, seed=3)
    masked = t.clone()
    masked[:, :, 4:] = IGNORE
    params = _params(name, max(channels, 2))
    with_ignore = build_loss(name, ignore_index=IGNORE, **params)(x, masked)
    cropped = build_loss(name, **params)(x[..., :4].contiguous(), t[..., :4].contiguous())
    assert float(with_ignore) == pytest.approx(float(cropped), abs=1e-9)


@pytest.mark.parametrize("pixel", ["dice_focal", "dice_ce"])
def test_mix_identities_are_exact(pixel):
    x, t = _batch(3, seed=4)
    pure = "focal" if pixel == "dice_focal" else "ce"
    assert torch.equal(build_loss(pixel, mix=0.0)(x, t), build_loss(pure)(x, t))
    assert torch.equal(build_loss(pixel, mix=1.0)(x, t), build_loss("dice")(x, t))
    mixed = build_loss(pixel, mix=0.3)(x, t)
    expected = 0.3 * build_loss("dice")(x, t) + 0.7 * build_loss(pure)(x, t)
    assert float(mixed) == pytest.approx(float(expected))


def test_mix_zero_takes_no_gradient_from_dice():
    x, t = _batch(1, seed=5)
    a = x.clone().requires_grad_(True)
    build_loss("dice_ce", mix=0.0)(a, t).backward()
    b = x.clone().requires_grad_(True)
    build_loss("ce")(b, t).backward()
    assert torch.equal(a.grad, b.grad)


def test_reduction_shapes_and_relations():
    x, t = _batch(3, seed=6, ignore_share=0.2)
    ce_map = build_loss("ce", reduction="none", ignore_index=IGNORE)(x, t)
    assert ce_map.shape == (3, 8, 8) and torch.all(ce_map[t == IGNORE] == 0)
    counted = int((t != IGNORE).sum())
    ce_mean = build_loss("ce", ignore_index=IGNORE)(x, t)
    assert float(build_loss("ce", reduction="sum", ignore_index=IGNORE)(x, t)) == pytest.approx(
        float(ce_mean) * counted
    )
    x, t = _batch(3, seed=6)
    assert build_loss("dice", reduction="none", batch_dice=False)(x, t).shape == (3, 2)  # background dropped
    assert build_loss("dice", reduction="none", include_background=True)(x, t).shape == (1, 3)
    assert build_loss("generalized_dice", reduction="none", batch_dice=False)(x, t).shape == (3,)
    per_class = build_loss("tversky", reduction="none", batch_dice=False)(x, t)
    assert float(build_loss("tversky", batch_dice=False)(x, t)) == pytest.approx(float(per_class.mean()))


@pytest.mark.parametrize("name", list(LOSSES))
def test_bfloat16_autocast_on_cpu_gives_finite_float32(name):
    g = torch.Generator().manual_seed(7)
    images = torch.randn(2, 3, 16, 16, generator=g)
    t = torch.randint(0, 3, (2, 16, 16), generator=g)
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    loss_fn = build_loss(name, **_params(name, 3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = conv(images)
        assert logits.dtype == torch.bfloat16
        loss = loss_fn(logits, t)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in conv.parameters())
    full = loss_fn(conv(images), t)
    assert float(loss.detach()) == pytest.approx(float(full.detach()), rel=0.05, abs=0.02)


LONG = torch.long
CONTRACT_ERRORS = [
    (
        torch.zeros(2, 3),
        torch.zeros(2, dtype=LONG),
        r"float logits of shape \(N, C, \*spatial\), e\.g\. \(N, C, H, W\) or \(N, C, D, H, W\)\. "
        r"Got shape \(2, 3\)",
    ),
    (
        torch.zeros(2, 3, 4, 4),
        torch.zeros(2, 5, 4, dtype=LONG),
        r"targets of shape \(N, \*spatial\) = \(2, 4, 4\) for logits of shape \(2, 3, 4, 4\)\. "
        r"Got targets of shape \(2, 5, 4\)",
    ),
    (
        torch.zeros(2, 3, 5, 4, 4),
        torch.zeros(2, 4, 4, dtype=LONG),
        r"targets of shape \(N, \*spatial\) = \(2, 5, 4, 4\) for logits of shape \(2, 3, 5, 4, 4\)\. "
        r"Got targets of shape \(2, 4, 4\)",
    ),
    (torch.zeros(2, 3, 5, 4, 4), torch.zeros(2, 1, 5, 4, 4, dtype=LONG), r"Squeeze the channel axis"),
    (torch.zeros(2, 3, 4, 4), torch.zeros(2, 1, 4, 4, dtype=LONG), r"Squeeze the channel axis"),
    (
        torch.zeros(2, 3, 4, 4),
        torch.zeros(2, 4, 4),
        r"integer class-index targets .* Got dtype torch\.float32",
    ),
    (
        torch.zeros(2, 3, 4, 4),
        torch.full((2, 4, 4), 3),
        r"target class index 3 is out of range \[0, 2\] for logits of shape \(2, 3, 4, 4\)"
        r".*renumber.*--class-map",
    ),
    (
        torch.zeros(2, 1, 4, 4),
        torch.full((2, 4, 4), 255),
        r"index 255 is out of range \[0, 1\].*single sigmoid channel.*0/255 \(or 1-bit\) mask, map it to 1",
    ),
    (torch.zeros(2, 3, 4, 4), torch.full((2, 4, 4), -1), r"target class index -1 is out of range"),
    (
        torch.zeros(2, 3, 4, 4, dtype=LONG),
        torch.zeros(2, 4, 4, dtype=LONG),
        r"float logits .* dtype torch\.int64",
    ),
]


@pytest.mark.parametrize(("logits", "targets", "message"), CONTRACT_ERRORS)
@pytest.mark.parametrize("name", ["ce", "dice", "lovasz", "dice_ce"])
def test_contract_errors_come_before_any_work(name, logits, targets, message):
    with pytest.raises(DataError, match=message):
        build_loss(name)(logits, targets)


def test_out_of_range_index_is_fine_when_ignored_and_reported_with_the_ignore_value():
    x = torch.zeros(1, 2, 2, 2)
    t = torch.tensor([[[0, 1], [255, 1]]])
    assert torch.isfinite(build_loss("dice", ignore_index=255)(x, t))
    with pytest.raises(DataError, match=r"index 7 is out of range \[0, 1\].*\(ignore_index=255\)"):
        build_loss("dice", ignore_index=255)(x, torch.tensor([[[0, 7], [255, 1]]]))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.int16])
def test_any_integer_target_dtype_gives_the_int64_result(dtype):
    x, t = _batch(3, seed=9)
    for name in ("ce", "dice_ce", "lovasz"):
        assert float(build_loss(name)(x, t.to(dtype))) == float(build_loss(name)(x, t))


def test_options_that_need_binary_inputs_say_so():
    x, t = _batch(3, seed=8)
    with pytest.raises(
        ConfigError, match=r"'pos_weight' is for binary segmentation \(C = 1 or 2\); the logits have C = 3"
    ):
        build_loss("weighted_ce", pos_weight=2.0)(x, t)
    with pytest.raises(ConfigError, match=r"'alpha' is for binary segmentation; the logits have C = 3"):
        build_loss("focal", alpha=0.25)(x, t)
    with pytest.raises(
        ConfigError, match=r"'class_weights' must have one weight per class \(3 for these logits\)\. Got 2"
    ):
        build_loss("dice", class_weights=[1.0, 2.0])(x, t)


def test_conflicting_and_useless_weight_options():
    with pytest.raises(ConfigError, match=r"takes 'pos_weight' \(binary\) or 'class_weights', not both"):
        build_loss("weighted_ce", pos_weight=2.0, class_weights=[1.0, 2.0])
    with pytest.warns(UserWarning, match="weighted_ce without pos_weight or class_weights is plain CE"):
        build_loss("weighted_ce")
