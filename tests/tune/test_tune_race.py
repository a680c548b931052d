"""The race's scheduling, replayed from stored results only: drops, early stops, promotions, the budget."""

from __future__ import annotations

import numpy as np
import pytest

from lossadvisor.errors import ConfigError
from lossadvisor.tune.confirm._race import Budget, RaceConfig, Unit, final_decision, parse_budget, race_state

ENTRIES = {"dice": "dice_ce", "ce": "ce", "wce": "weighted_ce"}


def _run_race(true_iou: dict, cfg: RaceConfig, *, noise=0.01, seed=0, seconds_per_step=1.0, max_rounds=50):
    """Train (simulated) whatever the race asks for until it stops; return state, results and rounds."""
    rng = np.random.default_rng(seed)
    results, durations = {}, {}
    for rounds in range(1, max_rounds):
        state = race_state(ENTRIES, results, durations, cfg)
        if state.finished:
            return state, results, rounds
        assert state.pending and all(u not in results for u in state.pending)
        for u in state.pending:
            # same fold, same partition: a shared per-(level, rep, fold) offset, as paired runs have
            shared = np.random.default_rng(hash((u.level, u.rep, u.fold)) % 2**32).normal(0, 0.05)
            results[u] = true_iou[u.entry] + shared + rng.normal(0, noise)
            durations[u] = seconds_per_step * 2**u.level
    raise AssertionError("the race did not stop")


def test_a_clearly_worse_finalist_is_dropped_and_the_race_stops_once_clear():
    cfg = RaceConfig(folds=3, margin=0.01, budget=Budget(runs=200))
    state, results, _ = _run_race({"dice": 0.60, "ce": 0.40, "wce": 0.30}, cfg)
    # 0.2 IoU apart with noise 0.01: decided at the first look (2 repetitions x 3 folds = 6 paired runs)
    assert state.stop_reason == "clear"
    assert state.looks[0]["paired_runs"] == 6
    assert set(state.dropped) == {"ce", "wce"}
    assert len(results) == 3 * 3 * 2  # nothing beyond the first look: it stopped early
    decision, level, _ = final_decision(ENTRIES, results, state, cfg)
    assert decision.outcome == "clear" and decision.recommended == "dice" and level == 0


def test_one_clearly_worse_finalist_is_dropped_while_the_others_race_on():
    cfg = RaceConfig(folds=3, margin=0.01, budget=Budget(runs=60))
    state, results, _ = _run_race({"dice": 0.50, "ce": 0.50, "wce": 0.20}, cfg, noise=0.03)
    assert "wce" in state.dropped and state.dropped["wce"]["why"] == "clearly worse than the leader"
    assert not any(u.entry == "wce" and u.level > 0 for u in results)  # dropped finalists train no longer
    assert not any(u.entry == "wce" and u.rep >= 2 for u in results)


def test_undecided_pairs_are_promoted_to_longer_runs_within_the_budget():
    cfg = RaceConfig(folds=3, margin=0.001, budget=Budget(runs=60), futility=False)
    state, results, _ = _run_race({"dice": 0.50, "ce": 0.49, "wce": 0.485}, cfg, noise=0.05)
    assert state.stop_reason == "budget"
    assert max(u.level for u in results) >= 1
    # every started repetition is finished, and the budget (in level-0 runs) is kept to within one repetition
    assert state.spent_runs <= 60
    for level in {u.level for u in results}:
        entries = {u.entry for u in results if u.level == level}
        reps = {u.rep for u in results if u.level == level}
        assert len([u for u in results if u.level == level]) == len(entries) * len(reps) * 3


def test_a_time_budget_is_converted_with_the_measured_time_per_run():
    # 3 finalists x 3 folds x 2 reps = 18 runs of 1 s must run (the minimum); the rest of 30 s buys no
    # promotion (2 x 3 x 2 x 2 s = 24 s) but 12 s more buys one repetition at level 0 (9 s), not two.
    cfg = RaceConfig(folds=3, margin=0.001, budget=Budget(seconds=30), futility=False)
    state, results, _ = _run_race({"dice": 0.50, "ce": 0.49, "wce": 0.485}, cfg, noise=0.05)
    assert state.stop_reason == "budget"
    assert state.spent_s == pytest.approx(27.0)
    assert {u.level for u in results} == {0}


