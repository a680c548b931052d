"""Issue 11, point 8: a class with no pixel at all is reported as never occurring and left out of the class
weights, the imbalance measure and the empty-mask rule (it used to get the clip weight 20, "100% empty")."""

from __future__ import annotations

import numpy as np
from PIL import Image

from lossadvisor.io import ClassMap
from lossadvisor.profile import profile_masks
from lossadvisor.rules import format_recommendation, recommend


def _trimaps(folder):
    """Oxford-IIIT Pet style trimaps: 1 pet, 2 background, 3 border; no pixel holds 0."""
    folder.mkdir()
    for i in range(4):
        m = np.full((32, 32), 2, np.uint8)
        m[8:20, 8:20] = 3
        m[10:18, 10:18] = 1  # 64 px pet, 80 px border, 880 px background per mask
        Image.fromarray(m).save(folder / f"{i}.png")
    return folder


def test_index_masks_starting_at_1_leave_class_0_out(tmp_path):
    profile = profile_masks(_trimaps(tmp_path / "trimaps"), workers=1, progress=False)
    assert [c.pixel_count for c in profile.classes] == [0, 256, 3520, 320]
    assert any("'background' (index 0) never occurs" in w for w in profile.warnings)
    assert profile.imbalance_ratio == 3520 / 256 and profile.minority_class == "class_1"
    rec = recommend(profile)
    weights = next(c.params["class_weights"] for c in rec.candidates if c.loss == "weighted_ce")
    assert weights[0] == 1.0  # neutral, not the clip (20)
    # the present classes keep weights that average to 1 over their pixels: sum(f * w) == 1
    freqs = np.array([0, 256, 3520, 320]) / 4096
    assert abs(float(np.dot(freqs, weights)) - 1.0) < 1e-3
    assert max(weights) < 20
    assert "100%" not in format_recommendation(rec)


def test_a_declared_class_without_pixels_is_not_an_empty_mask_verdict(tmp_path):
    folder = tmp_path / "rgb"
    folder.mkdir()
    for i in range(3):
        rgb = np.zeros((10, 10, 3), np.uint8)
        rgb[0, :] = (200, 0, 0)
        rgb[1, : 3 * i] = (200, 0, 0)  # road: 10 + 13 + 16 of 300 px (13%, a moderate imbalance)
        Image.fromarray(rgb).save(folder / f"{i}.png")
    cmap = ClassMap.from_mapping({"background": [0, 0, 0], "road": [200, 0, 0], "water": [0, 0, 200]})
    profile = profile_masks(folder, class_map=cmap, workers=1, progress=False)
    rec = recommend(profile)
    empty_rule = next(t for t in rec.trace if t.rule == "rule_empty_masks")
    assert not empty_rule.fired and "water" not in empty_rule.measured_name
    weights = next(c.params["class_weights"] for c in rec.candidates if c.loss == "weighted_ce")
    assert weights[2] == 1.0
    assert any("'water' never occurs" in w for w in rec.warnings)
