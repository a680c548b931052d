"""The verdict's pieces against hand-computed cases: pooled IoU, the order check, still improving (the
posterior maths: test_tune_posterior.py; the race: test_tune_race.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lossadvisor.tune.confirm._verdict import FinalistRuns, _order, foreground_iou, run_iou, still_improving


def counts(*tiles: tuple[int, int, int]) -> np.ndarray:
    """Binary per-tile counts from (intersection, predicted, labelled) foreground pixels (background 0)."""
    out = np.zeros((len(tiles), 3, 2), dtype=np.int64)
    for i, (inter, pred, lab) in enumerate(tiles):
        out[i, :, 1] = (inter, pred, lab)
    return out


def finalist(entry, loss, runs, search_value=None):
    return FinalistRuns(entry, loss, entry, runs, search_value=search_value)


def test_foreground_iou_pools_counts_and_scores_empty_as_one() -> None:
    # tiles: I=2, P=4, L=3 (IoU 2/5) and I=1, P=1, L=3 (IoU 1/3); pooled 3 / (5 + 6 - 3) = 3/8
    c = counts((2, 4, 3), (1, 1, 3))
    assert run_iou(c) == pytest.approx(3 / 8)
    assert foreground_iou(c).tolist() == pytest.approx([2 / 5, 1 / 3])
    assert float(foreground_iou(counts((0, 0, 0))[0])) == 1.0  # nothing to find, nothing predicted
    # multi-class: the mean over foreground classes present (class 2 absent in labels and predictions)
    multi = np.array([[5, 1, 0], [5, 2, 0], [5, 4, 0]])
    assert float(foreground_iou(multi)) == pytest.approx(1 / 5)


def test_order_reports_who_overtook_whom() -> None:
    def const(i):
        return {(0, 0): counts((i, 10, 10))}

    order = _order(
        [
            finalist("a", "ce", const(5), search_value=0.9),
            finalist("b", "dice", const(8), search_value=0.8),
            finalist("c", "focal", const(1), search_value=0.7),
        ]
    )
    assert order.search == ("a", "b", "c") and order.confirmation == ("b", "a", "c")
    assert order.held is False and [(o.entry, o.overtook) for o in order.overtook] == [("b", "a")]


def test_still_improving_reads_the_last_epochs_of_the_level() -> None:
    def rec(entry, level, ious):
        return {"entry": entry, "level": level, "epochs": [{"val_iou": v} for v in ious]}

    records = [
        rec("a", 1, [0.1, 0.38, 0.40, 0.43]),  # +0.05 over the last two epochs (0.43 - 0.38)
        rec("a", 1, [0.1, 0.40, 0.41, 0.43]),  # +0.03: mean +0.04
        rec("b", 1, [0.1, 0.50, 0.50, 0.50]),  # +0.0
        rec("b", 0, [0.1, 0.2, 0.30, 0.60]),  # another level: not read at level 1
    ]
    assert still_improving(records, "a", 1, margin=0.035) is True
    assert still_improving(records, "a", 1, margin=0.045) is False
    assert still_improving(records, "b", 1, margin=0.01) is False
    assert still_improving(records, "c", 1, margin=0.01) is None


def _replayed_verdict(diffs):
    """result.json's verdict of a race replayed over stored IoUs: dice leads ce by ``diffs`` (6 runs)."""
    from lossadvisor.tune.confirm._race import Budget, RaceConfig, Unit, final_decision, race_state
    from lossadvisor.tune.confirm._verdict import RaceOutcome, race_verdict

    entries = {"dice": "dice_ce", "ce": "ce"}
    iou = {}
    for i, d in enumerate(diffs):
        rep, fold = divmod(i, 3)
        iou[Unit(0, rep, fold, "ce")] = 0.5
        iou[Unit(0, rep, fold, "dice")] = 0.5 + d
    cfg = RaceConfig(folds=3, margin=0.01, budget=Budget(runs=12))
    state = race_state(entries, iou, {}, cfg)
    assert state.finished and state.stop_reason == "budget"
    decision, level, rivals = final_decision(entries, iou, state, cfg)
    per_run = {"ce": [{"level": 0, "rep": r, "fold": f, "diff": d} for (r, f), d in
                      zip([divmod(i, 3) for i in range(6)], diffs, strict=True)]}  # fmt: skip
    race = RaceOutcome(decision, level, rivals, state, [], {0: 120}, "12", 3, per_run)
    finalists = [FinalistRuns(e, loss, e, {}) for e, loss in entries.items()]
    return race_verdict(finalists, race, [], margin=0.01)


def test_an_undecided_race_is_shown_with_its_probabilities_and_what_to_do_next() -> None:
    """result.json's verdict and the terminal summary from a race replayed over stored IoUs."""
    from lossadvisor.cli._tune import _comparison_line

    # dice leads ce by +0.02 on average with a spread of 0.1 (6 paired runs): far from decided
    diffs = [0.12, -0.08, 0.10, -0.06, 0.11, -0.07]
    v = _replayed_verdict(diffs)
    assert (v.kind, v.winner, v.recommended) == ("undecided", "dice", "dice")
    (c,) = v.comparisons
    assert c.p_better + c.p_equivalent + c.p_worse == pytest.approx(1.0)
    assert (c.state, c.steps, c.runs, c.runs_won, c.runs_lost) == ("open", 120, 6, 3, 3)
    assert "Undecided means" in v.next_steps and "--folds" in v.next_steps
    assert "bought 12 runs (12 at 120 steps)" in v.race["bought"]
    # the floor more repetitions cannot pass, by hand: deviations from the mean 0.02 are +-0.10, +-0.08,
    # +-0.09, so s^2 = 2 * (0.01 + 0.0064 + 0.0081) / 5 = 0.0098, s = 0.098995, and the smallest resolvable
    # difference is 0.01 + 1.959964 * sqrt(0.5) * 0.098995 = 0.1472
    assert c.runs_to_decide is None and c.resolvable_diff == pytest.approx(0.1472, abs=1e-4)
    assert "can call a difference under 0.147 IoU clear; the measured one is 0.020." in v.next_steps
    line = _comparison_line(c)
    assert f"P(better) {c.p_better:.0%}" in line and "-> open" in line
    assert line.endswith("(more runs at this spread resolve only differences over 0.147 IoU)")


def test_a_lead_above_the_floor_but_too_far_away_says_so() -> None:
    # mean 0.152 with SD 0.1 (deviations +-0.1118 and 0, see test_tune_posterior): the floor is
    # 0.01 + 1.959964 * sqrt(0.5) * 0.1 = 0.1486, under the lead, but 60 more runs give a scale of
    # sqrt(1/66 + 0.5) * 0.1 = 0.0718 and (0.152 - 0.01) / 0.0718 = 1.98 < t(65, 0.975) = 1.997: not decided
    diffs = [0.152 + 0.1 * z for z in (-1.118, 1.118, 0.0, -1.118, 1.118, 0.0)]
    v = _replayed_verdict(diffs)
    (c,) = v.comparisons
    assert v.kind == "undecided" and c.runs_to_decide is None
    assert c.resolvable_diff == pytest.approx(0.1486, abs=1e-4)
    assert "the measured one is 0.152, above it, but more than 60 more paired runs would be needed." in (
        v.next_steps
    )
