"""The profile record: exact JSON round trip (infinite imbalance included) and the run-folder convention."""

from __future__ import annotations

import json
import math

import numpy as np
from PIL import Image

from lossadvisor.profile import DatasetProfile, dataset_name_for, default_run_dir, profile_masks


def test_json_round_trip_is_exact(tmp_path):
    mask = np.zeros((12, 12), dtype=np.uint8)
    mask[1:4, 1:9] = 255
    Image.fromarray(mask).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((12, 12), dtype=np.uint8)).save(tmp_path / "b.png")
    p = profile_masks(tmp_path, train_sizes=(6, 12), workers=1, progress=False)
    assert DatasetProfile.from_dict(json.loads(p.to_json())) == p
    p.save(tmp_path / "out" / "profile.json")
    assert DatasetProfile.load(tmp_path / "out" / "profile.json") == p


def test_all_empty_masks_round_trip_with_infinite_imbalance(tmp_path):
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "a.png")
    p = profile_masks(tmp_path, workers=1, progress=False)
    assert p.mask_encoding == "empty" and p.empty_mask_share == 1.0 and math.isinf(p.imbalance_ratio)
    text = p.to_json()
    json.loads(text)  # strict JSON: inf is written as the string "inf"
    assert DatasetProfile.from_dict(json.loads(text)) == p


def test_fingerprint_changes_with_the_data(tmp_path):
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "a.png")
    first = profile_masks(tmp_path, workers=1, progress=False).fingerprint
    assert profile_masks(tmp_path, workers=1, progress=False).fingerprint == first
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "b.png")
    assert profile_masks(tmp_path, workers=1, progress=False).fingerprint != first


def test_run_dir_convention(tmp_path):
    (tmp_path / "inria" / "masks").mkdir(parents=True)
    assert dataset_name_for(tmp_path / "inria" / "masks") == "inria"
    assert dataset_name_for(str(tmp_path / "inria" / "masks" / "*.png")) == "inria"
    assert default_run_dir(tmp_path / "inria" / "masks") == default_run_dir(tmp_path / "inria")
    listing = tmp_path / "train split.txt"
    listing.write_text("a.png\n")
    assert dataset_name_for(listing) == "train-split"
    assert str(default_run_dir(listing)) == "reports/train-split"
