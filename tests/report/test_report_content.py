"""The complete report says what its run folder's files say (numbers worked out from the fixture by hand)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from html_tables import body_rows, parse

from lossadvisor.report._context import SECTIONS


def test_every_section_is_present_in_order(complete_report: Path) -> None:
    html = complete_report.read_text(encoding="utf-8")
    positions = [html.index(f'<section id="{sid}">') for sid, _ in SECTIONS]
    assert positions == sorted(positions)
    assert SECTIONS[0][0] == "verdict"  # the verdict comes first


def test_verdict_matches_result_json(complete_report: Path) -> None:
    result = json.loads((complete_report.parent / "result.json").read_text())
    text = parse(complete_report.read_text(encoding="utf-8")).section_text["verdict"]
    assert result["recommended"]["loss"] == "dice_ce"
    assert "dice_ce" in text
    assert "2.0e-03" in text  # lr 0.002 as typed into an optimiser
    assert "mix=0.3" in text
    assert "medium" in text  # confidence level
    assert result["confidence"]["explanation"] in text
    assert "build_loss('dice_ce', mix=0.3)" in text  # PyTorch snippet (quotes shown as text)
    assert "learn.fit_one_cycle(40, lr_max=2.0e-03)" in text  # fastai snippet


def test_ranking_marks_the_recommended_configuration(complete_report: Path) -> None:
    rows = body_rows(parse(complete_report.read_text(encoding="utf-8")), "ranking")
    assert len(rows) == 2
    assert rows[0][0].endswith("★") and not rows[1][0].endswith("★")
    assert [r[4] for r in rows] == ["3", "3"]  # seeds
    assert rows[0][5] == "0.79" and rows[1][5] == "0.74"  # mean IoU from result.json


def test_dataset_numbers_match_profile(complete_report: Path) -> None:
    profile = json.loads((complete_report.parent / "profile.json").read_text())
    parser = parse(complete_report.read_text(encoding="utf-8"))
    text = parser.section_text["dataset"]
    assert profile["imbalance_ratio"] == 9.0
    assert "9 : 1" in text
    assert "20.0 % of images have no foreground pixel" in text  # empty_mask_share 0.2
    classes = body_rows(parser, "classes")
    assert [row[1] for row in classes] == ["background", "building"]
    assert classes[1][2] == "8,192" and classes[1][3] == "10.0 %"
    assert "28 (88 %)" in text  # 28 of 32 objects in the "small" bucket


def test_trial_table_has_one_row_per_trial(complete_report: Path) -> None:
    trials = pd.read_csv(complete_report.parent / "trials.csv")
    parser = parse(complete_report.read_text(encoding="utf-8"))
    rows = body_rows(parser, "trials-table")
    assert len(rows) == len(trials) == 16
    assert [int(r[0]) for r in rows] == sorted(trials["number"])
    dropped = body_rows(parser, "dropped-trials")
    assert [(r[0], r[1]) for r in dropped] == [("14", "pruned"), ("15", "fail")]
    assert dropped[1][4] == "RuntimeError: loss became NaN at epoch 2"


def test_best_iou_per_loss_matches_trials_csv(complete_report: Path) -> None:
    trials = pd.read_csv(complete_report.parent / "trials.csv")
    scored = trials[trials["state"].isin(["COMPLETE", "PRUNED"])]
    expected = scored.groupby("loss")["value"].max().sort_values(ascending=False)
    rows = body_rows(parse(complete_report.read_text(encoding="utf-8")), "best-per-loss")
    assert [r[0] for r in rows] == list(expected.index)
    assert [float(r[1]) for r in rows] == [round(v, 3) for v in expected]


def test_stability_summarises_seeds(complete_report: Path) -> None:
    rows = body_rows(parse(complete_report.read_text(encoding="utf-8")), "stability-table")
    by_label = {r[0]: r for r in rows}
    dice = by_label["dice lr=5.0e-03"]
    assert dice[5] == "3"  # seeds
    assert dice[6] == "0.517"  # mean of 0.77, 0.02, 0.76 = 0.5167
    assert dice[9] == "33 %"  # one collapsed seed out of three
    assert rows[0][0] == "dice_ce mix=0.3 lr=2.0e-03"  # best mean first


def test_rule_trace_lists_every_rule(complete_report: Path) -> None:
    rows = body_rows(parse(complete_report.read_text(encoding="utf-8")), "rule-trace")
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("minority_share = 0.1", "< 0.2", "fired"),
        ("empty_mask_share = 0.2", ">= 0.3", "no"),
    ]
    assert rows[0][0] == "How rare is the rarest class?rule_imbalance_level"  # question, then the rule's name


def test_lr_range_test_flags_bounded_losses(complete_report: Path) -> None:
    text = parse(complete_report.read_text(encoding="utf-8")).section_text["lr-range"]
    assert "not to be trusted for bounded losses" in text
    assert "suspect" in text and "usable" in text


def test_plots_and_samples_are_inline_pngs(complete_report: Path) -> None:
    parser = parse(complete_report.read_text(encoding="utf-8"))
    images = [u for u in parser.urls if u.startswith("data:image/png;base64,")]
    # 4 dataset + 5 trial plots + LR range + stability = 11 plots;
    # 3 sample tiles x (image + truth + 3 predictions) = 15 tiles
    assert len(images) == 11 + 15
    assert "Plot not drawn" not in complete_report.read_text(encoding="utf-8")


def test_environment_shows_command_and_versions(complete_report: Path) -> None:
    text = parse(complete_report.read_text(encoding="utf-8")).section_text["environment"]
    assert "lossadvisor tune --images img --masks masks --out" in text
    assert "12 min 30 s" in text  # duration_s 750
    assert "2.13.0" in text and "cpu (2 threads)" in text
    left_out = body_rows(parse(complete_report.read_text(encoding="utf-8")), "left-out")
    assert left_out == [["images/tile_99.png: no mask with the stem tile_99"]]


def test_no_javascript_and_no_external_resources(complete_report: Path) -> None:
    html = complete_report.read_text(encoding="utf-8")
    parser = parse(html)
    assert "script" not in parser.tags
    for url in parser.urls:
        assert url.startswith(("data:", "#")), url
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html, re.IGNORECASE)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//|@import", html, re.IGNORECASE)
