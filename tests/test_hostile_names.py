"""Issue 20, point 11: one escaping rule (``lossadvisor._text.safe_text``) for every name that reaches a
terminal, a CSV or the HTML report. Hostile tile and class names (ESC, BEL, a newline) go through every output
of ``profile`` and ``tune``; none may come out raw, and no CSV may gain a line or a column from them."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lossadvisor.cli import cli

RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")  # any C0/C1 control but tab and newline
HOSTILE_TILE = "ti\x1b[31mle\x07{}\nWARNING fake"
CLASS_MAP = {"back\x07ground": 0, "bu\x1b[2Jild\nings": 255}


def _dataset(root: Path, n: int = 12, side: int = 32) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    for i in range(n):
        mask = np.zeros((side, side), np.uint8)
        if i >= 2:
            s = int(rng.integers(4, side // 2))
            y, x = (int(v) for v in rng.integers(0, side - s, size=2))
            mask[y : y + s, x : x + s] = 255
        image = rng.integers(0, 90, size=(side, side, 3)).astype(np.uint8)
        image[mask > 0] += 120
        name = HOSTILE_TILE.format(i)
        Image.fromarray(image).save(root / "images" / f"{name}.png")
        Image.fromarray(mask).save(root / "masks" / f"{name}.png")
    (root / "classes.json").write_text(json.dumps(CLASS_MAP))
    return root


def _check_csv(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not RAW_CONTROL.search(text), f"raw control character in {path.name}"
    rows = list(csv.reader(io.StringIO(text)))
    widths = {len(r) for r in rows}
    assert len(widths) == 1, f"{path.name}: rows of {sorted(widths)} cells (a name broke a line)"
    assert not any(r[0].startswith("WARNING fake") for r in rows), path.name


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return _dataset(tmp_path_factory.mktemp("hostile") / "data")


def test_profile_prints_and_writes_no_raw_control_character(hostile, tmp_path):
    out = tmp_path / "profile"
    result = CliRunner().invoke(
        cli,
        ["profile", str(hostile / "masks"), "--class-map", str(hostile / "classes.json"), "--out", str(out)]
        + ["-q"],
    )
    assert result.exit_code == 0, result.output
    assert not RAW_CONTROL.search(result.output)
    assert "back\\x07ground" in result.output  # escaped, still recognisable
    assert not any(line.startswith("ings") for line in result.output.splitlines())  # no forged line
    _check_csv(out / "per_image.csv")
    header = next(csv.reader(io.StringIO((out / "per_image.csv").read_text())))
    assert any("bu\\x1b[2Jild\\nings" in h for h in header)


def test_tune_writes_every_csv_and_the_report_with_escaped_names(hostile, tmp_path):
    import torch

    from lossadvisor.tune import tune

    torch.set_num_threads(1)
    out = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tune(
            hostile / "images", hostile / "masks", out=out, class_map=hostile / "classes.json", size=32,
            epochs=2, steps_per_epoch=2, batch_size=4, n_trials=1, seeds=1, folds=2, threads=1,
            progress=False, report=True,
        )  # fmt: skip
    assert not [w for w in caught if "Glyph" in str(w.message)]  # plots draw the escapes, not control codes
    csvs = sorted(out.glob("*.csv"))
    assert {p.name for p in csvs} >= {"per_image.csv", "confirmation_tiles.csv", "trials.csv"}
    for path in csvs:
        _check_csv(path)
    tiles = (out / "confirmation_tiles.csv").read_text()
    assert "ti\\x1b[31mle\\x07" in tiles and "\\nWARNING fake" in tiles
    html = (out / "report.html").read_text(encoding="utf-8")
    assert not RAW_CONTROL.search(html)
    assert "<script" not in html.lower()
    for path in out.glob("*.json"):
        assert not RAW_CONTROL.search(path.read_text(encoding="utf-8")), path.name  # JSON escapes them


def test_advise_prints_no_raw_control_character(hostile, tmp_path):
    args = ["advise", str(hostile / "masks"), "--class-map", str(hostile / "classes.json")]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "advise"), "-q"])
    assert result.exit_code == 0, result.output
    assert not RAW_CONTROL.search(result.output)
    assert not any(line.startswith("ings") for line in result.output.splitlines())
