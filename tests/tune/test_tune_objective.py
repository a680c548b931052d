"""The scored metric (``--objective``) threaded through training, search and verdict, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from lossadvisor.rules import OBJECTIVES
from lossadvisor.tune.confirm._race import RaceConfig, Unit, decide_at, parse_budget
from lossadvisor.tune.confirm._verdict import run_score
from lossadvisor.tune.training import SCORED_METRICS, SegmentationTally, foreground_score


def _counts(*tiles: tuple[int, int, int]) -> np.ndarray:
    """Binary per-tile counts from (intersection, predicted, labelled) foreground pixels."""
    out = np.zeros((len(tiles), 3, 2), dtype=np.int64)
    for i, (inter, pred, lab) in enumerate(tiles):
        out[i, :, 1] = (inter, pred, lab)
    return out


def test_the_rules_and_the_tuner_know_the_same_objectives() -> None:
    import dataclasses

    from lossadvisor.cli._common import OBJECTIVE_CHOICES
    from lossadvisor.tune import TuneOptions

    field = next(f for f in dataclasses.fields(TuneOptions) if f.name == "objective")
    choices = field.metadata["accepts"].choices
    assert tuple(OBJECTIVES) == tuple(SCORED_METRICS) == OBJECTIVE_CHOICES == choices
    assert field.default == "iou" and field.metadata["objective"]  # a study scored otherwise is another study


def test_each_metric_by_hand_from_pooled_counts() -> None:
    # tiles (I, P, L) = (2, 4, 3) and (1, 1, 3): pooled I=3, P=5, L=6
    pooled = _counts((2, 4, 3), (1, 1, 3)).sum(axis=0)
    assert float(foreground_score(pooled, "iou")) == pytest.approx(3 / (5 + 6 - 3))
    assert float(foreground_score(pooled, "dice")) == pytest.approx(2 * 3 / (5 + 6))
    assert float(foreground_score(pooled, "recall")) == pytest.approx(3 / 6)
    with pytest.raises(ValueError, match="recall"):
        foreground_score(pooled, "precision")


def test_recall_ignores_a_class_that_is_only_predicted_and_nothing_labelled_scores_one() -> None:
    # class 1: I=2, P=2, L=4 (recall 0.5); class 2: predicted 3 px, never labelled (IoU 0, not in recall)
    multi = np.array([[10, 2, 0], [10, 2, 3], [10, 4, 0]])
    assert float(foreground_score(multi, "recall")) == pytest.approx(0.5)
    assert float(foreground_score(multi, "iou")) == pytest.approx((2 / 4 + 0.0) / 2)
    assert float(foreground_score(_counts((0, 0, 0))[0], "recall")) == 1.0


def test_the_tally_scores_what_it_counted() -> None:
    pred = np.array([[[1, 1, 0, 0]]])
    true = np.array([[[1, 0, 1, 1]]])  # I=1, P=2, L=3
    tally = SegmentationTally(2)
    tally.add(pred, true)
    assert tally.score("iou") == pytest.approx(1 / 4) == tally.scores()[0]
    assert tally.score("recall") == pytest.approx(1 / 3)


def test_the_race_ranks_by_the_scored_metric() -> None:
    # "greedy" predicts twice the foreground: recall 1.0 but IoU 0.5; "tight" finds 6 of 10 pixels exactly:
    # recall 0.6, IoU 0.6. The same counts in every run (a little noise so the spread is not zero): the
    # ranking flips with the metric alone.
    greedy = _counts((10, 20, 10))
    tight = _counts((6, 6, 10))
    assert run_score(greedy, "iou") == pytest.approx(0.5) and run_score(tight, "iou") == pytest.approx(0.6)
    entries = {"a": "weighted_ce", "b": "ce"}
    cfg = RaceConfig(folds=3, margin=0.01, budget=parse_budget("30"))
    noise = [0.001 * k for k in range(6)]

    def results(metric: str) -> dict:
        out = {}
        for i, (rep, fold) in enumerate((r, f) for r in range(2) for f in range(3)):
            out[Unit(0, rep, fold, "a")] = run_score(greedy, metric) + noise[i]
            out[Unit(0, rep, fold, "b")] = run_score(tight, metric) - noise[5 - i]
        return out

    by_iou = decide_at(results("iou"), entries, ["a", "b"], 0, 2, cfg)
    assert by_iou.leader == "b" and by_iou.outcome == "clear"
    by_recall = decide_at(results("recall"), entries, ["a", "b"], 0, 2, cfg)
    assert by_recall.leader == "a" and by_recall.outcome == "clear"
    assert by_recall.posteriors["b"].p_better > 0.95


def test_a_tiny_study_scored_by_recall_says_so_everywhere(tiny_dataset, tiny, tmp_path) -> None:
    import json

    import optuna

    from lossadvisor.tune import tune

    out = tmp_path / "run"
    tune(
        tiny_dataset / "images", tiny_dataset / "masks", out=out, n_trials=2, report=False,
        objective="recall", **tiny,
    )  # fmt: skip
    result = json.loads((out / "result.json").read_text())
    assert result["training"]["scored_metric"] == "recall"
    assert "foreground pixel recall" in result["training"]["objective"]
    assert json.loads((out / "run.json").read_text())["settings"]["objective"] == "recall"
    assert json.loads((out / "recommendation.json").read_text())["objective"] == "recall"
    study = optuna.load_study(study_name="lossadvisor", storage=f"sqlite:///{out / 'study.db'}")
    finished = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert finished
    epochs = [e for t in finished for e in t.user_attrs["epochs"]]
    for trial in finished:  # the search maximised the best epoch's scored metric
        assert trial.value == max(e["val_score"] for e in trial.user_attrs["epochs"])
    # ... and that metric is recall: never below IoU (I/L >= I/(P+L-I)), and not IoU itself
    assert all(e["val_score"] >= e["val_iou"] - 1e-12 for e in epochs)
    assert any(e["val_score"] > e["val_iou"] + 1e-6 for e in epochs)
