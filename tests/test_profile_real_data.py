"""The real datasets (the folder named by LOSSADVISOR_DATA) and the bundled example, profiled end to end."""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
from PIL import Image

from lossadvisor.profile import DatasetProfile, profile_masks


def test_inria_buildings(shared_data, tmp_path):
    masks = shared_data / "inria-buildings" / "masks"
    p = profile_masks(masks, train_sizes=(128, 256), workers=2, progress=False, out=tmp_path)
    assert (p.files_found, p.files_read, p.skipped) == (51, 51, ())
    assert p.dataset_name == "inria-buildings"
    assert p.mask_encoding == "binary 0/255" and p.task == "binary"
    assert p.extra["grey_saved_as_rgb"] == "10"  # the ten RGB PNG masks with R = G = B
    assert round(p.empty_mask_share * 51) == 8
    assert p.image_height.min == p.image_height.max == 256
    assert DatasetProfile.load(tmp_path / "profile.json") == p


def test_dsb2018_nuclei_object_count_matches_scipy(shared_data):
    masks = shared_data / "dsb2018-nuclei" / "masks"
    p = profile_masks(masks, workers=2, progress=False)
    assert (p.files_found, p.files_read) == (170, 170) and p.empty_mask_share == 0.0
    eight = np.ones((3, 3), dtype=bool)
    expected = sum(
        ndi.label(np.asarray(Image.open(f)) > 0, structure=eight)[1] for f in sorted(masks.glob("*.png"))
    )
    assert p.classes[1].objects.count == expected


def test_bundled_example(example_data):
    p = profile_masks(example_data / "masks", workers=1, progress=False)
    assert (p.files_read, round(p.empty_mask_share * 31)) == (31, 2)
    assert p.dataset_name == "buildings"
