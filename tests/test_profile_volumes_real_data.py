"""The MSD hippocampus volumes (100 cases, in the folder named by LOSSADVISOR_DATA) and the bundled 20,
profiled in 3-D end to end."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi

from lossadvisor.profile import profile_masks
from lossadvisor.rules import recommend


def _reference(labels_folder):
    """Voxels per class and 26-connected objects per class, by nibabel and scipy (not the profiler)."""
    voxels, objects = {1: 0, 2: 0}, {1: 0, 2: 0}
    cube = np.ones((3, 3, 3), dtype=bool)
    for path in sorted(labels_folder.glob("*.nii.gz")):
        data = np.asarray(nib.load(path).dataobj)
        for c in (1, 2):
            voxels[c] += int(np.count_nonzero(data == c))
            objects[c] += ndi.label(data == c, structure=cube)[1]
    return voxels, objects


def test_msd_hippocampus(shared_data, tmp_path):
    labels = shared_data / "msd-hippocampus" / "labels"
    p = profile_masks(labels, workers=2, progress=False, out=tmp_path)
    assert (p.files_found, p.files_read, p.dimensionality, p.connectivity) == (100, 100, 3, 26)
    voxels, objects = _reference(labels)
    assert [c.pixel_count for c in p.classes[1:]] == [voxels[1], voxels[2]]
    assert [c.objects.count for c in p.classes[1:]] == [objects[1], objects[2]]
    assert p.volume.median_spacing_mm == (1.0, 1.0, 1.0) and p.volume.anisotropy == 1.0
    rec = recommend(p)
    assert rec.top.loss == "dice_ce" and rec.trace[-1].rule == "rule_framework_defaults"


def test_bundled_hippocampus(example_hippocampus):
    labels = example_hippocampus / "labels"
    p = profile_masks(labels, workers=1, progress=False)
    voxels, objects = _reference(labels)
    assert p.files_read == 20 and p.empty_mask_share == 0.0
    assert [c.pixel_count for c in p.classes[1:]] == [voxels[1], voxels[2]]
    assert [c.objects.count for c in p.classes[1:]] == [objects[1], objects[2]]
    assert p.volume.patch_size == (32, 48, 32)  # median shape 36 x 50 x 36 rounded down to 16, within 32..64
