"""read_mask: every supported encoding, checked against hand-made masks with known values."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from lossadvisor.errors import ConfigError, DataError
from lossadvisor.io import ClassMap, MaskFileError, read_mask


def _binary(shape=(8, 8)) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[2:5, 3:7] = 1  # 12 foreground pixels
    return mask


@pytest.mark.parametrize(
    ("stored", "suffix", "encoding"),
    [
        (lambda m: m * 255, ".png", "binary 0/255"),
        (lambda m: m, ".png", "binary 0/1"),
        (lambda m: m.astype(bool), ".npy", "boolean"),
        (lambda m: m.astype(np.uint16) * 65535, ".png", "binary 0/65535"),
        (lambda m: m * 255, ".tif", "binary 0/255"),
        (lambda m: m.astype(np.int64), ".npy", "binary 0/1"),
    ],
)
def test_binary_encodings_read_as_0_1(tmp_path, stored, suffix, encoding):
    path = tmp_path / f"m{suffix}"
    data = stored(_binary())
    if suffix == ".npy":
        np.save(path, data)
    elif suffix == ".tif":
        tifffile.imwrite(path, data)
    else:
        Image.fromarray(data).save(path)
    mask = read_mask(path)
    assert mask.encoding == encoding
    np.testing.assert_array_equal(mask.labels, _binary())
    assert mask.pixel_counts == {0: 64 - 12, 1: 12}
    assert mask.ignored_pixels == 0


def test_grey_saved_as_rgb_and_rgba_reads_as_grey(tmp_path):
    grey = _binary() * 255
    Image.fromarray(np.dstack([grey] * 3)).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([grey] * 3 + [np.full_like(grey, 255)])).save(tmp_path / "rgba.png")
    for name in ("rgb.png", "rgba.png"):
        mask = read_mask(tmp_path / name)
        assert mask.grey_from_rgb and mask.encoding == "binary 0/255"
        np.testing.assert_array_equal(mask.labels, _binary())


def test_label_values_are_class_indices(tmp_path):
    labels = np.array([[0, 1, 2], [3, 3, 0]], dtype=np.uint8)
    Image.fromarray(labels).save(tmp_path / "l.png")
    mask = read_mask(tmp_path / "l.png")
    assert mask.encoding == "label values"
    assert mask.pixel_counts == {0: 2, 1: 1, 2: 1, 3: 2}
    np.testing.assert_array_equal(mask.labels, labels)


def test_palette_png_gives_palette_indices(tmp_path):
    image = Image.fromarray(np.array([[0, 1], [2, 2]], dtype=np.uint8), mode="P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (253 * 3))
    image.save(tmp_path / "p.png")
    mask = read_mask(tmp_path / "p.png")
    assert mask.encoding == "palette"
    assert mask.pixel_counts == {0: 1, 1: 1, 2: 2}


def test_palette_png_with_colour_class_map_uses_the_map_order(tmp_path):
    image = Image.fromarray(np.array([[0, 1], [2, 2]], dtype=np.uint8), mode="P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (253 * 3))
    image.save(tmp_path / "p.png")
    cmap = ClassMap.from_mapping({"background": [0, 0, 0], "grass": [0, 255, 0], "roof": [255, 0, 0]})
    mask = read_mask(tmp_path / "p.png", class_map=cmap)
    np.testing.assert_array_equal(mask.labels, [[0, 2], [1, 1]])
    assert mask.class_names == ("background", "grass", "roof")


def test_rgb_with_class_map_file(tmp_path):
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[0, :] = (255, 0, 0)  # 4 px roof
    rgb[1:3, 0] = (128, 64, 128)  # 2 px road
    Image.fromarray(rgb).save(tmp_path / "c.png")
    (tmp_path / "map.json").write_text(
        json.dumps({"background": "#000000", "roof": [255, 0, 0], "road": [128, 64, 128]})
    )
    mask = read_mask(tmp_path / "c.png", class_map=tmp_path / "map.json")
    assert mask.encoding == "rgb class map"
    assert mask.pixel_counts == {0: 10, 1: 4, 2: 2}


def test_colour_outside_the_class_map_is_named(tmp_path):
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[0, 0] = (9, 9, 200)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    cmap = ClassMap.from_mapping({"background": [0, 0, 0], "roof": [255, 0, 0]})
    with pytest.raises(
        MaskFileError, match=r"c\.png: expected only the declared classes.*\(9, 9, 200\) \(1 px\)"
    ):
        read_mask(tmp_path / "c.png", class_map=cmap)


def test_value_class_map_and_ignore_entry(tmp_path):
    grey = np.array([[0, 128, 255], [77, 0, 0]], dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    cmap = ClassMap.from_mapping({"0": "background", "128": "road", "255": "building", "77": "void"})
    mask = read_mask(tmp_path / "g.png", class_map=cmap)
    assert mask.pixel_counts == {0: 3, 1: 1, 2: 1}
    assert mask.ignored_pixels == 1 and mask.labels[1, 0] == 255


def test_ignore_index_is_excluded_and_kept_in_labels(tmp_path):
    labels = _binary()
    labels[0, :] = 255  # a boundary row marked "don't care"
    Image.fromarray(labels).save(tmp_path / "i.png")
    mask = read_mask(tmp_path / "i.png", ignore_index=255)
    assert mask.encoding == "binary 0/1"
    assert mask.ignored_pixels == 8
    assert mask.pixel_counts == {0: 64 - 12 - 8, 1: 12}
    assert (mask.labels[0] == 255).all() and mask.labels[1:].max() == 1


def test_ignore_index_on_an_all_ignored_or_empty_file(tmp_path):
    Image.fromarray(np.full((4, 4), 255, dtype=np.uint8)).save(tmp_path / "all.png")
    mask = read_mask(tmp_path / "all.png", ignore_index=255)
    assert (mask.encoding, mask.ignored_pixels, mask.pixel_counts) == ("empty", 16, {})
    assert (mask.labels == 255).all()


def test_rgb_photo_without_class_map(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "photo.png")
    with pytest.raises(
        MaskFileError,
        match=r"photo\.png: expected a mask .*found an RGB image with [\d,]+ "
        r"distinct colours, which looks like a photo",
    ):
        read_mask(tmp_path / "photo.png")


def test_colour_coded_mask_without_class_map_asks_for_one(tmp_path):
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[0] = (255, 0, 0)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    with pytest.raises(MaskFileError, match=r"an RGB mask with 2 colours.*--class-map"):
        read_mask(tmp_path / "c.png")


@pytest.mark.parametrize(
    ("array", "pattern"),
    [
        (np.array([[0.0, np.nan], [1.0, 0.0]]), r"float64 data with 1 NaN value"),
        (np.array([[0.0, 0.5], [1.0, 0.0]], dtype=np.float32), r"float32 data"),
        (np.array([[0, -1], [1, 0]]), r"negative values \(minimum -1\).*--ignore-index"),
        (np.ones((5, 6, 7), dtype=np.uint8), r"expected one 2-D mask .*found an array of shape \(5, 6, 7\)"),
    ],
)
def test_bad_npy_content(tmp_path, array, pattern):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(MaskFileError, match=pattern):
        read_mask(tmp_path / "bad.npy")


def test_zero_byte_and_corrupt_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(
        MaskFileError, match=r"empty\.png: expected a mask image; found an empty file \(0 bytes\)"
    ):
        read_mask(tmp_path / "empty.png")
    (tmp_path / "junk.tif").write_bytes(b"this is not a tiff at all")
    with pytest.raises(
        MaskFileError, match=r"junk\.tif: expected a readable TIFF file; found a file that cannot"
    ):
        read_mask(tmp_path / "junk.tif")


def test_truncated_png_is_reported_as_corrupt(tmp_path):
    Image.fromarray(np.random.default_rng(1).integers(0, 2, (64, 64), dtype=np.uint8) * 255).save(
        tmp_path / "a.png"
    )
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(
        MaskFileError, match=r"cut\.png: expected a readable PNG file; found a file that cannot be"
    ):
        read_mask(tmp_path / "cut.png")


def test_jpeg_is_refused_with_the_reason(tmp_path):
    Image.fromarray(_binary() * 255).save(tmp_path / "m.jpg")
    with pytest.raises(MaskFileError, match=r"expected a lossless mask.*found a JPEG file"):
        read_mask(tmp_path / "m.jpg")


def test_symlink_loop_file(tmp_path):
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    with pytest.raises(MaskFileError, match=r"loop\.png: expected a mask file; found a symbolic-link loop"):
        read_mask(tmp_path / "loop.png")


def test_ignore_index_colliding_with_a_class_is_a_config_error():
    cmap = ClassMap.from_mapping({"background": 0, "a": 1, "b": 2})
    with pytest.raises(ConfigError, match=r"ignore_index 1 is also a class index"):
        read_mask("unused.png", class_map=cmap, ignore_index=1)


def test_errors_are_data_errors_and_value_errors(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(DataError):
        read_mask(tmp_path / "e.png")
    with pytest.raises(ValueError):
        read_mask(tmp_path / "e.png")


def test_geotiff_and_16_bit_labels(tmp_path):
    labels = np.zeros((6, 6), dtype=np.uint16)
    labels[1:3, 1:3] = 2
    labels[4, 4] = 1
    # GeoKeyDirectoryTag (34735): version 1.1.0 with no keys, enough to make the file a GeoTIFF.
    tifffile.imwrite(tmp_path / "geo.tif", labels, extratags=[(34735, "H", 4, (1, 1, 0, 0))])
    mask = read_mask(tmp_path / "geo.tif")
    assert (mask.file_format, mask.encoding) == ("GeoTIFF", "label values")
    assert mask.pixel_counts == {0: 31, 1: 1, 2: 4}
    assert mask.labels.dtype == np.uint8  # the smallest dtype that holds the classes
