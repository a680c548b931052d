"""The other data layouts end to end: random crops at native resolution, and multi-class masks."""

from __future__ import annotations

import csv
import json

import numpy as np
from PIL import Image

from lossadvisor.tune import tune


def test_crop_mode_study(tiny_dataset, tmp_path, tiny):
    out = tmp_path / "run"
    settings = {**tiny, "size": 128}  # ignored in crop mode
    result = tune(
        tiny_dataset / "images",
        tiny_dataset / "masks",
        out=out,
        crop=16,
        n_trials=1,
        report=False,
        **settings,
    )
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["crop"] == 16 and result.ranking
    samples = np.load(out / "samples.npz")
    assert samples["images"].shape[1:3] == (16, 16)  # validation windows at native resolution


def test_multiclass_study(tmp_path, tiny):
    rng = np.random.default_rng(0)
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    for i in range(12):
        mask = np.zeros((32, 32), np.uint8)
        mask[4:12, 4 + i : 14 + i] = 1  # class 1: a bar
        if i % 2:
            mask[20:28, 18:26] = 2  # class 2 in half of the tiles
        image = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
        image[mask == 1, 0] += 150
        image[mask == 2, 2] += 150
        Image.fromarray(image).save(tmp_path / "images" / f"t{i:02d}.png")
        Image.fromarray(mask).save(tmp_path / "masks" / f"t{i:02d}.png")
    out = tmp_path / "run"
    result = tune(tmp_path / "images", tmp_path / "masks", out=out, n_trials=2, report=False, **tiny)
    assert json.loads((out / "profile.json").read_text())["num_classes"] == 3
    with open(out / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["state"] in ("COMPLETE", "PRUNED") for r in rows)
    assert "n_out=3" in json.loads((out / "result.json").read_text())["snippets"]["fastai"]
    assert 0.0 <= result.ranking[0].mean_iou <= 1.0
