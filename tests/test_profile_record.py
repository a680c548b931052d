"""The profile record: exact JSON round trip (infinite imbalance included) and the run-folder convention."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
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


def test_per_image_csv_columns_follow_the_contract(tmp_path):
    mask = np.zeros((10, 10), dtype=np.uint8)
    mask[1:3, 1:3] = 255
    mask[6:9, 6:9] = 255
    Image.fromarray(mask).save(tmp_path / "a.png")
    (tmp_path / "bad.png").write_bytes(b"")
    profile_masks(tmp_path, workers=1, progress=False, out=tmp_path / "run")
    frame = pd.read_csv(tmp_path / "run" / "per_image.csv")  # empty cells of the skipped row read as NaN
    assert list(frame.columns) == [
        "file", "height", "width", "pixels_background", "pixels_foreground", "ignored_pixels",
        "foreground_fraction", "objects_foreground", "object_area_min", "object_area_median",
        "object_area_max", "boundary_pixels", "encoding", "skipped_reason",
    ]  # fmt: skip
    good = frame.set_index("file").loc["a.png"]
    assert (good["pixels_foreground"], good["objects_foreground"]) == (13, 2)
    assert (good["object_area_min"], good["object_area_max"], good["boundary_pixels"]) == (4, 9, 4 + 8)
    assert frame.set_index("file").loc["bad.png", "skipped_reason"].startswith("expected a mask image")
