from __future__ import annotations

import logging

import numpy as np
import pytest
import tifffile
from PIL import Image

from lossadvisor.errors import DataError, NoUsableDataError
from lossadvisor.tune import pair_files, read_image


def test_pairs_by_stem_and_lists_the_unpaired(tmp_path, caplog):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for name in ("a.jpg", "b.png", "c.tif"):
        (tmp_path / "images" / name).write_bytes(b"x")
    for name in ("a.png", "b.png", "d.png", "notes.txt"):
        (tmp_path / "masks" / name).write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="lossadvisor"):
        pairing = pair_files(tmp_path / "images", tmp_path / "masks")
    assert [p.stem for p in pairing.pairs] == ["a", "b"]
    assert [p.rsplit("/", 1)[-1] for p in pairing.unpaired_images] == ["c.tif"]
    assert [p.rsplit("/", 1)[-1] for p in pairing.unpaired_masks] == ["d.png"]  # notes.txt is not a mask
    assert "c.tif: image without a mask" in caplog.text
    assert "d.png: mask without an image" in caplog.text


def test_two_files_with_one_stem_are_reported(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for name in ("a.png", "a.jpg", "b.png"):
        (tmp_path / "images" / name).write_bytes(b"x")
    for name in ("a.png", "b.png"):
        (tmp_path / "masks" / name).write_bytes(b"x")
    pairing = pair_files(tmp_path / "images", tmp_path / "masks")
    assert [p.stem for p in pairing.pairs] == ["b"]
    problems = pairing.problems()
    # one line that names both images as duplicates; the mask is not "without an image" (issue 11)
    assert len(problems) == 1 and "a.jpg, " in problems[0] and "duplicate images" in problems[0]
    assert "masks/a.png is left out too" in problems[0]


def test_missing_folder_and_no_pairs(tmp_path):
    with pytest.raises(DataError, match="The images folder .* does not exist"):
        pair_files(tmp_path / "nope", tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"x")
    (tmp_path / "masks" / "b.png").write_bytes(b"x")
    with pytest.raises(NoUsableDataError, match="paired by name without extension"):
        pair_files(tmp_path / "images", tmp_path / "masks")


def test_grey_rgba_and_16_bit_images_become_rgb_uint8(tmp_path):
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    out = read_image(tmp_path / "grey.png")
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], grey) and np.array_equal(out[..., 2], grey)

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 1] = 200
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    assert read_image(tmp_path / "rgba.png")[0, 0].tolist() == [0, 200, 0]

    deep = np.linspace(0, 4000, 100, dtype=np.uint16).reshape(10, 10)
    tifffile.imwrite(tmp_path / "deep.tif", deep)
    out = read_image(tmp_path / "deep.tif")
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255  # stretched, not truncated


def test_corrupt_image_is_a_data_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="Cannot decode image"):
        read_image(tmp_path / "bad.png")
