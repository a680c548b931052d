"""The time budget's split (``--time-budget``), as pure functions with hand-computed cases: the search's
share, the race's plan for the time left, and the sentence that says what the budget bought."""

from __future__ import annotations

import itertools
import math

import pytest

from lossadvisor.errors import ConfigError
from lossadvisor.tune.confirm._budget import (
    END_RESERVE_S,
    SEARCH_SHARE,
    RacePlan,
    TimeBudget,
    end_reserve,
    parse_time_budget,
    plan_race,
    race_minimum,
    reps_before_look,
    search_may_continue,
    what_it_bought,
)
from lossadvisor.tune.confirm._posterior import MIN_DECISION_RUNS
from lossadvisor.tune.confirm._race import RaceConfig, parse_budget


@pytest.mark.parametrize(
    ("text", "device", "seconds"),
    [
        ("10m", "cpu", 600.0),
        ("90s", "cpu", 90.0),
        ("1.5h", "cpu", 5400.0),
        (" 2 min ", "cpu", 120.0),
        ("none", "cpu", None),
        ("auto", "cpu", 600.0),  # the promise on a CPU
        ("auto", "cuda", None),
        ("auto", "cuda:1", None),
        ("auto", "mps", None),
        ("10m", "cuda", 600.0),  # given: kept on a GPU too
    ],
)
def test_parse_time_budget(text, device, seconds):
    assert parse_time_budget(text, device=device).seconds == seconds


@pytest.mark.parametrize("bad", ["soon", "10", "0m", "-5m", "10 parsecs", ""])
def test_a_bad_time_budget_is_refused_with_the_forms_it_takes(bad):
    with pytest.raises(ConfigError, match=r"--time-budget.*10m, 90s or 1.5h, 'none' or 'auto'.*got"):
        parse_time_budget(bad)


def test_time_budget_in_sentences():
    assert TimeBudget(600.0, "10m").minutes() == "10-minute"
    assert TimeBudget(90.0, "90s").minutes() == "90-second"


def test_end_reserve_is_twenty_seconds_or_five_percent_of_a_short_budget():
    assert end_reserve(600) == END_RESERVE_S == 20.0
    assert end_reserve(100) == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("finalists", "folds", "min_reps", "runs"),
    [
        (3, 3, 2, 18),  # the default: 3 x 3 x 2
        (3, 3, 1, 18),  # 1 repetition of 3 folds is 3 paired runs < 5: the race still runs 2
        (2, 3, 1, 12),
        (3, 5, 2, 30),
        (3, 5, 1, 15),  # 5 folds: 1 repetition = 5 paired runs is enough
        (2, 2, 1, 12),  # 2 folds: ceil(5 / 2) = 3 repetitions
    ],
)
def test_race_minimum_by_hand(finalists, folds, min_reps, runs):
    assert race_minimum(finalists, folds, min_reps) == runs


def test_race_minimum_agrees_with_the_race():
    for folds, reps in itertools.product(range(2, 8), range(1, 4)):
        cfg = RaceConfig(folds=folds, margin=0.01, budget=parse_budget("5m"), min_reps=reps)
        assert reps_before_look(folds, reps) == cfg.reps_before_decision()


def test_no_time_budget_plans_the_full_race_within_the_confirm_budget_alone():
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=None, per_run_s=16)
    assert (plan.finalists, plan.min_reps, plan.seconds, plan.minimum_runs) == (3, 2, None, 18)
    assert plan.fits and plan.note is None


def test_time_enough_keeps_the_full_race_and_the_confirm_budget():
    # 18 runs x 15 s = 270 s <= min(300, 500)
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=500, per_run_s=15)
    assert (plan.finalists, plan.min_reps, plan.seconds, plan.minimum_runs) == (3, 2, 300.0, 18)
    assert plan.fits and plan.note is None


def test_the_minimum_is_held_against_the_time_left_not_the_confirm_budget():
    # 18 runs x 20 s = 360 s: over the 300 s of --confirm-budget (which the minimum could always exceed)
    # but within the 400 s the job has left, so the full race runs; what it spends beyond: capped at 300 s
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=400, per_run_s=20)
    assert (plan.finalists, plan.seconds, plan.fits, plan.note) == (3, 300.0, True, None)


def test_the_race_gets_the_time_left_when_it_is_less_than_the_confirm_budget():
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=280, per_run_s=15)
    assert plan.seconds == 280.0 and plan.finalists == 3  # 270 s fits in 280 s


