"""The 3-D training path on synthetic volumes: patches, foreground oversampling, the sliding window, the
per-volume counts, recall by physical size, and the model checks on a 3-D patch."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lossadvisor.tune.data._volumes import assemble_volumes, default_patch  # noqa: E402
from lossadvisor.tune.training import ObjectRecallTally, check_model, for_volumes, resolve_model  # noqa: E402
from lossadvisor.tune.training._device import resolve_device  # noqa: E402
from lossadvisor.tune.training._models import ModelError, ModelSpec  # noqa: E402
from lossadvisor.tune.training._train import TrialConfig, train_trial  # noqa: E402
from lossadvisor.tune.training._volume_batches import (  # noqa: E402
    FOREGROUND_EVERY,
    VolumeBatchSource,
    sliding_window,
    window_starts,
)


def _volumes(n: int = 5, shape=(20, 24, 20), seed: int = 0):
    """Cases with one small cube lesion each at a random place; the image is brighter inside it."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(n):
        label = np.zeros(shape, np.int16)
        z, y, x = (int(rng.integers(0, s - 3)) for s in shape)
        label[z : z + 3, y : y + 3, x : x + 3] = 1
        image = rng.normal(size=(*shape, 1)).astype(np.float32) + 2.0 * label[..., None]
        images.append(image)
        labels.append(label)
    return images, labels


def _data(patch=(16, 16, 16), n=5, spacing=(1.0, 1.0, 1.0)):
    images, labels = _volumes(n)
    return assemble_volumes(
        images, labels, [spacing] * n, [f"case{i}" for i in range(n)],
        train_idx=list(range(n - 2)), val_idx=[n - 2, n - 1], patch=patch, skipped=[],
    )  # fmt: skip


def test_default_patch_is_the_median_shape_rounded_down_to_16_within_32_to_64():
    assert default_patch([(35, 51, 35), (36, 50, 34), (37, 49, 36)]) == (32, 48, 32)
    assert default_patch([(10, 200, 40)]) == (32, 64, 32)  # 10 -> 32 (padded), 200 -> 64 (cap), 40 -> 32


