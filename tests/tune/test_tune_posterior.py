"""The Bayesian correlated t-test and the three-outcome decision, against posteriors worked out by hand."""

from __future__ import annotations

import math

import pytest
from scipy.stats import t

from lossadvisor.tune.confirm._posterior import (
    DECISION_LEVEL,
    comparison_state,
    correlated_posterior,
    decide_three,
    resolvable_difference,
    runs_to_decide,
)


def test_posterior_matches_the_hand_worked_example() -> None:
    # Six paired runs of 3-fold CV (rho = 1/3), differences in IoU:
    #   0.05 0.07 0.06 0.04 0.08 0.06 -> mean 0.06; squared deviations 1e-4 1e-4 0 4e-4 4e-4 0 -> sum 1e-3
    #   s^2 = 1e-3 / 5 = 2e-4;  scale^2 = (1/6 + (1/3)/(2/3)) * 2e-4 = (2/3) * 2e-4 = 1.3333e-4
    #   scale = 0.0115470;  with margin 0.01:
    #   P(worse)  = T5.cdf((-0.01 - 0.06) / scale) = T5.cdf(-6.0622)
    #   P(better) = T5.sf(( 0.01 - 0.06) / scale)  = T5.sf(-4.3301)
    scale = math.sqrt(2 / 3 * 2e-4)
    assert scale == pytest.approx(0.0115470, abs=1e-7)
    p = correlated_posterior([0.05, 0.07, 0.06, 0.04, 0.08, 0.06], rho=1 / 3, margin=0.01)
    assert p.mean == pytest.approx(0.06)
    assert p.df == 5
    assert p.scale == pytest.approx(scale)
    assert p.p_worse == pytest.approx(t.cdf(-6.0622, 5), rel=1e-3)
    assert p.p_better == pytest.approx(t.sf(-4.3301, 5), rel=1e-5)
    assert p.p_better + p.p_equivalent + p.p_worse == pytest.approx(1.0)
    assert comparison_state(p) == "better"


def test_the_correlation_term_widens_the_posterior() -> None:
    # Same differences, rho = 0 (independent runs): scale^2 = s^2 / n = 2e-4 / 6, narrower than at rho = 1/3.
    diffs = [0.05, 0.07, 0.06, 0.04, 0.08, 0.06]
    independent = correlated_posterior(diffs, rho=0.0, margin=0.01)
    assert independent.scale == pytest.approx(math.sqrt(2e-4 / 6))
    # (1/6 + 1/2) / (1/6) = 4: the correlated scale is exactly twice the independent one
    assert correlated_posterior(diffs, rho=1 / 3, margin=0.01).scale == pytest.approx(2 * independent.scale)


def test_equivalent_when_the_differences_sit_inside_the_margin() -> None:
    # mean 0.001, s = 0.001 (deviations -1e-3 0 1e-3 0 -1e-3 1e-3 ... ), far inside +-0.02
    diffs = [0.0, 0.001, 0.002, 0.001, 0.0, 0.002]
    p = correlated_posterior(diffs, rho=1 / 3, margin=0.02)
    # by hand: s^2 = sum((d - 0.001)^2) / 5 = 4e-6 / 5 = 8e-7; scale = sqrt(2/3 * 8e-7) = 7.303e-4
    assert p.scale == pytest.approx(math.sqrt(2 / 3 * 8e-7))
    assert p.p_equivalent == pytest.approx(
        t.cdf((0.02 - 0.001) / p.scale, 5) - t.cdf((-0.02 - 0.001) / p.scale, 5)
    )
    assert comparison_state(p) == "equivalent"


def test_identical_runs_give_a_point_posterior() -> None:
    p = correlated_posterior([0.0] * 6, rho=1 / 3, margin=0.01)
    assert (p.p_better, p.p_equivalent, p.p_worse) == (0.0, 1.0, 0.0)


def test_too_few_runs_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        correlated_posterior([0.1], rho=0.5, margin=0.0)


def test_more_repetitions_cannot_beat_the_rho_floor() -> None:
    # scale >= sqrt(rho / (1 - rho)) * s whatever n: with rho = 1/3, s = 0.1, mean 0.05 and margin 0.01 the
    # scale never drops below 0.0707, so P(mu > 0.01) stays below T.sf(-0.04 / 0.0707) < 0.72: never decided.
    diffs = [0.05 + 0.1 * z for z in (-1.118, 1.118, 0.0, -1.118, 1.118, 0.0)]  # s^2 = 4 * 1.25 / 5 * 0.01
    p = correlated_posterior(diffs, rho=1 / 3, margin=0.01)
    assert p.sd == pytest.approx(0.1, rel=1e-3)
    assert comparison_state(p) == "open"
    assert runs_to_decide(p, per_step=3) is None


