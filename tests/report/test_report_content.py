"""The complete report says what its run folder's files say (numbers worked out from the fixture by hand)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from html_tables import body_rows, parse
from report_runs import write_run_folder

from lossadvisor.report import build_report
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
    # what to do with a medium confidence, in one plain sentence beside it
    assert "Confidence medium: Use it; the runner-up is close" in text


def test_the_verdict_says_what_the_time_budget_bought(complete_report: Path) -> None:
    result = json.loads((complete_report.parent / "result.json").read_text())
    html = complete_report.read_text(encoding="utf-8")
    assert '<p id="time-budget">The <span class="nowrap">10-minute</span> budget bought: 7 search' in html
    assert result["budget"]["bought"] in parse(html).section_text["verdict"]


def test_paired_comparison_is_result_json(complete_report: Path) -> None:
    result = json.loads((complete_report.parent / "result.json").read_text())
    parser = parse(complete_report.read_text(encoding="utf-8"))
    rows = body_rows(parser, "comparisons")
    comparisons = result["verdict"]["comparisons"]
    assert [r[0] for r in rows] == ["ce", "dice", "focal"]
    for row, c in zip(rows, comparisons, strict=True):
        assert float(row[1]) == pytest.approx(c["mean_diff"], abs=5e-4)
        assert row[3] == f"{c['runs_won']} of {c['runs']}"
        assert row[4] == ("clear" if c["clear"] else "tie")
    # c4 (focal): 0.78-0.70, 0.80-0.00, 0.79-0.72 -> 0.08, 0.80, 0.07, mean 0.3167; interval crosses 0: a tie
    assert rows[2][1] == "0.317" and rows[2][4] == "tie"
    html = complete_report.read_text(encoding="utf-8")
    assert html.index('id="paired-plot"') < html.index('id="ranking"')  # the one plot sits by the verdict


def test_posterior_comparisons_show_their_probabilities_and_resolvable_difference(tmp_path: Path) -> None:
    # the committed example's stored verdict (the correlated t-test's comparisons), reported again
    example = Path(__file__).resolve().parents[2] / "reports" / "example-buildings"
    folder = tmp_path / "example-buildings"
    folder.mkdir()
    for name in ("result.json", "run.json", "profile.json", "recommendation.json"):
        (folder / name).write_bytes((example / name).read_bytes())
    rows = body_rows(parse(build_report(folder).read_text(encoding="utf-8")), "comparisons")
    comparisons = json.loads((example / "result.json").read_text())["verdict"]["comparisons"]
    assert [r[0] for r in rows] == [c["against_loss"] for c in comparisons] == ["dice", "ce"]
    for row, c in zip(rows, comparisons, strict=True):
        assert float(row[1]) == pytest.approx(c["mean_diff"], abs=5e-4)
        assert row[2] == f"{100 * c['p_better']:.1f} %" and row[7] == "open"  # 44.8 % and 45.3 %
        # 0.01 + 1.96 * sqrt(0.5) * SD: SD 0.0414 against dice -> 0.0674, 0.0387 against ce -> 0.0637
        assert float(row[8]) == pytest.approx(0.01 + 1.959964 * 0.5**0.5 * c["sd_diff"], abs=5e-4)
    assert [r[8] for r in rows] == ["0.0674", "0.0637"]


def test_snippets_say_what_was_validated(complete_report: Path) -> None:
    text = parse(complete_report.read_text(encoding="utf-8")).section_text["use"]
    assert "build_loss('dice_ce', mix=0.3)" in text  # PyTorch snippet (quotes shown as text)
    assert "learn.fit_one_cycle(40, lr_max=2.0e-03)" in text  # fastai snippet
    # result.json's training block: 431,000 parameters, AdamW, constant LR, 60 steps of batch 8, 32 px
    assert (
        "What was validated: a 0.43 M-parameter compact U-Net trained from scratch with AdamW (weight decay "
        "0.0001) at a constant learning rate, for 60 steps of batch 8 on 32-px tiles (resized)." in text
    )
    assert "transfers to another model, schedule or resolution only approximately" in text


def test_ranking_marks_the_recommended_configuration(complete_report: Path) -> None:
    rows = body_rows(parse(complete_report.read_text(encoding="utf-8")), "ranking")
    assert len(rows) == 4
    assert rows[0][0].endswith("★") and not any(r[0].endswith("★") for r in rows[1:])


def test_ranking_numbers_are_result_json_for_every_configuration(complete_report: Path) -> None:
    """Every aggregate shown is result.json's, a configuration with a failed seed included (never recomputed:
    the failed seed would otherwise drop out of a mean over stability.csv's rows)."""
    result = json.loads((complete_report.parent / "result.json").read_text())
    rows = body_rows(parse(complete_report.read_text(encoding="utf-8")), "ranking")
    assert [r[0].removesuffix(" ★") for r in rows] == [c["label"] for c in result["ranking"]]
    for row, config in zip(rows, result["ranking"], strict=True):
        _, loss, lr, seeds, mean, std, collapse, failed, score = row
        assert loss == config["loss"]
        assert float(lr) == pytest.approx(config["lr"], rel=0.05)
        assert int(seeds) == config["seeds"] and int(failed) == config["failures"]
        assert float(mean) == pytest.approx(config["mean_iou"], abs=5e-4)
        assert float(std) == pytest.approx(config["std_iou"], abs=5e-4)
        assert float(score) == pytest.approx(config["score"], abs=5e-4)
        assert float(collapse.removesuffix(" %")) == pytest.approx(100 * config["collapse_rate"], abs=0.5)
    focal = rows[3]
    assert focal[0] == "focal lr=8.0e-03" and focal[4] == "0.473" and focal[7] == "1"  # the failed seed as 0


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


