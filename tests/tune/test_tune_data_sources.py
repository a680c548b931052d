"""tune(train=..., val=...): a torch Dataset or a pair of in-memory arrays instead of folders by stem."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lossadvisor.errors import ConfigError, NoUsableDataError
from lossadvisor.io import mask_from_array, read_mask
from lossadvisor.profile import profile_arrays
from lossadvisor.tune import tune
from lossadvisor.tune.data._cache import train_data_from_memory
from lossadvisor.tune.data._sources import collect
from lossadvisor.tune.outputs._result import display_rgb


def squares(n: int, *, side: int = 32, n_empty: int = 2, channels: int = 3, seed: int = 0):
    """Images (n, side, side, channels) uint8 with bright squares, masks (n, side, side) 0/255."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, side, side), np.uint8)
    for i in range(n_empty, n):
        s = int(rng.integers(4, side // 3))
        y, x = (int(v) for v in rng.integers(0, side - s, size=2))
        masks[i, y : y + s, x : x + s] = 255
    images = rng.integers(0, 90, size=(n, side, side, channels)).astype(np.uint8)
    images[masks > 0] += 120
    return images, masks


class BandDataset(torch.utils.data.Dataset):
    """Four-band float tensors (C, H, W) and (1, H, W) tensor masks, as a GeoTIFF-stack Dataset returns them.

    Item 3 has a mask of the wrong size and item 5 raises: both must be skipped and listed.
    """

    def __init__(self, n: int, seed: int) -> None:
        images, masks = squares(n, channels=4, seed=seed)
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        self.masks = torch.from_numpy((masks > 0).astype(np.int64))[:, None]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        if i == 5:
            raise OSError("band 3 of scene 5 is corrupt")
        mask = self.masks[i][:, :16] if i == 3 else self.masks[i]
        return {"image": self.images[i], "mask": mask}


def test_mask_from_array_reads_values_as_a_file_with_them(tmp_path):
    values = np.zeros((8, 8), np.uint8)
    values[2:4, 2:5] = 255
    np.save(tmp_path / "m.npy", values)
    from_file = read_mask(tmp_path / "m.npy")
    from_array = mask_from_array(values, name="m")
    assert from_array.encoding == from_file.encoding == "binary 0/255"
    assert np.array_equal(from_array.labels, from_file.labels)
    assert from_array.pixel_counts == from_file.pixel_counts == {0: 58, 1: 6}


def test_profile_arrays_counts_by_hand():
    masks = np.zeros((4, 8, 8), np.uint8)
    masks[0, 0:2, 0:2] = 1  # one object of 4 px
    masks[1, 4:7, 4:7] = 1  # one object of 9 px
    masks[1, 0, 7] = 1  # a second object of 1 px
    bad = np.full((8, 8), 0.5)  # probabilities, not classes: skipped, named
    profile, frame = profile_arrays([*masks, bad], names=["a", "b", "c", "d", "probs"])
    fg = profile.class_by_name("foreground")
    assert profile.files_read == 4 and profile.files_found == 5
    assert fg.pixel_count == 4 + 9 + 1 and profile.total_pixels == 4 * 64
    assert profile.empty_mask_share == 0.5
    assert fg.objects.count == 3
    assert [s.path for s in profile.skipped] == ["probs"] and "float64" in profile.skipped[0].reason
    assert list(frame["file"]) == ["a", "b", "c", "d", "probs"]
    # the fingerprint follows the values: one changed pixel gives another
    masks2 = masks.copy()
    masks2[3, 0, 0] = 1
    assert profile_arrays(masks2)[0].fingerprint != profile_arrays(masks)[0].fingerprint


def test_given_validation_set_is_used_as_is():
    train = collect(squares(6), role="train")
    val = collect(squares(3, seed=1), role="val")
    data = train_data_from_memory(train, val, size=32)
    assert data.train_names == [f"train[{i}]" for i in range(6)]
    assert data.val_names == ["val[0]", "val[1]", "val[2]"]
    assert data.channels == 3 and data.val_images.dtype == np.uint8


def test_pair_of_arrays_runs_a_study(tmp_path, tiny):
    out = tmp_path / "run"
    result = tune(train=squares(10), val=squares(4, seed=1), out=out, n_trials=2, report=False, **tiny)
    assert result.recommended.loss
    profile = json.loads((out / "profile.json").read_text())
    assert profile["files_read"] == 14 and profile["source"] == "<in-memory arrays>"
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["data"] == "in memory: 10 training items, 4 validation items"
    assert run["settings"]["images"] is None and run["command"].startswith("tune(train=<in memory")
    assert not (out / "cache").exists() or not list((out / "cache").glob("data_*.npz"))


def test_dataset_of_multiband_tensors_skips_bad_items(tmp_path, tiny):
    seen = []

    def factory(in_channels, num_classes):
        seen.append(in_channels)
        return torch.nn.Conv2d(in_channels, num_classes, 3, padding=1)

    out = tmp_path / "run"
    tune(train=BandDataset(10, 0), val=BandDataset(4, 1), out=out, n_trials=1, report=False,
         model=factory, **tiny)  # fmt: skip
    assert set(seen) == {4}  # four bands in, the model built for them
    left_out = json.loads((out / "run.json").read_text())["left_out"]
    assert any(s.startswith("train[3]: image is 32x32 but mask is 16x32") for s in left_out)
    assert any(s.startswith("train[5]: reading it raised OSError: band 3 of scene 5") for s in left_out)
    samples = np.load(out / "samples.npz")
    assert samples["images"].dtype == np.uint8 and samples["images"].shape[1:] == (32, 32, 3)


def test_display_rgb_stretches_bands_to_uint8():
    bands = np.linspace(0.0, 1.0, 2 * 4 * 4 * 5).reshape(2, 4, 4, 5)
    rgb = display_rgb(bands)
    assert rgb.shape == (2, 4, 4, 3) and rgb.dtype == np.uint8
    assert rgb.min() == 0 and rgb.max() == 255
    grey = display_rgb(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
    assert np.array_equal(grey[..., 0], grey[..., 2])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"images": "imgs", "train": squares(4)}, "either image and mask folders"),
        ({"val": squares(4)}, "'val' option of tune needs 'train'"),
        ({"train": squares(4), "out": None}, "'out' option of tune is required with in-memory data"),
        ({"train": (np.zeros((3, 8, 8)), np.zeros((2, 8, 8), np.uint8))}, "3 images but 2 masks"),
        ({"train": [1, 2]}, "Dataset item 0 is a int"),
    ],
)
def test_bad_in_memory_data_is_refused_before_writing(tmp_path, kwargs, message):
    kwargs = {"out": tmp_path / "run", **kwargs}
    with pytest.raises(ConfigError, match=message):
        tune(progress=False, **kwargs)
    assert not (tmp_path / "run").exists()


def test_channel_counts_must_agree_and_something_must_be_usable():
    images = [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 4), np.uint8)]
    masks = [np.zeros((8, 8), np.uint8)] * 2
    with pytest.raises(ConfigError, match=r"train\[1\] has 4 channel\(s\) but earlier images have 3"):
        collect((images, masks), role="train")
    with pytest.raises(NoUsableDataError, match=r"No item of the 'train' data could be used: train\[0\]"):
        collect(([np.zeros((8, 8))], [np.full((8, 8), -1)]), role="train")
