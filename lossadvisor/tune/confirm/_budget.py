"""The whole job's time budget (``--time-budget``): how the search, the diagnostics and the confirmation race
share it, decided from the times measured in this run. Pure functions: the phases measure and store, these
decide.

The rules (issue 17, point 3: the main job stays within its budget on real data and a busy machine):

- The search stops starting trials when its share is used: :data:`SEARCH_SHARE` of the budget spent on its
  own trials, or earlier when the next trial would not leave room for the diagnostics still to run, the
  race's minimum and :func:`end_reserve`; it always runs ``minimum`` trials (one default trial of as many
  losses as there are finalists).
- The diagnostic runs (2 x 2, never ranked) always run, and their time is counted.
- The race gets ``min(--confirm-budget, what is left less the end reserve)`` (:func:`plan_race`). When its
  minimum (finalists x folds x the repetitions before its first look) would not fit in the time left at the
  time per run measured so far, it runs fewer before it starts: fewer repetitions before the first look
  (never under :data:`~._posterior.MIN_DECISION_RUNS` paired runs per comparison), then 2 finalists (the
  search's leader and CE). When even that does not fit, the smallest race runs anyway and the plan says so:
  a verdict needs a comparison.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from lossadvisor.errors import ConfigError
from lossadvisor.tune.confirm._posterior import MIN_DECISION_RUNS

AUTO = "auto"
NONE = "none"
# The default on a CPU: the promise, "the main job within 10 minutes on 2 cores". On a GPU the
# default runs take seconds each, --n-trials and --confirm-budget already bound the job, and a GPU user who
# raises --n-trials or --size asks for that work: no wall-clock cut unless one is given.
CPU_TIME_BUDGET = "10m"
# The search's share of the budget. On the bundled example at default settings (2 quiet cores) the 10 trials
# took 161 s of a 506 s job (32 %), the confirmation 257 s (51 %): about a third keeps the default search
# whole on a quiet machine, and on a slower one the search is cut first, so the runs that decide the verdict
# keep the larger part.
SEARCH_SHARE = 0.35
# Kept back at the end for result.json, the tables and report.html: the report of the bundled examples took
# 6-9 s to build at load average 2 (`lossadvisor report`), so 20 s leaves twice that; a short budget keeps
# back 5 % of itself instead.
END_RESERVE_S = 20.0
END_RESERVE_SHARE = 0.05
MIN_RACE_FINALISTS = 2  # a race needs a comparison: the search's leader and CE


@dataclass(frozen=True)
class TimeBudget:
    """The job's wall-time budget in seconds (``None``: none), and how it was given."""

    seconds: float | None
    text: str

    def __str__(self) -> str:
        return self.text

    def minutes(self) -> str:
        """``"10-minute"``, ``"90-second"``: for sentences."""
        if self.seconds is None:
            return "unlimited"
        if self.seconds >= 60 and self.seconds % 60 == 0:
            return f"{self.seconds / 60:g}-minute"
        return f"{self.seconds:g}-second"


