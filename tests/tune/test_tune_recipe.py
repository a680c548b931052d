"""The steadying parts of the training recipe: foreground-centred crops, the weight average, the schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lossadvisor.tune.data._cache import TrainData
from lossadvisor.tune.training._batches import BatchSource
from lossadvisor.tune.training._recipe import WeightAverage, forced_foreground, foreground_window, lr_factor

SIDE = 16


def one_object_data(n_tiles: int = 4, height: int = 64, width: int = 80) -> TrainData:
    """Crop-mode data whose tiles hold one 2x2 object each, at rows 10-11 and columns 60-61: a uniform 16-px
    crop holds it with probability 12/49 * 17/65 = 6.4 % (crop tops 0..11 of 0..48, lefts 45..61 of 0..64)."""
    masks = []
    for _ in range(n_tiles):
        m = np.zeros((height, width), dtype=np.int16)
        m[10:12, 60:62] = 1
        masks.append(m)
    images = [np.zeros((height, width, 3), dtype=np.uint8) for _ in range(n_tiles)]
    return TrainData(
        train_images=images, train_masks=masks,
        val_images=np.zeros((1, SIDE, SIDE, 3), np.uint8), val_masks=np.zeros((1, SIDE, SIDE), np.int16),
        train_names=[f"t{i}" for i in range(n_tiles)], val_names=["v"], mean=np.zeros(3), std=np.ones(3),
        scale=1.0, mode="crop", side=SIDE,
    )  # fmt: skip


def crops_with_foreground(source: BatchSource, batches: int) -> np.ndarray:
    """(batches, batch_size) bool: which crop of each batch holds foreground."""
    return np.array([(source.train_batch()[1] > 0).flatten(1).any(1).numpy() for _ in range(batches)])


def test_a_third_of_each_batch_is_centred_on_foreground():
    source = BatchSource(
        one_object_data(), batch_size=8, device="cpu", rng=np.random.default_rng(0), foreground_share=1 / 3
    )
    held = crops_with_foreground(source, 50)
    assert held[:, -3:].all()  # round(8 / 3) = 3 forced crops per batch, the batch's last ones
    assert held.mean() >= 3 / 8


def test_uniform_crops_rarely_hold_a_small_object():
    source = BatchSource(one_object_data(), batch_size=8, device="cpu", rng=np.random.default_rng(0))
    held = crops_with_foreground(source, 50)
    assert 0.02 < held.mean() < 0.12  # expected 6.4 % (see one_object_data; SD 1.2 % over 400 crops)


def test_foreground_share_changes_nothing_in_resize_mode():
    data = one_object_data()
    data.mode, data.side = "resize", 64
    data.train_images = [im[:, :64] for im in data.train_images]
    data.train_masks = [m[:, :64] for m in data.train_masks]
    a = BatchSource(data, batch_size=4, device="cpu", rng=np.random.default_rng(3), foreground_share=0.5)
    b = BatchSource(data, batch_size=4, device="cpu", rng=np.random.default_rng(3))
    for _ in range(3):
        (xa, ya), (xb, yb) = a.train_batch(), b.train_batch()
        assert torch.equal(ya, yb) and torch.equal(xa, xb)


def test_a_foreground_window_is_centred_where_it_can_be_and_clipped_at_the_edges():
    rng = np.random.default_rng(0)
    assert foreground_window(np.array([50 * 100 + 40]), (100, 100), 32, rng) == (34, 24)  # 50-16, 40-16
    assert foreground_window(np.array([98 * 100 + 1]), (100, 100), 32, rng) == (68, 0)  # 100-32, clipped at 0


def test_forced_count_follows_the_nnunet_rounding():
    assert [forced_foreground(8, s) for s in (0.0, 0.1, 1 / 3, 0.5, 1.0)] == [0, 1, 3, 4, 8]


def test_the_weight_average_matches_a_hand_computed_one():
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    avg = WeightAverage(net, decay=0.5)
    for w in (1.0, 2.0, 4.0):
        with torch.no_grad():
            net.weight.fill_(w)
        avg.update(net)
    # decays min(0.5, (1 + t) / (10 + t)) for t = 1, 2, 3: 2/11, 3/12, 4/13
    a1 = 2 / 11 * 0.0 + 9 / 11 * 1.0
    a2 = 3 / 12 * a1 + 9 / 12 * 2.0
    a3 = 4 / 13 * a2 + 9 / 13 * 4.0
    assert avg.model.weight.item() == pytest.approx(a3, rel=1e-6)
    assert net.weight.item() == 4.0  # the trained model is left alone


def test_the_long_run_decay_caps_the_warm_up():
    net = torch.nn.Linear(1, 1, bias=False)
    avg = WeightAverage(net, decay=0.2)
    avg.steps = 100
    assert avg.current_decay() == 0.2


def test_batch_norm_statistics_are_averaged_and_counters_copied():
    net = torch.nn.BatchNorm1d(1)
    avg = WeightAverage(net, decay=0.9)
    net.running_mean.fill_(1.0)
    net.num_batches_tracked.fill_(7)
    avg.update(net)
    assert avg.model.running_mean.item() == pytest.approx(9 / 11)  # 2/11 * 0 + 9/11 * 1
    assert avg.model.num_batches_tracked.item() == 7


def test_a_decay_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="'decay' of WeightAverage"):
        WeightAverage(torch.nn.Linear(1, 1), decay=1.0)


def test_schedules_by_hand():
    assert lr_factor("constant", 0, 100, warmup=10) == pytest.approx(0.01)
    assert lr_factor("constant", 5, 100, warmup=10) == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_factor("cosine", 10, 110, warmup=10) == pytest.approx(1.0)
    assert lr_factor("cosine", 60, 110, warmup=10) == pytest.approx(0.5)
    assert lr_factor("linear", 35, 110, warmup=10) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="schedule must be one of"):
        lr_factor("step", 1, 10)


def test_ignored_pixels_are_never_a_crop_centre():
    data = one_object_data()
    for m in data.train_masks:
        m[30:64, 0:40] = 255  # a large void region, far from the object at rows 10-11, columns 60-61
    rng = np.random.default_rng(0)
    source = BatchSource(data, batch_size=8, device="cpu", rng=rng, foreground_share=1 / 3, ignore_index=255)
    for _ in range(30):
        masks = source.train_batch()[1]
        assert (masks[-3:] == 1).flatten(1).any(1).all()  # every forced crop holds the object itself
