"""``tune --crop N`` on volumes: the profile's patch measures, and the 3-D rules that read them, are taken at
the N x N x N patch that is trained, not at the default patch. The expected shares are counted by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")

from lossadvisor.errors import ConfigError  # noqa: E402
from lossadvisor.tune.data import load_source  # noqa: E402


def _write_cases(root: Path, *, n: int, side: int, lesion: tuple[slice, slice, slice]) -> Path:
    """``images/case_i.nii.gz`` and ``labels/case_i.nii.gz``: cubes of ``side`` voxels (1 mm) with the same
    lesion in every case, and a noisy image brighter inside it."""
    rng = np.random.default_rng(0)
    for folder in ("images", "labels"):
        (root / folder).mkdir(parents=True)
    for i in range(n):
        label = np.zeros((side,) * 3, np.uint8)
        label[lesion] = 1
        image = rng.normal(size=label.shape).astype(np.float32) + 3.0 * label
        nib.save(nib.Nifti1Image(image, np.eye(4)), root / "images" / f"case_{i}.nii.gz")
        nib.save(nib.Nifti1Image(label, np.eye(4)), root / "labels" / f"case_{i}.nii.gz")
    return root


def _source(data: Path, crop: int | None):
    return load_source(
        data / "images", data / "labels", train=None, val=None, out=None, side=128, class_map=None,
        ignore_index=None, progress=False, max_pixels=None, crop=crop,
    )  # fmt: skip


def test_the_profile_measures_empty_patches_and_tiny_lesions_at_the_crop_patch(tmp_path):
    """One lesion voxel at (8, 8, 8) of a 16^3 case.

    --crop 8: 9 corners per axis (0..8), the patch holds voxel 8 from corner 1 to 8, so 8^3 of 9^3 patches
    hold it: 217/729 are empty; the 1-voxel lesion is not under 0.1 % of 8^3 = 512 voxels (0.512).
    Default patch: 32^3 (the median shape 16, raised to the 32 floor), clipped to the 16^3 case: one
    position, never empty; the lesion is under 0.1 % of 32^3 = 32,768 voxels (32.8): all lesions are tiny.
    """
    data = _write_cases(tmp_path / "data", n=2, side=16, lesion=np.s_[8, 8, 8])
    cropped = _source(data, crop=8).profile.volume
    assert cropped.patch_size == (8, 8, 8) and cropped.patch_source == "given"
    assert cropped.empty_patch_share.mean == pytest.approx(217 / 729)
    assert cropped.small_in_patch_share == 0.0
    default = _source(data, crop=None).profile.volume
    assert default.patch_size == (32, 32, 32) and default.patch_source == "default"
    assert default.empty_patch_share.mean == 0.0
    assert default.small_in_patch_share == 1.0


def test_a_crop_under_the_floor_is_refused_before_the_volumes_are_profiled(tmp_path):
    data = _write_cases(tmp_path / "data", n=1, side=16, lesion=np.s_[8, 8, 8])
    with pytest.raises(ConfigError, match="'crop' option must be at least 8 voxels; got 4"):
        _source(data, crop=4)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_tune_plan_profiles_and_advises_at_the_crop_it_trains(tmp_path):
    """A 2^3 lesion at voxels 4-5 of 48^3 cases. --crop 32: 17 corners per axis, the patch holds voxel 4 or 5
    from corner 0 to 5, so 6^3 of 17^3 patches hold it: 4697/4913 are empty and the empty-patches rule fires.
    The default patch, 48^3, is the whole case: never empty, the rule stays quiet."""
    pytest.importorskip("torch")
    from lossadvisor.tune import TuneOptions
    from lossadvisor.tune._phases import plan
    from lossadvisor.tune.study._lock import releases_folder_locks
    from lossadvisor.tune.training._models import resolve_model

    data = _write_cases(tmp_path / "data", n=6, side=48, lesion=np.s_[4:6, 4:6, 4:6])

    @releases_folder_locks
    def planned(crop):
        options = TuneOptions(images=data / "images", masks=data / "labels", out=tmp_path / f"run{crop}",
                              crop=crop, threads=1)  # fmt: skip
        spec = resolve_model(options.model)
        return plan.plan(options, train=None, val=None, spec=spec, progress=False, command=None)

    def empty_patches(tc):
        return next(t for t in tc.rec.trace if t.rule == "rule_empty_patches")

    tc = planned(32)
    assert tc.data.patch == (32, 32, 32) == tc.profile.volume.patch_size
    trace = empty_patches(tc)
    assert trace.measured == pytest.approx(4697 / 4913) and trace.fired
    assert "32x32x32" in trace.measured_name
    tc = planned(None)
    assert tc.data.patch == (48, 48, 48) == tc.profile.volume.patch_size
    trace = empty_patches(tc)
    assert trace.measured == 0.0 and not trace.fired