def test_a_race_that_more_runs_would_not_decide_stops_before_the_budget():
    # 0.005 apart with a paired spread of about 0.07: the correlation floor keeps P(better) far below 95%
    # however many repetitions run, so the race stops after the first look at the last level it can afford
    cfg = RaceConfig(folds=3, margin=0.001, budget=Budget(runs=1000))
    state, results, _ = _run_race({"dice": 0.50, "ce": 0.495, "wce": 0.49}, cfg, noise=0.05)
    assert state.stop_reason == "futile"
    assert state.spent_runs < 1000 / 2
    top = max(u.level for u in results)
    assert top == cfg.max_level  # it used the budget for longer runs first
    assert {u.rep for u in results if u.level == top} == {0, 1}


def test_equivalent_losses_stop_the_race():
    cfg = RaceConfig(folds=3, margin=0.05, budget=Budget(runs=200))
    state, results, _ = _run_race({"dice": 0.5, "ce": 0.5, "wce": 0.5}, cfg, noise=0.002)
    assert state.stop_reason == "equivalent"
    decision, _, _ = final_decision(ENTRIES, results, state, cfg)
    assert decision.outcome == "equivalent" and decision.recommended == "ce"  # the simplest


def test_the_replay_is_the_same_for_every_worker_whatever_else_is_stored():
    cfg = RaceConfig(folds=3, margin=0.01, budget=Budget(runs=60))
    state, results, _ = _run_race({"dice": 0.50, "ce": 0.49, "wce": 0.3}, cfg, noise=0.03)
    again = race_state(ENTRIES, dict(reversed(list(results.items()))), {}, cfg)
    assert (again.stop_reason, again.alive, again.dropped) == (state.stop_reason, state.alive, state.dropped)


def test_unit_keys_hold_level_and_repetition():
    assert Unit(2, 1, 0, "ce-1").key() == "ce-1/L2/rep1/fold0"


@pytest.mark.parametrize(
    ("text", "runs", "seconds"), [("30", 30.0, None), ("8m", None, 480.0), ("90s", None, 90.0)]
)
def test_budget_parsing(text, runs, seconds):
    b = parse_budget(text)
    assert (b.runs, b.seconds) == (runs, seconds)


@pytest.mark.parametrize("bad", ["0", "-3", "ten", "5h"])
def test_bad_budget_refused_by_name(bad):
    with pytest.raises(ConfigError, match="--confirm-budget"):
        parse_budget(bad)


def test_auto_confirm_budget_is_the_time_left_or_five_minutes():
    from lossadvisor.tune.confirm._race import parse_budget

    # with a time budget the race has no limit of its own: the time budget's plan gives it the time left
    assert (parse_budget("auto", time_left=True).runs, parse_budget("auto", time_left=True).seconds) == (
        None,
        None,
    )
    # without one, 5 minutes of training, said as such
    fallback = parse_budget("auto")
    assert (fallback.runs, fallback.seconds, fallback.text) == (None, 300.0, "auto (5m)")


def test_the_decision_level_is_the_configs_at_every_look_and_in_the_final_verdict():
    """Six paired runs whose P(leader better) sits between 0.9 and 0.975 (hand-computed from the correlated
    t posterior: Student t, 5 dof, scale^2 = (1/6 + 0.5) s^2): clear at 0.9, open at the default 0.975."""
    from scipy import stats

    diffs = [0.02, 0.09, 0.04, 0.10, 0.03, 0.08]  # mean 0.06, SD 0.0322
    mean, sd = float(np.mean(diffs)), float(np.std(diffs, ddof=1))
    p_better = float(stats.t.sf(0.01, df=5, loc=mean, scale=np.sqrt(1 / 6 + 0.5) * sd))
    assert 0.9 < p_better < 0.975
    entries = {"a": "dice_ce", "b": "ce"}
    results = {}
    for i, d in enumerate(diffs):
        rep, fold = divmod(i, 3)
        results[Unit(0, rep, fold, "a")] = 0.5 + d
        results[Unit(0, rep, fold, "b")] = 0.5
    outcomes = {}
    for level in (0.9, 0.975):
        cfg = RaceConfig(folds=3, margin=0.01, budget=Budget(runs=6), decision_level=level)
        state = race_state(entries, results, {}, cfg)
        decision = final_decision(entries, results, state, cfg)[0]
        assert state.looks[0]["outcome"] == decision.outcome
        assert decision.posteriors["b"].p_better == pytest.approx(p_better, abs=1e-6)
        outcomes[level] = decision.outcome
    assert outcomes == {0.9: "clear", 0.975: "undecided"}