def test_two_finalists_when_three_would_not_fit():
    # 18 x 16 = 288 s > 250 s; with 3 folds one repetition is 3 < 5 paired runs, so fewer repetitions
    # do not help: 2 finalists x 3 folds x 2 repetitions = 12 runs = 192 s <= 250 s
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=250, per_run_s=16)
    assert (plan.finalists, plan.min_reps, plan.minimum_runs, plan.seconds) == (2, 2, 12, 250.0)
    assert plan.fits
    assert plan.note == (
        "the race ran 2 finalists (the search's leader and CE), 12 runs (3.2 min): its minimum of 18 "
        "runs (3 finalists x 3 folds x 2 repetitions) would have taken 4.8 min at the 16 s per run "
        "measured before it, more than the 4.2 min left"
    )
    assert plan.expected_over_s() == 0.0


def test_fewer_repetitions_before_the_first_look_come_before_fewer_finalists():
    # 5 folds: 3 x 5 x 2 = 30 runs x 10 s = 300 s > 200 s; 3 x 5 x 1 = 15 runs = 150 s fits, and 1
    # repetition of 5 folds is still 5 paired runs per comparison
    plan = plan_race(finalists=3, seeds=2, folds=5, confirm_s=None, left_s=200, per_run_s=10)
    assert (plan.finalists, plan.min_reps, plan.minimum_runs) == (3, 1, 15)
    assert "1 repetition(s) before the first look" in plan.note


def test_when_nothing_fits_the_smallest_race_runs_and_the_overrun_is_said():
    # the smallest race, 2 x 3 x 2 = 12 runs x 16 s = 192 s, against 100 s left: about 92 s over
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=100, per_run_s=16)
    assert (plan.finalists, plan.minimum_runs, plan.fits) == (2, 12, False)
    assert "even that smallest race did not fit, and ran anyway" in plan.note
    assert plan.expected_over_s() == pytest.approx(92.0)


def test_no_time_left_at_all_gives_the_race_no_time_beyond_its_smallest_minimum():
    plan = plan_race(finalists=3, seeds=1, folds=2, confirm_s=300, left_s=-40, per_run_s=1)
    assert plan.seconds == 0.0 and plan.finalists == 2 and plan.minimum_runs == 12 and not plan.fits


def test_the_wall_time_left_is_converted_into_training_time():
    # runs train 80 % of their wall time: 400 s of wall time buy 320 s of training, capped by the 300 s of
    # --confirm-budget (training time)
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=400, per_run_s=10, train_share=0.8)
    assert plan.seconds == pytest.approx(300.0)
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=200, per_run_s=10, train_share=0.5)
    assert plan.seconds == pytest.approx(100.0)
    assert plan.finalists == 3  # 18 runs x 10 s of wall time = 180 s <= 200 s


def test_every_plan_keeps_at_least_min_decision_runs_paired_runs_per_comparison():
    for finalists, seeds, folds, left, per_run in itertools.product(
        (2, 3, 4), (1, 2, 3), (2, 3, 5, 10), (0, 60, 200, 1000), (1, 10, 40)
    ):
        plan = plan_race(
            finalists=finalists, seeds=seeds, folds=folds, confirm_s=None, left_s=left, per_run_s=per_run
        )
        assert 2 <= plan.finalists <= finalists
        assert reps_before_look(folds, plan.min_reps) * folds >= MIN_DECISION_RUNS
        assert plan.minimum_runs == race_minimum(plan.finalists, folds, plan.min_reps)
        assert plan.fits == (plan.minimum_runs * per_run <= left)
        if plan.fits:  # the plan that fits is the largest that does: the full race when it fits
            full = race_minimum(finalists, folds, seeds)
            assert plan.minimum_runs == full or full * per_run > left


def test_the_plan_round_trips_through_the_study():
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=250, per_run_s=16, train_share=0.9)
    assert RacePlan.from_dict(plan.to_dict()) == plan


def test_the_search_runs_its_minimum_whatever_the_budget():
    assert search_may_continue(
        done=2, minimum=3, budget_s=10, job_s=500, search_s=400, trial_s=30, after_s=300
    )


def test_the_search_stops_when_its_share_is_used():
    share = SEARCH_SHARE * 600  # 210 s
    ok = dict(done=5, minimum=3, budget_s=600, job_s=200, trial_s=20, after_s=100)
    assert search_may_continue(search_s=share - 20, **ok)  # the trial ends exactly at the share
    assert not search_may_continue(search_s=share - 19, **ok)


def test_the_search_stops_when_the_rest_would_not_fit():
    # 400 s spent + a 20 s trial + 190 s after it = 610 s > 600 s, though the search's share is not used
    assert not search_may_continue(
        done=5, minimum=3, budget_s=600, job_s=400, search_s=100, trial_s=20, after_s=190
    )
    assert search_may_continue(
        done=5, minimum=3, budget_s=600, job_s=400, search_s=100, trial_s=20, after_s=180
    )


