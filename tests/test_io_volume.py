"""read_volume / read_volume_image / pair_volumes on hand-made NIfTI and .npy volumes with known values."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from lossadvisor.errors import NoUsableDataError
from lossadvisor.io import (
    MaskFileError,
    pair_volumes,
    read_volume,
    read_volume_header,
    read_volume_image,
    scan_source,
)

# nibabel axes (i, j, k) with voxel size 0.8 x 0.8 x 5.0 mm: k is the thick-slice axis.
ZOOMS_IJK = (0.8, 0.8, 5.0)


def _save_nifti(path, data_ijk: np.ndarray, zooms=ZOOMS_IJK, dtype=None) -> None:
    img = nib.Nifti1Image(data_ijk if dtype is None else data_ijk.astype(dtype), np.diag([*zooms, 1.0]))
    if dtype is not None:
        img.set_data_dtype(dtype)
    nib.save(img, path)


def _labels_ijk() -> np.ndarray:
    """(i, j, k) = (6, 5, 4): class 1 on a 2x2x1 block, class 2 on one voxel at (i=5, j=4, k=3)."""
    data = np.zeros((6, 5, 4), dtype=np.uint8)
    data[0:2, 0:2, 1] = 1
    data[5, 4, 3] = 2
    return data


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_nifti_round_trip_keeps_values_axes_and_spacing(tmp_path, dtype):
    path = tmp_path / "case.nii.gz"
    _save_nifti(path, _labels_ijk(), dtype=dtype)
    v = read_volume(path)
    # Array order (k, j, i): shape reversed, spacing reversed, values at transposed indices.
    assert v.labels.shape == (4, 5, 6)
    assert v.spacing == pytest.approx((5.0, 0.8, 0.8))
    assert v.labels.dtype == np.uint8 and v.labels.flags.c_contiguous
    np.testing.assert_array_equal(v.labels, _labels_ijk().transpose(2, 1, 0))
    assert v.labels[3, 4, 5] == 2 and v.labels[1, 0, 0] == 1
    assert v.voxel_counts == {0: 120 - 5, 1: 4, 2: 1}
    assert v.encoding == "label values"
    assert v.voxel_volume_mm3 == pytest.approx(0.8 * 0.8 * 5.0)
    assert v.orientation == "SAR"  # a diagonal positive affine is RAS+; array axes are (k, j, i)
    assert v.spacing_known and v.file_format == "NIfTI"
    assert v.source_dtype == np.dtype(dtype).name


def test_scaled_labels_are_read_through_dataobj_as_integers(tmp_path):
    # A header scale factor of 1 still makes get_fdata() return float64; labels must stay integers.
    img = nib.Nifti1Image(_labels_ijk(), np.eye(4))
    img.header.set_slope_inter(1.0, 0.0)
    nib.save(img, tmp_path / "s.nii")
    v = read_volume(tmp_path / "s.nii")
    assert v.labels.dtype.kind == "u" and v.voxel_counts[2] == 1


def test_float_labels_with_fractions_are_refused_naming_the_file(tmp_path):
    data = _labels_ijk().astype(np.float32)
    data[0, 0, 0] = 0.5
    _save_nifti(tmp_path / "soft.nii.gz", data, dtype=np.float32)
    with pytest.raises(MaskFileError, match=r"soft\.nii\.gz.*1 non-integer value.*e\.g\. 0\.5.*nearest"):
        read_volume(tmp_path / "soft.nii.gz")


def test_binary_0_255_volume_reads_as_0_1(tmp_path):
    _save_nifti(tmp_path / "b.nii.gz", (_labels_ijk() > 0).astype(np.uint8) * 255)
    v = read_volume(tmp_path / "b.nii.gz")
    assert v.encoding == "binary 0/255" and v.voxel_counts == {0: 115, 1: 5}
    assert set(np.unique(v.labels)) == {0, 1}


def test_npy_volume_has_unknown_spacing(tmp_path):
    np.save(tmp_path / "v.npy", _labels_ijk().transpose(2, 1, 0))
    v = read_volume(tmp_path / "v.npy")
    assert v.labels.shape == (4, 5, 6) and v.voxel_counts[1] == 4
    assert v.spacing == (1.0, 1.0, 1.0) and not v.spacing_known and v.orientation == ""


def test_truncated_gzip_is_a_clear_file_error(tmp_path):
    path = tmp_path / "cut.nii.gz"
    _save_nifti(path, np.random.default_rng(0).integers(0, 3, (40, 40, 40), dtype=np.uint8))
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw)[: len(gzip.compress(raw)) // 2])
    with pytest.raises(MaskFileError, match=r"cut\.nii\.gz.*truncated or corrupt"):
        read_volume(path)


def test_4d_label_is_refused(tmp_path):
    _save_nifti(tmp_path / "t.nii.gz", np.zeros((4, 4, 4, 2), np.uint8))
    with pytest.raises(MaskFileError, match=r"t\.nii\.gz: expected a 3-D label volume; found a 4-D volume"):
        read_volume(tmp_path / "t.nii.gz")


def test_4d_label_with_one_volume_is_squeezed(tmp_path):
    _save_nifti(tmp_path / "t.nii.gz", _labels_ijk()[..., None])
    assert read_volume(tmp_path / "t.nii.gz").labels.shape == (4, 5, 6)


def test_image_volume_given_as_labels_is_refused(tmp_path):
    _save_nifti(tmp_path / "img.nii.gz", np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4))
    with pytest.raises(MaskFileError, match=r"120 distinct values.*imagesTr"):
        read_volume(tmp_path / "img.nii.gz")


def test_image_channels_stack_in_order_and_4d_images_give_channels(tmp_path):
    a = np.full((6, 5, 4), 1.0, np.float32)
    b = np.full((6, 5, 4), 2.0, np.float32)
    _save_nifti(tmp_path / "c_0000.nii.gz", a)
    _save_nifti(tmp_path / "c_0001.nii.gz", b)
    im = read_volume_image([tmp_path / "c_0000.nii.gz", tmp_path / "c_0001.nii.gz"])
    assert im.array.shape == (2, 4, 5, 6) and im.array.dtype == np.float32
    assert im.array[0].max() == 1.0 and im.array[1].min() == 2.0
    assert im.spacing == pytest.approx((5.0, 0.8, 0.8))
    _save_nifti(tmp_path / "m.nii.gz", np.stack([a, b], axis=-1))  # MSD multi-modal: channels last
    im4 = read_volume_image(tmp_path / "m.nii.gz")
    assert im4.array.shape == (2, 4, 5, 6) and im4.array[1, 0, 0, 0] == 2.0


def test_image_channels_of_different_shapes_are_refused(tmp_path):
    _save_nifti(tmp_path / "c_0000.nii.gz", np.zeros((6, 5, 4), np.float32))
    _save_nifti(tmp_path / "c_0001.nii.gz", np.zeros((6, 5, 3), np.float32))
    with pytest.raises(MaskFileError, match=r"c_0001\.nii\.gz: expected a channel of the same shape"):
        read_volume_image([tmp_path / "c_0000.nii.gz", tmp_path / "c_0001.nii.gz"])


def _folders(tmp_path):
    images, labels = tmp_path / "imagesTr", tmp_path / "labelsTr"
    images.mkdir()
    labels.mkdir()
    return images, labels


def test_nnunet_layout_pairs_numbered_channels(tmp_path):
    images, labels = _folders(tmp_path)
    for case in ("la_003", "la_004"):
        _save_nifti(labels / f"{case}.nii.gz", _labels_ijk())
        for ch in ("0001", "0000"):
            _save_nifti(images / f"{case}_{ch}.nii.gz", np.zeros((6, 5, 4), np.float32))
    pairs = pair_volumes(images, labels)
    assert pairs.channels == ("0000", "0001") and pairs.problems == ()
    assert [p.case for p in pairs.pairs] == ["la_003", "la_004"]
    assert [x.name for x in pairs.pairs[0].images] == ["la_003_0000.nii.gz", "la_003_0001.nii.gz"]


def test_named_channel_suffixes_pair_and_a_missing_channel_is_listed(tmp_path):
    images, labels = _folders(tmp_path)
    for case in ("BraTS_01", "BraTS_02"):
        _save_nifti(labels / f"{case}.nii.gz", _labels_ijk())
        for ch in ("t1c", "flair"):
            if case == "BraTS_02" and ch == "t1c":
                continue
            _save_nifti(images / f"{case}_{ch}.nii.gz", np.zeros((6, 5, 4), np.float32))
    pairs = pair_volumes(images, labels)
    assert pairs.channels == ("flair", "t1c")
    assert [p.case for p in pairs.pairs] == ["BraTS_01"]
    ((path, reason),) = pairs.problems
    assert path.name == "BraTS_02.nii.gz" and "found no channel t1c (have flair)" in reason


def test_pairing_lists_shape_mismatch_4d_label_and_orphan_image(tmp_path):
    images, labels = _folders(tmp_path)
    _save_nifti(labels / "good.nii.gz", _labels_ijk())
    _save_nifti(images / "good.nii.gz", np.zeros((6, 5, 4), np.float32))
    _save_nifti(labels / "shifted.nii.gz", _labels_ijk())
    _save_nifti(images / "shifted.nii.gz", np.zeros((6, 5, 5), np.float32))
    _save_nifti(labels / "fourd.nii.gz", np.zeros((6, 5, 4, 3), np.uint8))
    _save_nifti(images / "fourd.nii.gz", np.zeros((6, 5, 4), np.float32))
    _save_nifti(images / "orphan.nii.gz", np.zeros((6, 5, 4), np.float32))
    pairs = pair_volumes(images, labels)
    assert [p.case for p in pairs.pairs] == ["good"]
    reasons = {p.name: r for p, r in pairs.problems}
    assert "found label (4, 5, 6) and image (5, 5, 6)" in reasons["shifted.nii.gz"]
    assert "expected a 3-D label volume; found shape (4, 5, 6, 3)" in reasons["fourd.nii.gz"]
    assert "found no label named like it" in reasons["orphan.nii.gz"]


def test_pairing_with_nothing_usable_raises(tmp_path):
    images, labels = _folders(tmp_path)
    _save_nifti(labels / "a.nii.gz", _labels_ijk())
    with pytest.raises(NoUsableDataError, match=r"No image/label pair.*case a.*found no image"):
        pair_volumes(images, labels)


def test_header_is_read_without_decoding(tmp_path):
    path = tmp_path / "h.nii.gz"
    _save_nifti(path, _labels_ijk())
    head = read_volume_header(path)
    assert head.shape == (4, 5, 6) and head.spacing == pytest.approx((5.0, 0.8, 0.8))


def test_scan_recognises_a_folder_of_volumes(tmp_path):
    _save_nifti(tmp_path / "a.nii.gz", _labels_ijk())
    _save_nifti(tmp_path / "b.nii", _labels_ijk())
    np.save(tmp_path / "c.npy", np.zeros((8, 9, 10), np.uint8))
    scan = scan_source(tmp_path)
    assert scan.dimensionality == 3 and sorted(p.name for p in scan.files) == ["a.nii.gz", "b.nii", "c.npy"]
    only_npy = tmp_path / "npy"
    only_npy.mkdir()
    np.save(only_npy / "v.npy", np.zeros((8, 9, 10), np.uint8))
    assert scan_source(only_npy).dimensionality == 3
    flat = tmp_path / "flat"
    flat.mkdir()
    np.save(flat / "m.npy", np.zeros((8, 9), np.uint8))
    np.save(flat / "rgb.npy", np.zeros((8, 9, 3), np.uint8))  # a 2-D colour mask, not a volume
    assert scan_source(flat).dimensionality == 2


def test_bundled_hippocampus_example_pairs_and_reads(example_hippocampus):
    pairs = pair_volumes(example_hippocampus / "images", example_hippocampus / "labels")
    assert len(pairs.pairs) == 20 and pairs.problems == () and pairs.channels == ("image",)
    v = read_volume(example_hippocampus / "labels" / "hippocampus_003.nii.gz")  # saved as float32
    assert v.source_dtype == "float32" and v.labels.dtype == np.uint8 and set(v.voxel_counts) == {0, 1, 2}


def test_big_endian_and_scaled_labels_read_the_same_values(tmp_path):
    data = _labels_ijk().astype(">i2")
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "be.nii")
    assert read_volume(tmp_path / "be.nii").voxel_counts == {0: 115, 1: 4, 2: 1}
    img = nib.Nifti1Image(_labels_ijk().astype(np.int16), np.eye(4))
    img.header.set_slope_inter(2.0, 0.0)  # stored 0/1/2 mean 0/2/4: nibabel applies the scale
    nib.save(img, tmp_path / "scaled.nii.gz")
    assert read_volume(tmp_path / "scaled.nii.gz").voxel_counts == {0: 115, 2: 4, 4: 1}


def test_truncated_uncompressed_nifti_is_a_clear_file_error(tmp_path):
    path = tmp_path / "short.nii"
    _save_nifti(path, np.ones((20, 20, 20), np.uint8))
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(MaskFileError, match=r"short\.nii: expected a readable NIfTI.*truncated"):
        read_volume(path)
