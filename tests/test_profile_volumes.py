"""The 3-D profile on hand-made label volumes whose objects, volumes and patches are worked out by hand."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import scipy.ndimage as ndi
from click.testing import CliRunner

from lossadvisor.cli import cli
from lossadvisor.errors import ConfigError
from lossadvisor.profile import DatasetProfile, profile_masks, profile_masks_detailed
from lossadvisor.profile._volume import empty_patch_share, object_sizes, surface_voxels

# Array axes (D, H, W); the files store (i, j, k) = (W, H, D) with voxel size 0.8 x 0.8 x 5.0 mm.
SPACING_DHW = (5.0, 0.8, 0.8)
VOXEL_MM3 = 5.0 * 0.8 * 0.8  # 3.2


def _save(path, labels_dhw: np.ndarray, spacing_dhw=SPACING_DHW) -> None:
    zooms = spacing_dhw[::-1]
    nib.save(nib.Nifti1Image(labels_dhw.transpose(2, 1, 0).copy(), np.diag([*zooms, 1.0])), path)


def _lesions() -> np.ndarray:
    """(6, 20, 20). Class 1: an 18-voxel block; two voxels touching at a corner only (slices 3 and 4); two
    voxels touching along an edge (slice 3). Class 2: a 1 x 4 x 10 plate in slice 5."""
    v = np.zeros((6, 20, 20), np.uint8)
    v[0:2, 0:3, 0:3] = 1  # 2 x 3 x 3 = 18 voxels = 57.6 mm³
    v[3, 10, 10] = v[4, 11, 11] = 1  # corner neighbours: joined by 26 only
    v[3, 15, 15] = v[3, 16, 16] = 1  # edge neighbours: joined by 18 and 26
    v[5, 0:4, 10:20] = 2  # 40 voxels = 128 mm³
    return v


@pytest.fixture
def volumes(tmp_path):
    folder = tmp_path / "labelsTr"
    folder.mkdir()
    _save(folder / "a.nii.gz", _lesions())
    _save(folder / "b.nii.gz", np.zeros((6, 20, 20), np.uint8))  # an empty volume
    return folder


@pytest.mark.parametrize(("connectivity", "objects"), [(6, 5), (18, 4), (26, 3)])
def test_object_counts_follow_the_connectivity(volumes, connectivity, objects):
    p = profile_masks(volumes, connectivity=connectivity, workers=1, progress=False)
    assert p.dimensionality == 3 and p.connectivity == connectivity
    assert p.classes[1].objects.count == objects
    assert p.classes[2].objects.count == 1


def test_physical_sizes_spacing_and_slices(volumes):
    p = profile_masks(volumes, patch_size=(2, 10, 10), workers=1, progress=False)
    assert p.connectivity == 26  # the default for volumes
    v = p.volume
    assert v.median_spacing_mm == pytest.approx(SPACING_DHW)
    assert v.anisotropy == pytest.approx(5.0 / 0.8)  # 6.25
    assert v.slice_axis == 0 and v.spacing_known
    assert v.orientations == {"SAR": 2}
    c1, c2 = p.classes[1], p.classes[2]
    assert c1.pixel_count == 22 and c2.pixel_count == 40
    # class 1 objects under 26-connectivity: 18, 2 and 2 voxels
    assert sorted([c1.objects.area_px.min, c1.objects.area_px.max]) == [2.0, 18.0]
    assert c1.objects.volume_mm3.max == pytest.approx(18 * VOXEL_MM3)  # 57.6 mm³
    assert c1.objects.volume_mm3.min == pytest.approx(2 * VOXEL_MM3)
    assert c1.objects.size_buckets == {
        "tiny": 2,
        "small": 1,
        "medium": 0,
        "large": 0,
    }  # 6.4, 6.4 < 34 <= 57.6
    assert c2.objects.size_buckets == {"tiny": 0, "small": 1, "medium": 0, "large": 0}  # 128 mm³
    # per-volume class volumes (the empty volume counts 0): 22 * 3.2 = 70.4 mm³ and 0
    assert c1.volume_mm3.max == pytest.approx(70.4) and c1.volume_mm3.min == 0.0
    # slices with foreground along D: 0, 1, 3, 4, 5 of 6; the empty volume has none
    assert v.foreground_slice_share.max == pytest.approx(5 / 6) and v.foreground_slice_share.min == 0.0
    assert p.empty_mask_share == 0.5
    # every object is under 2 voxels across along the 5 mm axis (the largest, 57.6 mm³, is a 4.8 mm sphere)
    assert v.share_objects_below_voxels == {"2vox": 1.0, "4vox": 1.0}
    assert v.patch_size == (2, 10, 10) and v.patch_source == "given"
    # the empty volume: every patch is empty
    assert v.empty_patch_share.max == 1.0
    # the block's extent along D is 2 slices, the corner pair's 2, the edge pair's 1
    assert c1.objects.slices.max == 2.0 and c1.objects.slices.min == 1.0


def test_isotropic_default_patch_and_objects_across(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    vol = np.zeros((40, 50, 70), np.uint8)
    vol[10:20, 10:20, 10:20] = 1  # 1000 mm³ at 1 mm: a 12.4 mm sphere, over 4 voxels across
    vol[30, 30, 30] = 1  # 1 mm³: a 1.24 mm sphere, under 2 voxels
    _save(folder / "iso.nii.gz", vol, spacing_dhw=(1.0, 1.0, 1.0))
    p = profile_masks(folder, workers=1, progress=False)
    assert p.volume.anisotropy == 1.0
    assert p.volume.patch_size == (32, 48, 64)  # median shape rounded down to 16, within 32..64
    assert p.volume.share_objects_below_voxels == {"2vox": 0.5, "4vox": 0.5}
    # the 1-voxel object is under 1/1000 of the 32*48*64 = 98 304-voxel patch; the 1000-voxel block is not
    assert p.volume.small_in_patch_share == 0.5


def test_surface_voxels_of_a_block_in_a_corner():
    v = np.zeros((6, 20, 20), np.uint8)
    v[0:2, 0:3, 0:3] = 1
    # The volume's edge is no surface: only d = 0, h and w in {0, 1} have every face neighbour in the block.
    assert surface_voxels(v)[1] == 18 - 4


@pytest.mark.parametrize("single_pass_voxels", [0, 2**20])  # extents by slice, or from voxel coordinates
def test_slabbed_labelling_equals_one_pass(monkeypatch, single_pass_voxels):
    import cc3d

    rng = np.random.default_rng(3)
    labels = (rng.random((17, 23, 19)) < 0.2).astype(np.uint8)
    monkeypatch.setattr("lossadvisor.profile._volume.SLAB_VOXELS", 23 * 19 * 2)  # two slices a slab
    monkeypatch.setattr("lossadvisor.profile._volume.SINGLE_PASS_VOXELS", single_pass_voxels)
    for connectivity in (6, 18, 26):
        whole, n = cc3d.connected_components(labels, connectivity=connectivity, return_N=True)
        counts = np.bincount(whole.ravel())[1:]
        boxes = ndi.find_objects(whole)
        for axis in range(3):
            sizes, extents = object_sizes(labels, 1, connectivity, axis=axis)
            assert sizes.size == n
            expected = sorted(
                (int(c), b[axis].stop - b[axis].start) for c, b in zip(counts, boxes, strict=True)
            )
            assert sorted(zip(sizes.tolist(), extents.tolist(), strict=True)) == expected


def test_scipy_agrees_on_the_26_connected_count():
    rng = np.random.default_rng(5)
    labels = (rng.random((12, 14, 16)) < 0.15).astype(np.uint8)
    sizes, _ = object_sizes(labels, 1, 26)
    assert sizes.size == ndi.label(labels, structure=np.ones((3, 3, 3)))[1]


def test_empty_patch_share_by_hand():
    fg = np.zeros((4, 4, 4), bool)
    fg[0, 0, 0] = True
    # 3 x 3 x 3 = 27 positions of a 2x2x2 patch; only the one at the corner holds the voxel.
    assert empty_patch_share(fg, (2, 2, 2)) == pytest.approx(26 / 27)
    fg[3, 3, 3] = True
    assert empty_patch_share(fg, (2, 2, 2)) == pytest.approx(25 / 27)
    # a patch larger than the volume is clipped to it: one position, holding foreground
    assert empty_patch_share(fg, (8, 8, 8)) == 0.0
    # odd and even sides against brute force
    rng = np.random.default_rng(1)
    fg = rng.random((7, 9, 8)) < 0.02
    for patch in [(3, 4, 5), (2, 2, 3), (7, 1, 8)]:
        corners = [
            fg[d : d + patch[0], h : h + patch[1], w : w + patch[2]].any()
            for d in range(7 - patch[0] + 1)
            for h in range(9 - patch[1] + 1)
            for w in range(8 - patch[2] + 1)
        ]
        assert empty_patch_share(fg, patch) == pytest.approx(1 - np.mean(corners))


def test_bad_volumes_are_skipped_and_listed(volumes):
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.uint8), np.eye(4)), volumes / "fourd.nii.gz")
    good = (volumes / "a.nii.gz").read_bytes()
    (volumes / "cut.nii.gz").write_bytes(good[: len(good) // 2])
    np.save(volumes / "flat.npy", np.zeros((8, 8), np.uint8))
    p, frame = profile_masks_detailed(volumes, workers=1, progress=False)
    assert p.files_read == 2 and p.files_found == 5
    reasons = {f.path: f.reason for f in p.skipped}
    assert "expected a 3-D label volume; found a 4-D volume" in reasons["fourd.nii.gz"]
    assert "truncated" in reasons["cut.nii.gz"]
    assert not any(str(volumes) in r for r in reasons.values())  # nibabel's messages carry the full path
    assert "expected a 3-D label volume; found an array of shape (8, 8)" in reasons["flat.npy"]
    row = frame.set_index("file").loc["a.nii.gz"]
    assert (row["depth"], row["spacing_d"], row["foreground_slices"]) == (6, 5.0, 5)


def test_profile_round_trips_and_old_profiles_load_as_2d(volumes, tmp_path):
    p = profile_masks(volumes, workers=1, progress=False, out=tmp_path / "run")
    assert DatasetProfile.load(tmp_path / "run" / "profile.json") == p
    data = json.loads((tmp_path / "run" / "profile.json").read_text())
    for key in ("dimensionality", "volume"):
        del data[key]
    for c in data["classes"]:
        c.pop("volume_mm3")
        if c["objects"]:
            c["objects"].pop("volume_mm3")
            c["objects"].pop("slices")
    old = DatasetProfile.from_dict(data)
    assert old.dimensionality == 2 and old.volume is None


def test_options_that_do_not_fit_volumes_are_refused(volumes, example_data):
    with pytest.raises(ConfigError, match=r"connectivity must be 6, 18 or 26 for 3-D label volumes; got 8"):
        profile_masks(volumes, connectivity=8, progress=False)
    with pytest.raises(ConfigError, match=r"--train-size applies to 2-D tiles.*--patch-size"):
        profile_masks(volumes, train_sizes=(128,), progress=False)
    with pytest.raises(ConfigError, match=r"--patch-size applies to 3-D label volumes"):
        profile_masks(example_data / "masks", patch_size=(32, 32, 32), progress=False)
    with pytest.raises(ConfigError, match=r"patch_size \(--patch-size\) must be three positive"):
        profile_masks(volumes, patch_size=(32, 32), progress=False)


def test_cli_profile_and_advise_on_a_volume_folder(volumes, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(
        cli, ["profile", str(volumes), "--out", str(out), "-q", "--workers", "1", "--connectivity", "6"]
    )
    assert result.exit_code == 0, result.output
    assert "3-D label volumes" in result.output and "6-connectivity" in result.output
    assert "5 x 0.8 x 0.8" in result.output  # the spacing row
    assert "anisotropic" in result.output
    result = runner.invoke(cli, ["advise", str(volumes), "--out", str(out), "-q", "--patch-size", "2,10,10"])
    assert result.exit_code == 0, result.output
    assert "rule_anisotropy" in result.output and "nnU-Net" in result.output
    rec = json.loads((out / "recommendation.json").read_text())
    assert rec["candidates"][0]["loss"]
    bad = runner.invoke(cli, ["profile", str(volumes), "--patch-size", "2,x,3"])
    assert bad.exit_code == 2 and "D,H,W" in bad.output


def test_empty_patch_share_in_slabs_equals_one_pass(monkeypatch):
    rng = np.random.default_rng(7)
    fg = rng.random((30, 12, 11)) < 0.004
    one_pass = empty_patch_share(fg, (5, 4, 3))
    monkeypatch.setattr("lossadvisor.profile._volume.SINGLE_PASS_VOXELS", 0)
    monkeypatch.setattr("lossadvisor.profile._volume.SLAB_VOXELS", 12 * 11 * 7)  # 7 rows: 3 positions a slab
    assert empty_patch_share(fg, (5, 4, 3)) == pytest.approx(one_pass)
    assert 0.0 < one_pass < 1.0


def test_a_thin_tube_is_thin_and_a_ball_is_not(tmp_path):
    from lossadvisor.rules import recommend

    def profile_of(volume, name):
        folder = tmp_path / name
        folder.mkdir()
        _save(folder / "v.nii.gz", volume, spacing_dhw=(1.0, 1.0, 1.0))
        return profile_masks(folder, workers=1, progress=False)

    z, y, x = np.mgrid[0:64, 0:12, 0:12]
    tube = ((y - 5.5) ** 2 + (x - 5.5) ** 2 <= 4).astype(np.uint8)  # 4 voxels across, 60 long
    tube[:2] = tube[-2:] = 0
    z, y, x = np.mgrid[0:24, 0:24, 0:24]
    ball = ((z - 11.5) ** 2 + (y - 11.5) ** 2 + (x - 11.5) ** 2 <= 64).astype(np.uint8)  # 16 across
    thin = [t for t in recommend(profile_of(tube, "tube")).trace if t.rule == "rule_thin_structures"][0]
    round_ = [t for t in recommend(profile_of(ball, "ball")).trace if t.rule == "rule_thin_structures"][0]
    assert thin.fired and thin.measured >= 0.65 and "voxels" in thin.conclusion
    assert not round_.fired and round_.measured < 0.4


def test_a_mixed_folder_profiles_the_more_numerous_kind(tmp_path):
    from PIL import Image

    two_d = tmp_path / "masks"
    two_d.mkdir()
    for i in range(3):
        Image.fromarray(np.eye(8, dtype=np.uint8) * 255).save(two_d / f"m{i}.png")
    _save(two_d / "stray.nii.gz", _lesions())
    p = profile_masks(two_d, workers=1, progress=False)
    assert p.dimensionality == 2 and p.files_read == 3
    assert "a 3-D NIfTI volume" in {f.path: f.reason for f in p.skipped}["stray.nii.gz"]
    three_d = tmp_path / "labels"
    three_d.mkdir()
    _save(three_d / "a.nii.gz", _lesions())
    _save(three_d / "b.nii.gz", _lesions())
    Image.fromarray(np.eye(8, dtype=np.uint8)).save(three_d / "m.png")
    p = profile_masks(three_d, workers=1, progress=False)
    assert p.dimensionality == 3 and p.files_read == 2
    assert "2-D masks belong in a folder of their own" in {f.path: f.reason for f in p.skipped}["m.png"]