def test_runs_to_decide_counts_repetitions() -> None:
    # rho = 1/4, mean 0.05, s = 0.0369 (6 runs), margin 0: today scale = sqrt((1/6 + 1/3)) * s = 0.0261,
    # P(mu > 0) = T5.sf(-0.05 / 0.0261) = 0.943 < 0.95; with 4 more runs scale = sqrt(0.1 + 1/3) * s = 0.0243
    # and P = T9.sf(-2.06) = 0.965 >= 0.95.
    diffs = [0.05, 0.0, 0.1, 0.02, 0.08, 0.05]
    p = correlated_posterior(diffs, rho=0.25, margin=0.0)
    s = p.sd
    assert t.sf(-0.05 / (math.sqrt(1 / 6 + 1 / 3) * s), 5) < 0.95
    assert t.sf(-0.05 / (math.sqrt(1 / 10 + 1 / 3) * s), 9) >= 0.95
    assert comparison_state(p, level=0.95) == "open"
    assert runs_to_decide(p, per_step=4, level=0.95) == 4


def test_runs_to_decide_at_the_race_level() -> None:
    # The same runs at the race's 0.975: 14 runs give T13.sf(-0.05 / (sqrt(1/14 + 1/3) * s)) = 0.9736 < 0.975,
    # 18 runs T17.sf(-0.05 / (sqrt(1/18 + 1/3) * s)) = 0.9779: three more repetitions of 4 folds.
    diffs = [0.05, 0.0, 0.1, 0.02, 0.08, 0.05]
    p = correlated_posterior(diffs, rho=0.25, margin=0.0)
    s = p.sd
    assert DECISION_LEVEL == 0.975
    assert t.sf(-0.05 / (math.sqrt(1 / 14 + 1 / 3) * s), 13) < 0.975
    assert t.sf(-0.05 / (math.sqrt(1 / 18 + 1 / 3) * s), 17) >= 0.975
    assert runs_to_decide(p, per_step=4) == 12


def test_resolvable_difference_is_the_floor_of_the_posterior() -> None:
    # by hand: 0.01 + z_0.975 * sqrt((1/3) / (2/3)) * 0.04 = 0.01 + 1.959964 * 0.707107 * 0.04 = 0.065436
    assert resolvable_difference(0.04, rho=1 / 3, margin=0.01) == pytest.approx(0.065436, abs=1e-6)
    # 5 folds halve the floor's variance: 0.01 + 1.959964 * 0.5 * 0.04 = 0.049199
    assert resolvable_difference(0.04, rho=0.2, margin=0.01) == pytest.approx(0.049199, abs=1e-6)
    # the invariant it promises: a mean difference a little above it is decided by enough repetitions, one a
    # little below never is (the same spread, 6 runs measured so far)
    spread = [-1.118, 1.118, 0.0, -1.118, 1.118, 0.0]  # SD 1 (see the rho-floor test)
    floor = resolvable_difference(0.04, rho=1 / 3, margin=0.01)
    above = correlated_posterior([floor * 1.1 + 0.04 * z for z in spread], rho=1 / 3, margin=0.01)
    below = correlated_posterior([floor * 0.95 + 0.04 * z for z in spread], rho=1 / 3, margin=0.01)
    assert runs_to_decide(above, per_step=3, max_more=3000) is not None
    assert runs_to_decide(below, per_step=3, max_more=3000) is None


LOSSES = {"a": "dice_ce", "b": "ce", "c": "weighted_ce"}


def test_clear_needs_every_rival_clearly_beaten() -> None:
    big = [0.10, 0.12, 0.11, 0.09, 0.13, 0.11]
    d = decide_three({"a": 0.6, "b": 0.5, "c": 0.49}, {"b": big, "c": big}, LOSSES, rho=1 / 3, margin=0.01)
    assert (d.outcome, d.leader, d.recommended) == ("clear", "a", "a")
    assert set(d.worse) == {"b", "c"}


def test_equivalent_recommends_the_simplest() -> None:
    tiny = [0.0, 0.001, 0.002, 0.001, 0.0, 0.002]
    d = decide_three({"a": 0.501, "b": 0.5}, {"b": tiny}, LOSSES, rho=1 / 3, margin=0.02)
    assert (d.outcome, d.leader, d.recommended) == ("equivalent", "a", "b")


def test_undecided_recommends_the_leader() -> None:
    noisy = [0.2, -0.1, 0.15, -0.05, 0.25, 0.0]  # mean +0.075, s = 0.137: open both ways
    d = decide_three({"a": 0.6, "b": 0.525}, {"b": noisy}, LOSSES, rho=1 / 3, margin=0.01)
    assert d.outcome == "undecided"
    assert d.recommended == "a"
    assert d.simpler_reason is None
    assert d.open == ("b",)


def test_undecided_takes_the_simpler_loss_only_when_probably_as_good() -> None:
    # mean lead 0.002 within a margin of 0.05, s = 0.045: P(lead <= margin) about 0.85 (>= 0.75) but
    # P(equivalent) below 0.95: undecided, and CE (simpler) is recommended with the reason given.
    diffs = [0.05, -0.04, 0.03, -0.03, 0.04, -0.038]
    p = correlated_posterior(diffs, rho=1 / 3, margin=0.05)
    assert 1 - p.p_better >= 0.75 and p.p_equivalent < 0.95
    d = decide_three({"a": 0.502, "b": 0.5}, {"b": diffs}, LOSSES, rho=1 / 3, margin=0.05)
    assert (d.outcome, d.recommended) == ("undecided", "b")
    assert "0.75" in d.simpler_reason
