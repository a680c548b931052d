"""Tiny synthetic datasets for the tuner tests: 32x32 tiles, bright squares as foreground, a few empty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def make_dataset(root: Path, *, n: int = 12, n_empty: int = 3, side: int = 32, seed: int = 0) -> Path:
    """Write ``root/images/tile_XX.png`` (RGB) and ``root/masks/tile_XX.png`` (0/255).

    Foreground squares are brighter than the background, so a U-Net learns them in a few steps.
    """
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        mask = np.zeros((side, side), dtype=np.uint8)
        if i >= n_empty:
            for _ in range(1 + i % 3):
                s = int(rng.integers(3, side // 3))
                y, x = (int(v) for v in rng.integers(0, side - s, size=2))
                mask[y : y + s, x : x + s] = 255
        image = rng.integers(0, 90, size=(side, side, 3)).astype(np.uint8)
        image[mask > 0] += 120
        Image.fromarray(image).save(root / "images" / f"tile_{i:02d}.png")
        Image.fromarray(mask).save(root / "masks" / f"tile_{i:02d}.png")
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests run with one torch thread: steady timings on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")


@pytest.fixture
def dataset_factory():
    """:func:`make_dataset`, for tests that write (and rewrite) their own data."""
    return make_dataset


@pytest.fixture
def tiny():
    """Settings that keep a whole study to a few seconds on one core."""
    return {
        "size": 32,
        "epochs": 2,
        "steps_per_epoch": 2,
        "batch_size": 4,
        "seeds": 1,
        "confirm_budget": "18",  # the race's minimum: 3 finalists x 3 folds x 2 repetitions
        "threads": 1,
        "progress": False,
    }