def test_no_budget_or_no_measurement_never_stops_the_search():
    args = dict(done=50, minimum=3, job_s=1e6, search_s=1e6, after_s=1e6)
    assert search_may_continue(budget_s=None, trial_s=10, **args)
    assert search_may_continue(budget_s=600, trial_s=None, **args)


def _bought(job_s: float, plan: RacePlan | None = None, race_runs: int = 24, race_s: float = 348.0):
    return what_it_bought(
        parse_time_budget("10m"), search_trials=7, search_s=126, search_stopped=True, n_trials=10,
        diag_runs=4, diag_s=36, race_runs=race_runs, race_levels=2, race_s=race_s, job_s=job_s, plan=plan,
    )  # fmt: skip


def test_what_the_budget_bought_when_kept():
    text, kept, over = _bought(564)
    assert text == (
        "The 10-minute budget bought: 7 search trials (2.1 min; stopped by the budget before 10), "
        "4 diagnostic runs (36 s), 24 confirmation runs at 2 run lengths (5.8 min). 9.4 min in all: kept."
    )
    assert (kept, over) == (True, 0.0)


def test_what_the_budget_bought_when_exceeded_by_the_smallest_race():
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=100, per_run_s=16)
    text, kept, over = _bought(690, plan)
    assert (kept, over) == (False, 90.0)
    assert text.endswith("11.5 min in all: exceeded by 1.5 min (the smallest race did not fit).")
    assert "2 finalists (the search's leader and CE)" in text  # the reduction is said, never silent


def test_what_the_budget_bought_when_the_machine_got_busier_during_the_race():
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=300, per_run_s=10)
    text, kept, _ = _bought(660, plan, race_runs=18, race_s=360)  # 20 s per run against 10 s planned
    assert not kept and "runs took 20 s in the race against 10 s measured before it" in text


def test_no_time_budget_says_so():
    text, kept, over = what_it_bought(
        parse_time_budget("none"), search_trials=10, search_s=161, search_stopped=False, n_trials=10,
        diag_runs=4, diag_s=64, race_runs=18, race_levels=1, race_s=257, job_s=506, plan=None,
    )  # fmt: skip
    assert text.startswith("No time budget (--time-budget none): 10 search trials (2.7 min), ")
    assert "18 confirmation runs (4.3 min)" in text and (kept, over) == (None, 0.0)
    assert not math.isnan(over)


def _limit(n_trials: int, budget: str, closed: dict | None) -> int:
    from types import SimpleNamespace

    from lossadvisor.tune._phases.search import SEARCH_CLOSED_ATTR, search_limit

    tc = SimpleNamespace(options=SimpleNamespace(n_trials=n_trials), time_budget=parse_time_budget(budget))
    study = SimpleNamespace(user_attrs={} if closed is None else {SEARCH_CLOSED_ATTR: closed})
    return search_limit(tc, study)


def test_a_search_closed_by_the_budget_stays_closed_for_the_same_or_a_smaller_budget():
    closed = {"time_budget_s": 600.0, "n_trials": 10, "trials": 7}
    assert _limit(10, "10m", None) == 10  # never closed
    assert _limit(10, "10m", closed) == 7  # a resume, or another worker: stops where it was closed
    assert _limit(10, "5m", closed) == 7
    assert _limit(8, "10m", closed) == 7
    assert _limit(5, "10m", closed) == 5


def test_a_larger_budget_or_more_trials_reopens_the_search():
    closed = {"time_budget_s": 600.0, "n_trials": 10, "trials": 7}
    assert _limit(10, "15m", closed) == 10
    assert _limit(10, "none", closed) == 10
    assert _limit(12, "10m", closed) == 12


def test_a_new_plan_never_sets_aside_finalists_that_already_raced():
    # 3 finalists already have runs (a study raced before plans were stored): however little time is left,
    # the plan keeps all 3, so the verdict stays over the runs done
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=100, per_run_s=16, raced=3)
    assert plan.finalists == 3 and not plan.fits
    plan = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=100, per_run_s=16, raced=2)
    assert plan.finalists == 2


def test_an_auto_confirm_budget_lets_the_race_spend_what_the_time_budget_leaves():
    # 400 s of wall time left, 90 % of a run's wall time training: the race may train 360 s, above the 300 s
    # a fixed 5m would have allowed
    auto = plan_race(finalists=3, seeds=2, folds=3, confirm_s=None, left_s=400, per_run_s=10, train_share=0.9)
    fixed = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=400, per_run_s=10, train_share=0.9)
    assert auto.seconds == pytest.approx(360.0) and fixed.seconds == pytest.approx(300.0)
