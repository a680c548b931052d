from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lossadvisor.errors import ConfigError
from lossadvisor.io import read_mask
from lossadvisor.tune import build_train_data, pair_files
from lossadvisor.tune.data import _cache


def _labels(path):
    return read_mask(path).labels


def test_cache_is_built_once_then_reused(tiny_dataset, tmp_path, monkeypatch):
    pairs = pair_files(tiny_dataset / "images", tiny_dataset / "masks").pairs
    calls = []
    real_decode = _cache._decode
    monkeypatch.setattr(_cache, "_decode", lambda *a, **k: calls.append(1) or real_decode(*a, **k))
    first = build_train_data(pairs, read_mask=_labels, cache_dir=tmp_path / "cache", fingerprint="f", size=16)
    mtime = first.cache_path.stat().st_mtime_ns
    second = build_train_data(
        pairs, read_mask=_labels, cache_dir=tmp_path / "cache", fingerprint="f", size=16
    )
    assert len(calls) == 1  # decoded once
    assert not first.loaded_from_cache and second.loaded_from_cache
    assert second.cache_path == first.cache_path and second.cache_path.stat().st_mtime_ns == mtime
    assert np.array_equal(first.val_images, second.val_images)
    assert first.train_names == second.train_names
    # Another size is another cache file.
    third = build_train_data(pairs, read_mask=_labels, cache_dir=tmp_path / "cache", fingerprint="f", size=32)
    assert len(calls) == 2 and third.cache_path != first.cache_path


def test_resize_keeps_mask_values_and_scales_objects(tiny_dataset, tmp_path):
    pairs = pair_files(tiny_dataset / "images", tiny_dataset / "masks").pairs
    data = build_train_data(pairs, read_mask=_labels, cache_dir=tmp_path, fingerprint="f", size=16)
    assert data.val_images.shape[1:] == (16, 16, 3)
    assert set(np.unique(np.concatenate([m.ravel() for m in data.train_masks]))) <= {0, 1}  # nearest
    assert data.scale == pytest.approx(0.5)
    assert len(data.train_images) + len(data.val_images) == 12


def test_crop_mode_keeps_native_resolution_and_covers_validation_tiles(tiny_dataset, tmp_path):
    pairs = pair_files(tiny_dataset / "images", tiny_dataset / "masks").pairs
    data = build_train_data(pairs, read_mask=_labels, cache_dir=tmp_path, fingerprint="f", crop=24)
    assert data.train_images[0].shape == (32, 32, 3)
    # A 32 px tile needs 2x2 windows of 24 px (the last ones aligned to the far edge).
    n_val_tiles = len({name.split("@")[0] for name in data.val_names})
    assert len(data.val_images) == 4 * n_val_tiles
    assert data.scale == 1.0
    with pytest.raises(ConfigError, match="--crop 48 is larger than"):
        build_train_data(pairs, read_mask=_labels, cache_dir=tmp_path, fingerprint="f", crop=48)


def test_unreadable_and_mismatched_pairs_are_skipped_with_reasons(tiny_dataset, tmp_path):
    (tiny_dataset / "masks" / "tile_05.png").write_bytes(b"broken")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tiny_dataset / "masks" / "tile_06.png")
    pairs = pair_files(tiny_dataset / "images", tiny_dataset / "masks").pairs
    data = build_train_data(pairs, read_mask=_labels, cache_dir=tmp_path, fingerprint="f", size=16)
    reasons = "\n".join(data.skipped)
    assert "tile_05" in reasons
    assert "tile_06: image is 32x32 but mask is 8x8" in reasons
    assert len(data.train_images) + len(data.val_images) == 10
