"""profile_masks on hand-made masks whose every statistic was worked out by hand, plus invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
from PIL import Image
from skimage.measure import label as sk_label

from lossadvisor.errors import ConfigError
from lossadvisor.profile import profile_masks, profile_masks_detailed


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, array)
    else:
        Image.fromarray(array).save(path)
    return path


@pytest.fixture()
def two_squares(tmp_path):
    """100x100: a 6x6 square (36 px, tiny) and a 40x40 square (1600 px, medium); plus one empty mask."""
    mask = np.zeros((100, 100), dtype=np.uint8)
    mask[10:16, 10:16] = 255
    mask[50:90, 50:90] = 255
    _save(tmp_path / "m" / "a.png", mask)
    _save(tmp_path / "m" / "b_empty.png", np.zeros((100, 100), dtype=np.uint8))
    return tmp_path / "m"


def test_two_squares_every_statistic(two_squares):
    p = profile_masks(two_squares, train_sizes=(50,), workers=1, progress=False)
    assert (p.task, p.num_classes, p.mask_encoding) == ("binary", 2, "binary 0/255")
    assert (p.files_found, p.files_read, p.skipped) == (2, 2, ())
    bg, fg = p.classes
    assert fg.pixel_count == 36 + 1600 and bg.pixel_count == 20000 - 1636
    assert fg.pixel_frequency == pytest.approx(1636 / 20000)
    assert p.imbalance_ratio == pytest.approx((20000 - 1636) / 1636)
    assert p.minority_class == "foreground" and p.minority_share == pytest.approx(1636 / 20000)
    assert fg.absent_share == 0.5 and p.empty_mask_share == 0.5
    assert p.foreground_fraction.mean == pytest.approx(1636 / 10000 / 2)
    o = fg.objects
    assert o.count == 2
    assert (o.per_image.min, o.per_image.max) == (0, 2)
    assert (o.area_px.min, o.area_px.max) == (36, 1600)
    assert o.area_share.max == pytest.approx(0.16)
    assert o.equivalent_diameter.min == pytest.approx(math.sqrt(4 * 36 / math.pi))
    assert o.size_buckets == {"tiny": 1, "small": 0, "medium": 1, "large": 0}
    hist = [0] * 11
    hist[5], hist[10] = 1, 1  # 36 in [32, 64), 1600 in [1024, 2048)
    assert o.area_log2_histogram == tuple(hist)
    # Boundary of an s x s square: 4s - 4 pixels.
    assert fg.boundary_pixels == (4 * 6 - 4) + (4 * 40 - 4)
    assert p.boundary_share == pytest.approx(176 / 1636)
    # Scale effect at 50 px: factor 0.5; diameters 6.77 -> 3.39 (< 4 px, not < 2 px) and 45.1 -> 22.6.
    (effect,) = p.scale_effects
    assert effect.scale_factor_median == 0.5 and effect.objects == 2
    assert effect.share_objects_below == {"2px": 0.0, "4px": 0.5}
    assert effect.share_foreground_pixels_below["4px"] == pytest.approx(36 / 1636)


def test_ring_is_one_object_and_all_boundary(tmp_path):
    mask = np.zeros((20, 20), dtype=np.uint8)
    mask[5:15, 5:15] = 1
    mask[7:13, 7:13] = 0  # a ring 2 px thick: 100 - 36 = 64 px
    p = profile_masks(_save(tmp_path / "ring.png", mask), workers=1, progress=False)
    fg = p.class_by_name("foreground")
    assert fg.objects.count == 1 and fg.pixel_count == 64
    # Boundary = a 4-neighbour outside the class: the outer layer (36 px) and the inner layer (28 px) except
    # its 4 corners, whose only outside neighbour (the hole's corner) is diagonal.
    assert fg.boundary_pixels == 36 + 28 - 4
    assert fg.boundary_share == pytest.approx(60 / 64)


def test_diagonal_pixels_join_under_8_connectivity_only(tmp_path):
    mask = np.zeros((10, 10), dtype=np.uint8)
    mask[1, 1] = mask[2, 2] = 1  # diagonal neighbours
    mask[5:7, 5:7] = 1
    mask[5:7, 7:9] = 1  # touching edge to edge: one object either way
    path = _save(tmp_path / "d.png", mask)
    counts = {
        c: profile_masks(path, connectivity=c, workers=1, progress=False).classes[1].objects.count
        for c in (4, 8)
    }
    assert counts == {8: 2, 4: 3}


@pytest.mark.parametrize("stored", ["0/255", "0/1", "bool"])
def test_binary_encodings_give_the_same_profile(tmp_path, stored):
    mask = np.zeros((30, 30), dtype=bool)
    mask[3:9, 4:20] = True
    data = {"0/255": mask.astype(np.uint8) * 255, "0/1": mask.astype(np.uint8), "bool": mask}[stored]
    path = _save(tmp_path / ("m.npy" if stored == "bool" else "m.png"), data)
    p = profile_masks(path, workers=1, progress=False)
    assert p.task == "binary" and p.classes[1].pixel_count == 96 and p.classes[1].objects.count == 1


def test_ignore_index_excluded_from_every_statistic(tmp_path):
    mask = np.zeros((10, 10), dtype=np.uint8)
    mask[2:4, 2:4] = 1
    mask[9, :] = 255
    p = profile_masks(_save(tmp_path / "i.png", mask), ignore_index=255, workers=1, progress=False)
    assert p.ignored_pixels == 10 and p.total_pixels == 90
    assert p.classes[1].pixel_count == 4 and p.classes[0].pixel_count == 86
    assert p.foreground_fraction.mean == pytest.approx(4 / 90)


def test_palette_multiclass_and_rgb_with_class_map(tmp_path):
    labels = np.zeros((10, 10), dtype=np.uint8)
    labels[0:2, :] = 1
    labels[5, 5] = 2
    image = Image.fromarray(labels, mode="P")
    image.putpalette([0, 0, 0, 200, 0, 0, 0, 0, 200] + [0] * 759)
    image.save(tmp_path / "p.png")
    p = profile_masks(tmp_path / "p.png", workers=1, progress=False)
    assert (p.task, p.mask_encoding, p.num_classes) == ("multiclass", "palette", 3)
    assert [c.pixel_count for c in p.classes] == [79, 20, 1]
    assert p.imbalance_ratio == 79.0 and p.minority_class == "class_2"
    rgb = np.zeros((10, 10, 3), dtype=np.uint8)
    rgb[0:2, :] = (200, 0, 0)
    (tmp_path / "rgb").mkdir()
    Image.fromarray(rgb).save(tmp_path / "rgb" / "c.png")
    cmap = {"background": [0, 0, 0], "road": [200, 0, 0], "water": [0, 0, 200]}
    q = profile_masks(tmp_path / "rgb", class_map=_class_map(cmap), workers=1, progress=False)
    assert [c.name for c in q.classes] == ["background", "road", "water"]
    # a declared class without a pixel is reported as never occurring and left out of the imbalance:
    # 80 background : 20 road pixels (issue 11)
    assert q.class_by_name("water").pixel_count == 0 and q.imbalance_ratio == 4.0
    assert q.minority_class == "road" and q.minority_share == 0.2
    assert q.class_by_name("water").absent_share == 1.0
    assert any("'water' (index 2) never occurs" in w for w in q.warnings)


def _class_map(mapping):
    from lossadvisor.io import ClassMap

    return ClassMap.from_mapping(mapping)


def test_invariants_on_random_blobs_and_reference_labellers(tmp_path):
    rng = np.random.default_rng(7)
    expected = {4: 0, 8: 0}
    for i in range(6):
        noise = ndi.gaussian_filter(rng.random((64, 80)), 2.0)
        mask = (noise > np.quantile(noise, 0.7)).astype(np.uint8)
        _save(tmp_path / "b" / f"{i}.png", mask * 255)
        expected[4] += ndi.label(mask)[1]
        expected[8] += sk_label(mask, connectivity=2).max()
    p4 = profile_masks(tmp_path / "b", connectivity=4, workers=1, progress=False)
    p8, frame = profile_masks_detailed(tmp_path / "b", workers=2, progress=False)
    assert p4.classes[1].objects.count == expected[4]
    assert p8.classes[1].objects.count == expected[8]
    assert sum(c.pixel_frequency for c in p8.classes) == pytest.approx(1.0)
    objects = p8.classes[1].objects
    assert objects.area_px.mean * objects.count == pytest.approx(p8.classes[1].pixel_count)
    assert frame["objects_foreground"].sum() == expected[8]
    assert (frame["pixels_background"] + frame["pixels_foreground"] == 64 * 80).all()


def test_resizing_to_the_native_size_changes_nothing(two_squares):
    p = profile_masks(two_squares, train_sizes=(100,), workers=1, progress=False)
    (effect,) = p.scale_effects
    assert effect.scale_factor_median == 1.0
    diameters = [math.sqrt(4 * a / math.pi) for a in (36, 1600)]  # 6.8 and 45.1: neither below 2 or 4 px
    assert effect.share_objects_below == {
        "2px": sum(d < 2 for d in diameters) / 2,
        "4px": sum(d < 4 for d in diameters) / 2,
    }


def test_workers_give_the_same_profile(two_squares):
    one = profile_masks(two_squares, workers=1, progress=False, train_sizes=(64,))
    two = profile_masks(two_squares, workers=2, progress=False, train_sizes=(64,))
    assert one == two


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"connectivity": 6}, r"connectivity must be 4 or 8; got 6"),
        ({"train_sizes": (0,)}, r"train_sizes must be positive integers .*got 0"),
        ({"workers": 0}, r"workers must be a positive integer or None .*got 0"),
        ({"ignore_index": "255"}, r"ignore_index must be an integer pixel value .*got '255'"),
    ],
)
def test_argument_validation(two_squares, kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        profile_masks(two_squares, progress=False, **kwargs)
