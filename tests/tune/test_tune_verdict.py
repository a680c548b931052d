"""The verdict's maths against hand-computed cases: pooled IoU, paired differences, the bootstrap, ties."""

from __future__ import annotations

import numpy as np
import pytest

from lossadvisor._run_records import Overtake
from lossadvisor.tune.confirm._verdict import (
    FinalistRuns,
    decide,
    expanded_alpha,
    foreground_iou,
    paired_comparison,
    run_iou,
)


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


def test_paired_difference_matches_a_hand_computation() -> None:
    # two folds, one seed; the winner's runs pool to 3/8 and 1/2, the other's to 1/4 and 1/2
    a = finalist("a", "dice_ce", {(0, 0): counts((2, 4, 3), (1, 1, 3)), (1, 0): counts((2, 2, 4))})
    b = finalist("b", "ce", {(0, 0): counts((1, 3, 3), (1, 2, 3)), (1, 0): counts((1, 1, 2))})
    c = paired_comparison(a, b, replicates=2000)
    # fold 0: b pools 2 / (5 + 6 - 2) = 2/9; fold 1: 1/2 vs 1/2
    assert [r.diff for r in c.per_run] == pytest.approx([3 / 8 - 2 / 9, 0.0])
    assert c.mean_diff == pytest.approx((3 / 8 - 2 / 9) / 2)
    assert (c.runs, c.runs_won, c.runs_lost) == (2, 1, 0)


def test_bootstrap_of_one_run_with_two_tiles_matches_its_three_outcomes() -> None:
    # One run, two tiles. Resampling two tiles gives {1,1}, {1,2}, {2,2} with probabilities 1/4, 1/2, 1/4.
    # a: tiles (I,P,L) = (3,3,4), (1,2,4); b: (2,4,4), (2,2,4)
    a = finalist("a", "dice", {(0, 0): counts((3, 3, 4), (1, 2, 4))})
    b = finalist("b", "ce", {(0, 0): counts((2, 4, 4), (2, 2, 4))})
    d11 = 3 / 4 - 2 / 6  # both copies of tile 1
    d12 = 4 / 9 - 4 / 10  # the original pair: a pools I=4, P=5, L=8 -> 4/9; b I=4, P=6, L=8 -> 4/10
    d22 = 1 / 5 - 2 / 4
    c = paired_comparison(a, b, replicates=20000, seed=3)
    assert c.mean_diff == pytest.approx(d12)
    # one run: no expansion, so the 2.5% and 97.5% percentiles are the smallest and largest outcome
    assert (c.ci_low, c.ci_high) == pytest.approx((d22, d11))
    from lossadvisor.tune.confirm import _verdict

    stats = _verdict._bootstrap(a, b, [(0, 0)], seed=3, replicates=20000)
    assert stats.mean() == pytest.approx(0.25 * d11 + 0.5 * d12 + 0.25 * d22, abs=0.005)
    assert np.mean(np.isclose(stats, d12)) == pytest.approx(0.5, abs=0.02)


def test_expanded_percentile_level_for_six_runs() -> None:
    # Hesterberg: alpha'/2 = Phi(-sqrt(6/5) * t_{0.975, 5}) = Phi(-1.0954 * 2.5706) = Phi(-2.816) = 0.00243
    assert expanded_alpha(6) == pytest.approx(2 * 0.00243, abs=1e-4)
    assert expanded_alpha(1) == pytest.approx(0.05)


def test_identical_configurations_tie_and_the_simplest_is_recommended() -> None:
    rng = np.random.default_rng(0)
    runs = {
        (f, s): counts(*[(int(i), 40, 50) for i in rng.integers(10, 40, 8)])
        for f in range(3)
        for s in range(2)
    }
    d = decide([finalist("x", "dice_ce", runs), finalist("y", "ce", dict(runs))])
    c = d.comparisons[0]
    assert (c.mean_diff, c.ci_low, c.ci_high, c.clear) == (0.0, 0.0, 0.0, False)
    assert d.kind == "tie" and d.recommended == "y"  # ce is simpler than dice_ce
    assert "ce is also the simplest" in d.explanation  # equal means: the simpler one leads


def test_a_large_consistent_gain_is_clear_and_a_small_one_is_a_tie() -> None:
    rng = np.random.default_rng(1)

    def runs(shift):
        return {
            (f, s): counts(*[(int(i) + shift, 40 + shift, 50) for i in rng.integers(20, 30, 8)])
            for f in range(3)
            for s in range(2)
        }

    good, bad = finalist("g", "dice", runs(10)), finalist("b", "ce", runs(0))
    d = decide([bad, good])
    assert d.kind == "clear" and d.winner == d.recommended == "g"
    c = d.comparisons[0]
    assert c.ci_low > 0 and c.mean_diff >= 0.01 and c.runs_won == 6
    # the same ordering with the gain below the practical margin is a tie
    d = decide([bad, good], margin=0.9)
    assert d.kind == "tie" and d.recommended == "b"


def test_the_bootstrap_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(2)
    a = finalist(
        "a", "dice", {(f, 0): counts(*[(int(i), 40, 50) for i in rng.integers(5, 40, 6)]) for f in range(3)}
    )
    b = finalist(
        "b", "ce", {(f, 0): counts(*[(int(i), 40, 50) for i in rng.integers(5, 40, 6)]) for f in range(3)}
    )
    first, second = paired_comparison(a, b, seed=7), paired_comparison(a, b, seed=7)
    assert (first.ci_low, first.ci_high) == (second.ci_low, second.ci_high)


def test_order_reports_who_overtook_whom() -> None:
    def const(i):
        return {(0, 0): counts((i, 10, 10))}

    d = decide(
        [
            finalist("a", "ce", const(5), search_value=0.9),
            finalist("b", "dice", const(8), search_value=0.8),
            finalist("c", "focal", const(1), search_value=0.7),
        ]
    )
    assert d.order.search == ("a", "b", "c") and d.order.confirmation == ("b", "a", "c")
    assert d.order.held is False and d.order.overtook == (Overtake(entry="b", overtook="a"),)