def test_trial_table_iou_and_dice_come_from_one_epoch(complete_report: Path) -> None:
    trials = pd.read_csv(complete_report.parent / "trials.csv").set_index("number")
    rows = body_rows(parse(complete_report.read_text(encoding="utf-8")), "trials-table")
    shown = 0
    for row in rows:
        number, iou, dice, at_epoch = int(row[0]), row[6], row[7], row[8]
        if iou == "–":
            continue
        shown += 1
        assert float(dice) >= float(iou), row  # Dice = 2 IoU / (1 + IoU) >= IoU for one prediction
        assert float(iou) == pytest.approx(trials.loc[number, "best_iou"], abs=5e-4)
        assert float(dice) == pytest.approx(trials.loc[number, "best_dice"], abs=5e-4)
        assert at_epoch == f"{trials.loc[number, 'best_epoch']:.0f} of {trials.loc[number, 'epochs_run']}"
    assert shown == 15  # every trial but the failed one


def test_an_older_trials_csv_gets_its_dice_from_the_same_epoch(tmp_path: Path) -> None:
    """trials.csv written before best_iou/best_dice existed (with the final epoch's val_dice and the older
    collapse_kind/collapsed columns): both numbers come from the best epoch in epochs.csv."""
    folder = write_run_folder(tmp_path / "run", stage="complete")
    trials = pd.read_csv(folder / "trials.csv")
    epochs = pd.read_csv(folder / "epochs.csv")
    old = trials.drop(columns=["best_iou", "best_dice", "collapse"]).assign(
        collapsed=trials["collapse"] != "none", collapse_kind=trials["collapse"]
    )
    old.to_csv(folder / "trials.csv", index=False)
    parser = parse(build_report(folder).read_text(encoding="utf-8"))
    rows = {int(r[0]): r for r in body_rows(parser, "trials-table")}
    best = epochs[(epochs["trial"] == 0) & (epochs["epoch"] == 2)].iloc[0]
    assert rows[0][6] == f"{best['val_iou']:.3g}" and rows[0][7] == f"{best['val_dice']:.3g}"
    assert rows[3][10] == "background"  # the renamed collapse column still reads


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


def test_stability_shows_recall_and_the_validation_set_size(complete_report: Path) -> None:
    parser = parse(complete_report.read_text(encoding="utf-8"))
    text = parser.section_text["stability"]
    # result.json's validation block: 4 tiles, 4 tiny and 20 small objects
    assert "Validation set: 4 tiles holding 4 tiny, 20 small, 0 medium, 0 large objects" in text
    assert "with one object, recall can only be 0 or 1" in text
    # the rule of tune/_metrics.py (OBJECT_FOUND_OVERLAP = 0.5), not "touches"
    assert "at least half of their pixels predicted as their class" in text and "touch" not in text
    header = parser.tables["recall-table"][0]
    assert header == ["configuration", "tiny (0–64 px, 4 objects)", "small (64–1,024 px, 20 objects)"]
    rows = body_rows(parser, "recall-table")
    assert rows == [["dice_ce mix=0.3 lr=2.0e-03", "0.5", "0.9"], ["ce lr=3.0e-03", "0.25", "0.85"]]


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
    # paired verdict plot + 4 dataset + 5 trial plots + LR range + stability = 12 plots;
    # 3 sample tiles x (image + truth + 3 predictions) = 15 tiles
    assert len(images) == 12 + 15
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