def parse_time_budget(value: str | int | float | None, *, device: str = "cpu") -> TimeBudget:
    """``"10m"``, ``"90s"``, ``"1.5h"``, ``"none"``, or ``"auto"`` (:data:`CPU_TIME_BUDGET` on a CPU, none
    on a GPU).

    Example:
        >>> parse_time_budget("10m").seconds, parse_time_budget("auto", device="cuda").seconds
        (600.0, None)
    """
    text = str(value).strip().lower() if value is not None else NONE
    if text == AUTO:
        return parse_time_budget(CPU_TIME_BUDGET if device.split(":")[0] == "cpu" else NONE)
    if text == NONE:
        return TimeBudget(None, NONE)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(h|m|min|s)", text)
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(
            "The time budget (--time-budget) must be a duration such as 10m, 90s or 1.5h, 'none' or 'auto' "
            f"(10m on a CPU, none on a GPU); got {value!r}."
        )
    scale = {"h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0}[m.group(2)]
    return TimeBudget(float(m.group(1)) * scale, text)


def end_reserve(budget_s: float) -> float:
    """Seconds kept back for writing the results and the report."""
    return min(END_RESERVE_S, END_RESERVE_SHARE * budget_s)


def reps_before_look(folds: int, min_reps: int) -> int:
    """Repetitions the race runs before its first decision (= ``RaceConfig.reps_before_decision``)."""
    return max(min_reps, math.ceil(MIN_DECISION_RUNS / folds))


def race_minimum(finalists: int, folds: int, min_reps: int) -> int:
    """Runs the race trains before its first look: every finalist on every fold of each repetition.

    Example:
        >>> race_minimum(3, 3, 2), race_minimum(2, 5, 1)
        (18, 10)
    """
    return finalists * folds * reps_before_look(folds, min_reps)


def search_may_continue(
    *,
    done: int,
    minimum: int,
    budget_s: float | None,
    job_s: float,
    search_s: float,
    trial_s: float | None,
    after_s: float,
) -> bool:
    """May another search trial start?

    Args:
        done: Trials counted in the study.
        minimum: Trials that run whatever the budget.
        budget_s: The job's budget (``None``: none).
        job_s: The job's time so far.
        search_s: The time its search trials took so far.
        trial_s: The time a full trial takes, measured (``None`` before any finished).
        after_s: The time still needed after the search: the diagnostics not run yet, the race's minimum and
            the end reserve.

    Example:
        >>> # 600 s budget: the share is 210 s; 180 s of trials + a 20 s trial fits, + a 40 s one does not
        >>> search_may_continue(done=8, minimum=3, budget_s=600, job_s=200, search_s=180, trial_s=20,
        ...                     after_s=300)
        True
    """
    if budget_s is None or done < minimum or trial_s is None:
        return True
    return search_s + trial_s <= SEARCH_SHARE * budget_s and job_s + trial_s + after_s <= budget_s


@dataclass(frozen=True)
class RacePlan:
    """What the race may spend, decided once before it starts (stored in the study for every worker)."""

    finalists: int
    min_reps: int
    seconds: float | None  # the race's training time (None: --confirm-budget alone decides)
    minimum_runs: int  # runs before the first look at this plan
    per_run_s: float | None  # measured wall time of one run of the first level, when planned
    left_s: float | None  # the job's wall time left for the race when planned
    fits: bool  # the minimum fits in ``seconds`` at ``per_run_s``
    note: str | None  # what was reduced and why, or by how much the budget will be exceeded
    train_share: float = 1.0  # of a run's wall time, training: converts the wall time left into ``seconds``

    def expected_over_s(self) -> float:
        """By how much the race's minimum is expected to overrun the time left (0 when it fits)."""
        if self.fits or self.per_run_s is None or self.left_s is None:
            return 0.0
        return self.minimum_runs * self.per_run_s - max(0.0, self.left_s)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RacePlan:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def plan_race(
    *,
    finalists: int,
    seeds: int,
    folds: int,
    confirm_s: float | None,
    left_s: float | None,
    per_run_s: float | None,
    train_share: float = 1.0,
    raced: int = 0,
) -> RacePlan:
    """The race's finalists, repetitions before its first look and time, for the time left.

    Args:
        finalists: ``--finalists``.
        seeds: ``--seeds`` (repetitions per level).
        folds: ``--folds``.
        confirm_s: ``--confirm-budget`` in seconds (``None``: given in runs).
        left_s: The job's wall time left for the race (``None``: no time budget).
        per_run_s: The measured wall time of one run of the race's first level (``None``: not measured).
        train_share: The share of a run's wall time spent training, measured: the race counts its budget in
            training time (as ``--confirm-budget``), so the wall time left is converted with it.
        raced: Finalists that already have runs stored (a race planned again, or made before plans were
            stored): never fewer finalists than that, so a new plan never sets completed runs aside.

    Example:
        >>> p = plan_race(finalists=3, seeds=2, folds=3, confirm_s=300, left_s=250, per_run_s=16)
        >>> p.finalists, p.minimum_runs, p.seconds  # 18 runs x 16 s = 288 s > 250 s: 12 runs, 192 s
        (2, 12, 250.0)
    """
    full = race_minimum(finalists, folds, seeds)
    if left_s is None:
        return RacePlan(finalists, seeds, None, full, per_run_s, None, True, None)
    # the race's minimum is held against the job's time left (the promise); --confirm-budget, training time
    # the minimum may exceed as it always could, caps what the race spends beyond it
    wall = max(0.0, left_s)
    seconds = float(wall * train_share if confirm_s is None else min(confirm_s, wall * train_share))
    if per_run_s is None:
        return RacePlan(finalists, seeds, seconds, full, None, left_s, True, None, train_share)
    options = []
    fewest = min(finalists, max(MIN_RACE_FINALISTS, raced))
    for k, r in ((finalists, seeds), (finalists, 1), (fewest, seeds), (fewest, 1)):
        k = min(k, finalists)
        runs = race_minimum(k, folds, r)
        if all(runs < o[2] for o in options):  # only a smaller race is another option
            options.append((k, r, runs))
    k, r, runs = next((o for o in options if o[2] * per_run_s <= wall), options[-1])
    fits = runs * per_run_s <= wall
    note = None
    if (k, r) != (finalists, seeds) or not fits:
        note = _plan_note(finalists, seeds, folds, k, r, runs, per_run_s, wall, fits)
    return RacePlan(k, r, seconds, runs, per_run_s, left_s, fits, note, train_share)


def _plan_note(finalists, seeds, folds, k, r, runs, per_run_s, wall, fits) -> str:
    """What the plan changed and why, in the past tense (it goes into the summary of the finished run)."""
    full = race_minimum(finalists, folds, seeds)
    need = (
        f"its minimum of {full} runs ({finalists} finalists x {folds} folds x "
        f"{reps_before_look(folds, seeds)} repetitions) would have taken {_min(full * per_run_s)} at the "
        f"{_sec(per_run_s)} per run measured before it, more than the {_min(wall)} left"
    )
    if (k, r) == (finalists, seeds):
        return f"the race ran its minimum though {need}"
    what = []
    if k < finalists:
        what.append(f"{k} finalists (the search's leader and CE)" if k == 2 else f"{k} finalists")
    if reps_before_look(folds, r) < reps_before_look(folds, seeds):
        what.append(f"{reps_before_look(folds, r)} repetition(s) before the first look")
    text = f"the race ran {' and '.join(what)}, {runs} runs ({_min(runs * per_run_s)}): {need}"
    if not fits:
        text += "; even that smallest race did not fit, and ran anyway"
    return text


def _sec(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _min(seconds: float) -> str:
    """A duration for a sentence: seconds under a minute, else minutes to a tenth."""
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def what_it_bought(
    budget: TimeBudget,
    *,
    search_trials: int,
    search_s: float,
    search_stopped: bool,
    n_trials: int,
    diag_runs: int,
    diag_s: float,
    race_runs: int,
    race_levels: int,
    race_s: float,
    job_s: float,
    plan: RacePlan | None,
) -> tuple[str, bool | None, float]:
    """What the budget bought, whether it was kept, and by how many seconds it was exceeded.

    Example:
        >>> text, kept, over = what_it_bought(parse_time_budget("10m"), search_trials=7, search_s=126,
        ...     search_stopped=True, n_trials=10, diag_runs=4, diag_s=36, race_runs=24, race_levels=2,
        ...     race_s=348, job_s=564, plan=None)
        >>> text.split(":")[0], kept, over
        ('The 10-minute budget bought', True, 0.0)
    """
    levels = f" at {race_levels} run lengths" if race_levels > 1 else ""
    search = f"{search_trials} search trials ({_min(search_s)}"
    search += f"; stopped by the budget before {n_trials})" if search_stopped else ")"
    parts = (
        f"{search}, {diag_runs} diagnostic runs ({_min(diag_s)}), {race_runs} confirmation runs{levels} "
        f"({_min(race_s)})"
    )
    if budget.seconds is None:
        return f"No time budget (--time-budget none): {parts}; {_min(job_s)} in all.", None, 0.0
    over = max(0.0, job_s - budget.seconds)
    text = f"The {budget.minutes()} budget bought: {parts}"
    if plan is not None and plan.note:
        text += f"; {plan.note}"
    if over <= 0:
        return f"{text}. {_min(job_s)} in all: kept.", True, 0.0
    why = ""
    if plan is not None and not plan.fits:
        why = " (the smallest race did not fit)"
    elif plan is not None and plan.per_run_s and race_runs and race_s / race_runs > 1.1 * plan.per_run_s:
        why = (
            f" (runs took {_sec(race_s / race_runs)} in the race against {_sec(plan.per_run_s)} measured "
            "before it: a busier machine)"
        )
    return f"{text}. {_min(job_s)} in all: exceeded by {_min(over)}{why}.", False, over