def test_window_starts_cover_every_voxel_with_half_overlap():
    for size, window in ((50, 32), (32, 32), (33, 16), (100, 48)):
        starts = window_starts(size, window)
        covered = np.zeros(size, bool)
        for s in starts:
            covered[s : s + window] = True
            assert 0 <= s <= max(0, size - window)
        assert covered.all()
        assert all(b - a <= window // 2 for a, b in zip(starts, starts[1:], strict=False))


@pytest.mark.parametrize("shape", [(20, 36, 18), (10, 12, 40)])
def test_sliding_window_equals_the_whole_volume_forward_for_a_voxelwise_model(shape):
    """A 1x1x1 convolution sees one voxel at a time, so any blend of windows must give its full forward;
    (10, 12, 40) is smaller than the patch along two axes (padded, then cropped back)."""
    import contextlib

    torch.manual_seed(0)
    model = torch.nn.Conv3d(2, 3, 1)
    image = torch.randn(2, *shape)
    blended = sliding_window(model, image, (16, 16, 16), device="cpu", autocast=contextlib.nullcontext)
    with torch.no_grad():
        full = model(image[None])[0]
    assert blended.shape == (3, *shape)
    assert torch.allclose(blended, full, atol=1e-5)


def test_patches_have_the_patch_shape_and_every_third_is_centred_on_foreground():
    data = _data()
    source = VolumeBatchSource(data, batch_size=3, device="cpu", rng=np.random.default_rng(0), augment=False)
    with_foreground = []
    for _ in range(20):
        x, y = source.train_batch()
        assert x.shape == (3, 1, 16, 16, 16) and y.shape == (3, 16, 16, 16) and y.dtype == torch.int64
        with_foreground += [bool((m > 0).any()) for m in y]
    forced = with_foreground[FOREGROUND_EVERY - 1 :: FOREGROUND_EVERY]
    assert all(forced)  # the lesion is 3 voxels wide: a patch centred on one of its voxels holds it
    # random patches of 16^3 in 20x24x20 volumes miss a 3^3 cube some of the time: oversampling matters
    assert not all(with_foreground)


def test_training_volumes_smaller_than_the_patch_are_padded():
    data = _data(patch=(32, 32, 32))
    source = VolumeBatchSource(data, batch_size=2, device="cpu", rng=np.random.default_rng(1))
    x, y = source.train_batch()
    assert x.shape == (2, 1, 32, 32, 32) and y.shape == (2, 32, 32, 32)


def test_recall_by_physical_size_with_anisotropic_spacing():
    """Two lesions in a volume of 0.8 x 0.8 x 5.0 mm voxels (3.2 mm³ each): 8 voxels = 25.6 mm³ (tiny,
    < 34), 27 voxels = 86.4 mm³ (small, 34-524); the prediction finds the second only."""
    target = np.zeros((10, 20, 20), np.int16)
    target[1:3, 1:3, 1:3] = 1  # 2 x 2 x 2
    target[5:8, 10:13, 10:13] = 1  # 3 x 3 x 3
    pred = np.zeros_like(target)
    pred[5:8, 10:13, 10:12] = 1  # 18 of 27 voxels: found (>= half)
    pred[1, 1, 1] = 1  # 1 of 8 voxels: missed
    tally = ObjectRecallTally(physical=True)
    tally.add(pred, target, num_classes=2, spacing=(5.0, 0.8, 0.8))
    assert tally.total == {"tiny": 1, "small": 1, "medium": 0, "large": 0}
    assert tally.recall() == {"tiny": 0.0, "small": 1.0, "medium": None, "large": None}


def test_recall_in_3d_joins_diagonal_neighbours():
    """26-connectivity: two voxels touching by a corner are one lesion (6-connectivity would count two)."""
    target = np.zeros((4, 4, 4), np.int16)
    target[0, 0, 0] = target[1, 1, 1] = 1
    tally = ObjectRecallTally(physical=True)
    tally.add(target, target, num_classes=2)
    assert sum(tally.total.values()) == 1


def test_a_trial_on_volumes_counts_each_validation_volume_once():
    data = _data(patch=(32, 32, 32))  # the smallest the 3-D U-Net takes in training (2 voxels at the bottom)
    config = TrialConfig(loss="dice_ce", params={}, lr=3e-3, epochs=1, steps_per_epoch=3, batch_size=2)
    from lossadvisor.losses import build_loss

    outcome = train_trial(
        config, data, num_classes=2, loss_factory=lambda n, p: build_loss(n, **p),
        device=resolve_device("cpu", threads=1), sample_indices=[0, 1],
    )  # fmt: skip
    assert not outcome.failed, outcome.fail_reason
    counts = outcome.image_counts
    assert counts.shape == (2, 3, 2)  # two validation volumes, (intersection, predicted, labelled), 2 classes
    for i, mask in enumerate(data.val_masks):  # labelled voxels per class: the volume's own counts
        assert counts[i, 2].tolist() == np.bincount(mask.ravel(), minlength=2).tolist()
        assert counts[i, 1].sum() == mask.size  # every voxel predicted once, however many windows
    assert set(outcome.object_recall) == {"tiny", "small", "medium", "large"}
    assert outcome.object_recall["tiny"] is not None  # 27 mm³ lesions at 1 mm: the tiny bucket (< 34)
    assert outcome.object_recall["small"] is None
    # sample predictions: the slices through the lesion of each sample volume, padded to one shape
    assert outcome.sample_predictions.shape == (2, 24, 20)


def test_presets_and_spatial_dims_factories_build_3d_networks():
    spec = for_volumes(resolve_model("compact"))
    info = check_model(spec, in_channels=1, out_channels=3, side=32, device="cpu", patch=(16, 32, 16))
    assert info.parameters > 1_000_000

    seen = {}

    def build(in_channels, num_classes, spatial_dims=2):
        seen["dims"] = spatial_dims
        conv = torch.nn.Conv3d if spatial_dims == 3 else torch.nn.Conv2d
        return conv(in_channels, num_classes, 1)

    check_model(for_volumes(ModelSpec("mine:build", build)), in_channels=1, out_channels=1, side=16,
                device="cpu", patch=(16, 16, 16))  # fmt: skip
    assert seen["dims"] == 3


def test_a_2d_only_factory_on_volumes_is_refused_with_what_to_do():
    def build(in_channels, num_classes):
        return torch.nn.Conv2d(in_channels, num_classes, 1)

    spec = for_volumes(ModelSpec("mine:build", build))
    assert spec.factory is build  # no spatial_dims keyword: called as before
    with pytest.raises(ModelError, match=r"input \(2, 1, 16, 16, 16\).*spatial_dims|forward pass on input"):
        check_model(spec, in_channels=1, out_channels=1, side=16, device="cpu", patch=(16, 16, 16))


def test_monai_unet_preset_is_3d_on_volumes():
    pytest.importorskip("monai")
    spec = for_volumes(resolve_model("monai-unet"))
    info = check_model(spec, in_channels=1, out_channels=3, side=32, device="cpu", patch=(32, 32, 32))
    model = spec.factory(1, 3)
    assert any(isinstance(m, torch.nn.Conv3d) for m in model.modules())
    assert info.parameters > 0
