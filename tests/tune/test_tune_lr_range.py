from __future__ import annotations

import numpy as np
import pytest

from lossadvisor.io import read_mask
from lossadvisor.losses import BOUNDED_LR_TEST_NOTE, build_loss
from lossadvisor.tune import build_train_data, lr_range_test, pair_files, resolve_device
from lossadvisor.tune.training._lr_range import END_LR, START_LR, steep, valley


def test_valley_is_two_thirds_down_the_longest_descent():
    lrs = [10.0**k for k in range(-6, 1)]  # 7 rates
    losses = [1.0, 0.95, 0.8, 0.6, 0.4, 0.5, 3.0]  # descending from index 0 to 4
    # fastai: lds[4] = 5, start = 4 - 5 = -1, sections = 5/3 -> idx = -1 + 1 + 0 = 0
    assert valley(lrs, losses) == 1e-6
    losses = [2.0, 2.1, 1.9, 1.5, 1.0, 0.6, 0.3, 5.0]
    lrs = [10.0**k for k in range(-7, 1)]
    # longest descent 0,2,3,4,5,6 (length 6): start = 6 - 6 = 0, sections = 2 -> idx = 0 + 2 + 1 = 3
    assert valley(lrs, losses) == 1e-4


def test_steep_is_the_fastest_fall():
    lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    losses = [1.0, 0.99, 0.5, 0.45, 0.44]
    assert steep(lrs, losses) in (1e-3, 1e-2)  # central differences around the drop


@pytest.fixture
def data(tiny_dataset, tmp_path):
    pairs = pair_files(tiny_dataset / "images", tiny_dataset / "masks").pairs
    return build_train_data(
        pairs, read_mask=lambda p: read_mask(p).labels, cache_dir=tmp_path, fingerprint="f", size=32
    )


def test_sweep_is_exponential_and_dice_is_marked_suspect(data):
    device = resolve_device("cpu", threads=1)
    factory = lambda name, params: build_loss(name, **params)  # noqa: E731
    ce = lr_range_test(
        "ce", data, num_classes=2, loss_factory=factory, device=device, batch_size=4, num_iterations=30
    )
    ratios = np.diff(np.log(ce.lrs))
    assert ce.lrs[0] == pytest.approx(START_LR)
    assert np.allclose(ratios, np.log(END_LR / START_LR) / 29)  # constant ratio: exponential
    assert START_LR <= ce.suggested_lr <= END_LR
    dice = lr_range_test(
        "dice",
        data,
        num_classes=2,
        loss_factory=factory,
        device=device,
        batch_size=4,
        num_iterations=30,
        bounded=True,
    )
    assert dice.suspect and BOUNDED_LR_TEST_NOTE in dice.note  # the one note, from the loss registry
    record = dice.to_dict()
    assert set(record) >= {"loss", "suggested_lr", "method", "lrs", "losses", "suspect", "note"}
