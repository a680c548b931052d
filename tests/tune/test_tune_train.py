from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lossadvisor.io import read_mask
from lossadvisor.tune import TrialConfig, build_train_data, pair_files, resolve_device, train_trial


@pytest.fixture
def data(tiny_dataset, tmp_path):
    pairs = pair_files(tiny_dataset / "images", tiny_dataset / "masks").pairs
    return build_train_data(
        pairs, read_mask=lambda p: read_mask(p).labels, cache_dir=tmp_path / "c", fingerprint="f", size=32
    )


def bce(name, params):
    """Plain BCE with logits: a reference loss independent of lossadvisor.losses."""

    class BCE(torch.nn.Module):
        def forward(self, logits, target):
            return F.binary_cross_entropy_with_logits(logits[:, 0], target.float())

    return BCE()


def nan_loss(name, params):
    class NaN(torch.nn.Module):
        def forward(self, logits, target):
            return logits.mean() * float("nan")

    return NaN()


CPU = resolve_device("cpu", threads=1)


def test_a_run_records_every_epoch_and_the_object_recall(data):
    config = TrialConfig("bce", {}, 3e-3, epochs=3, steps_per_epoch=4, batch_size=4)
    seen = []
    out = train_trial(
        config,
        data,
        num_classes=2,
        loss_factory=bce,
        device=CPU,
        on_epoch=lambda r: seen.append(r.epoch) and False,
        sample_indices=[0, 1],
    )
    assert not out.failed and seen == [1, 2, 3]
    assert [r.epoch for r in out.epochs] == [1, 2, 3]
    for r in out.epochs:
        assert 0.0 <= r.val_iou <= 1.0 and 0.0 <= r.pred_fg_share <= 1.0
        assert r.collapse in ("none", "background", "foreground")
        assert r.grad_norm_max >= r.grad_norm_mean > 0
    assert out.images_seen == 3 * 4 * 4
    assert set(out.object_recall) == {"tiny", "small", "medium", "large"}
    assert out.sample_predictions.shape == (2, 32, 32)


def test_same_seed_same_run_on_cpu(data):
    config = TrialConfig("bce", {}, 1e-3, epochs=2, steps_per_epoch=3, batch_size=4, seed=7)
    a = train_trial(config, data, num_classes=2, loss_factory=bce, device=CPU)
    b = train_trial(config, data, num_classes=2, loss_factory=bce, device=CPU)
    assert [r.train_loss for r in a.epochs] == [r.train_loss for r in b.epochs]
    assert [r.val_iou for r in a.epochs] == [r.val_iou for r in b.epochs]


def test_callback_returning_true_stops_the_run(data):
    config = TrialConfig("bce", {}, 1e-3, epochs=5, steps_per_epoch=2, batch_size=4)
    out = train_trial(
        config, data, num_classes=2, loss_factory=bce, device=CPU, on_epoch=lambda r: r.epoch == 2
    )
    assert out.stopped_early and len(out.epochs) == 2 and not out.failed


def test_nan_loss_is_a_failed_run_with_its_reason(data):
    config = TrialConfig("nan", {}, 1e-3, epochs=2, steps_per_epoch=2, batch_size=4)
    out = train_trial(config, data, num_classes=2, loss_factory=nan_loss, device=CPU)
    assert out.failed and out.nonfinite == 1
    assert out.fail_reason == "non-finite loss (nan) at epoch 1, step 1"


def test_absurd_learning_rate_diverges_into_a_failed_run(data):
    config = TrialConfig("bce", {}, 1e6, epochs=3, steps_per_epoch=4, batch_size=4)
    out = train_trial(config, data, num_classes=2, loss_factory=bce, device=CPU)
    assert out.failed and "non-finite" in out.fail_reason


def test_out_of_memory_is_a_failed_run(data):
    def oom_model(c, k):
        class Boom(torch.nn.Conv2d):
            def forward(self, x):
                raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

        return Boom(c, k, 1)

    config = TrialConfig("bce", {}, 1e-3, epochs=1, steps_per_epoch=1, batch_size=4)
    out = train_trial(config, data, num_classes=2, loss_factory=bce, device=CPU, model_factory=oom_model)
    assert out.failed and out.fail_reason.startswith("out of memory")


def test_a_user_model_factory_is_used(data):
    built = []

    def factory(in_channels, num_classes):
        built.append((in_channels, num_classes))
        return torch.nn.Conv2d(in_channels, num_classes, 3, padding=1)

    config = TrialConfig("bce", {}, 1e-2, epochs=1, steps_per_epoch=2, batch_size=4)
    out = train_trial(config, data, num_classes=2, loss_factory=bce, device=CPU, model_factory=factory)
    assert built == [(3, 1)] and not out.failed and math.isfinite(out.epochs[0].train_loss)
