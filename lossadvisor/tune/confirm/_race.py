"""The confirmation as a race: repetitions of k-fold on fresh partitions, decided as the evidence comes in.

Rules (issue 17, after successive halving, Jamieson & Talwalkar 2016, applied to losses):

- A *level* is a run length: level ``L`` trains ``2**L`` times a search trial's steps. Level 0 races every
  finalist; each *repetition* is one k-fold pass on a fresh stratified partition (repetition ``r`` folds with
  seed ``seed + r``), so every finalist is trained on the same folds with the same seed indices (paired).
- After each repetition, once at least :data:`~._posterior.MIN_DECISION_RUNS` paired runs exist at the level,
  the correlated t-test (:mod:`._posterior`) is applied: finalists the leader clearly beats are dropped; the
  race stops when the verdict is clear or equivalent.
- Otherwise, after ``min_reps`` repetitions at a level, the better half of the finalists (at least 2) is
  promoted to the next level (twice the steps), if the budget left covers ``min_reps`` repetitions there; at
  the last level (or when the budget will not cover a promotion) further repetitions run while the budget
  covers one more and more runs would likely decide an open comparison (:func:`~._posterior.runs_to_decide`,
  at the spread measured so far); otherwise the race stops ("futile": spending the rest would not decide it).
  A started repetition is always finished.

Everything here is a pure function of the stored results: every worker sharing a study replays the same race
from the same finished units and reaches the same state and verdict.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from lossadvisor.errors import ConfigError
from lossadvisor.tune.confirm._posterior import (
    DECISION_LEVEL,
    MIN_DECISION_RUNS,
    Decision,
    decide_three,
    leader_of,
    runs_to_decide,
)

# "auto": the race spends what --time-budget leaves it (a race cut at a fixed 5 minutes while half of a
# 10-minute job was left stopped undecided on the bundled example, without the longer runs that could have
# decided it); with no time budget (a GPU by default, or --time-budget none), 5 minutes of training.
DEFAULT_CONFIRM_BUDGET = "auto"
AUTO_CONFIRM_FALLBACK = "5m"
DEFAULT_MAX_LEVEL = 3  # at most 8x a search trial's steps
LEVEL_FACTOR = 2  # each level trains twice the steps of the one below (level 0: a search trial's steps)
DEFAULT_MIN_REPS = 2  # repetitions per level before a promotion: 2 x 3 folds = 6 paired runs


@dataclass(frozen=True, order=True)
class Unit:
    """One confirmation run: a finalist at a level (run length), repetition (partition) and fold."""

    level: int
    rep: int
    fold: int
    entry: str

    def key(self) -> str:
        """The unit's stable key in the companion study.

        Example:
            >>> Unit(1, 0, 2, "ce-641449").key()
            'ce-641449/L1/rep0/fold2'
        """
        return f"{self.entry}/L{self.level}/rep{self.rep}/fold{self.fold}"


@dataclass(frozen=True)
class Budget:
    """The confirmation budget: runs (a level-L run counts ``2**L``) or seconds of training, or both."""

    runs: float | None = None
    seconds: float | None = None
    text: str = ""

    def __str__(self) -> str:
        return self.text


def parse_budget(value: str | int | float, *, time_left: bool = False) -> Budget:
    """``"30"`` (runs of the first level's length), ``"8m"`` (minutes), ``"90s"`` (seconds) or ``"auto"``.

    ``"auto"`` sets no limit of its own when the job's time budget gives the race one (``time_left``: the
    time budget's plan caps it) and is :data:`AUTO_CONFIRM_FALLBACK` otherwise.

    Example:
        >>> parse_budget("8m").seconds, parse_budget(30).runs
        (480.0, 30.0)
    """
    text = str(value).strip().lower()
    if text == "auto":
        if time_left:
            return Budget(text="auto")
        return replace(parse_budget(AUTO_CONFIRM_FALLBACK), text=f"auto ({AUTO_CONFIRM_FALLBACK})")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(m|min|s|runs?)?", text)
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(
            "The confirm budget (--confirm-budget) must be a number of runs (e.g. 30), a time such as 8m "
            f"or 90s, or auto; got {value!r}."
        )
    number, unit = float(m.group(1)), m.group(2)
    if unit in ("m", "min"):
        return Budget(seconds=number * 60, text=text)
    if unit == "s":
        return Budget(seconds=number, text=text)
    return Budget(runs=number, text=text)


@dataclass(frozen=True)
class RaceConfig:
    folds: int
    margin: float
    budget: Budget
    min_reps: int = DEFAULT_MIN_REPS
    max_level: int = DEFAULT_MAX_LEVEL
    futility: bool = True  # stop when the budget left would likely not decide any open comparison
    # P a side must reach to be taken, at every look and in the final verdict (benchmarks compare levels)
    decision_level: float = DECISION_LEVEL

    def reps_before_decision(self) -> int:
        return max(self.min_reps, math.ceil(MIN_DECISION_RUNS / self.folds))


@dataclass
class RaceState:
    """Where the race stands after replaying the stored results."""

    pending: list[Unit]  # the current repetition's units not finished yet (enqueue these)
    finished: bool
    stop_reason: str | None  # "clear", "equivalent", "budget", "futile", "single"; None while running
    level: int
    alive: list[str]
    dropped: dict[str, dict] = field(default_factory=dict)  # entry -> {"level", "rep", "why"}
    looks: list[dict] = field(default_factory=list)  # each decision look, in order
    spent_runs: float = 0.0
    spent_s: float = 0.0
    runs_by_level: dict[int, int] = field(default_factory=dict)


def _cost(units: list[Unit]) -> float:
    return float(sum(LEVEL_FACTOR**u.level for u in units))


def level_runs(results: dict[Unit, float], entry: str, level: int, reps: int, folds: int) -> dict:
    """``(rep, fold) -> IoU`` of one finalist's runs at ``level`` over the first ``reps`` repetitions."""
    out = {}
    for r in range(reps):
        for f in range(folds):
            u = Unit(level, r, f, entry)
            if u in results:
                out[(r, f)] = results[u]
    return out


def decide_at(
    results: dict[Unit, float],
    entries: dict[str, str],
    alive: list[str],
    level: int,
    reps: int,
    cfg: RaceConfig,
) -> Decision:
    """The three-outcome decision among ``alive`` on their paired runs at ``level`` (repetitions < reps)."""
    runs = {e: level_runs(results, e, level, reps, cfg.folds) for e in alive}
    means = {e: sum(v.values()) / len(v) for e, v in runs.items() if v}
    losses = {e: entries[e] for e in alive}
    leader = leader_of(means, losses)
    diffs = {}
    for e in alive:
        if e != leader:
            keys = sorted(set(runs[leader]) & set(runs[e]))
            diffs[e] = [runs[leader][k] - runs[e][k] for k in keys]
    return decide_three(
        means, diffs, losses, rho=1.0 / cfg.folds, margin=cfg.margin, level=cfg.decision_level
    )


def race_state(
    entries: dict[str, str],
    results: dict[Unit, float],
    durations: dict[Unit, float],
    cfg: RaceConfig,
) -> RaceState:
    """Replay the race over the stored results (unit -> run IoU; unit -> seconds it trained).

    Args:
        entries: finalist entry -> loss, in the finalists' order.
    """
    alive = list(entries)
    level, rep = 0, 0
    state = RaceState(pending=[], finished=False, stop_reason=None, level=0, alive=alive)
    need = cfg.reps_before_decision()
    if len(alive) < 2:
        need = 1
    while True:
        units = [Unit(level, rep, f, e) for f in range(cfg.folds) for e in alive]
        missing = [u for u in units if u not in results]
        state.level, state.alive = level, list(alive)
        if missing:
            state.pending = missing
            return state
        state.spent_runs += _cost(units)
        state.spent_s += sum(durations.get(u, 0.0) for u in units)
        state.runs_by_level[level] = state.runs_by_level.get(level, 0) + len(units)
        done_reps = rep + 1
        if len(alive) < 2:
            return _stop(state, "single")
        if done_reps < need:
            rep += 1
            continue
        d = decide_at(results, entries, alive, level, done_reps, cfg)
        state.looks.append(_look(d, level, done_reps, cfg))
        for e in d.worse:
            state.dropped[e] = {"level": level, "rep": rep, "why": "clearly worse than the leader"}
        alive = [e for e in alive if e not in d.worse]
        state.alive = list(alive)
        if d.outcome in ("clear", "equivalent"):
            return _stop(state, d.outcome)
        left = _budget_left(state, cfg, durations)
        if done_reps >= need and level < cfg.max_level:
            promoted = _top_half(results, entries, alive, level, done_reps, cfg.folds)
            cost = need * cfg.folds * len(promoted) * LEVEL_FACTOR ** (level + 1)
            if cost <= left:
                for e in alive:
                    if e not in promoted:
                        state.dropped[e] = {"level": level, "rep": rep, "why": "lower half at this level"}
                alive, level, rep = promoted, level + 1, 0
                continue
        per_rep = cfg.folds * len(alive) * LEVEL_FACTOR**level
        if per_rep > left:
            return _stop(state, "budget")
        affordable = int(left // per_rep) * cfg.folds  # more paired runs the budget buys at this level
        more = [runs_to_decide(d.posteriors[e], per_step=cfg.folds, level=cfg.decision_level) for e in d.open]
        if cfg.futility and not any(m is not None and m <= affordable for m in more):
            return _stop(state, "futile")
        rep += 1


def _stop(state: RaceState, reason: str) -> RaceState:
    state.finished, state.stop_reason, state.pending = True, reason, []
    return state


def _budget_left(state: RaceState, cfg: RaceConfig, durations: dict[Unit, float]) -> float:
    """Budget left, in level-0 run equivalents (seconds converted with the time per run measured so far)."""
    left = math.inf
    if cfg.budget.runs is not None:
        left = cfg.budget.runs - state.spent_runs
    if cfg.budget.seconds is not None:
        per_run = state.spent_s / state.spent_runs if state.spent_runs and state.spent_s else None
        if per_run:
            left = min(left, (cfg.budget.seconds - state.spent_s) / per_run)
    return left


def _top_half(results, entries, alive, level, reps, folds) -> list[str]:
    """The better half of ``alive`` by mean IoU at ``level`` (at least 2), in their order."""
    means = {}
    for e in alive:
        runs = level_runs(results, e, level, reps, folds)
        means[e] = sum(runs.values()) / len(runs)
    keep = max(2, math.ceil(len(alive) / 2))
    best = sorted(alive, key=lambda e: -means[e])[:keep]
    return [e for e in alive if e in best]


def _look(d: Decision, level: int, reps: int, cfg: RaceConfig) -> dict:
    return {
        "level": level,
        "repetitions": reps,
        "paired_runs": reps * cfg.folds,
        "outcome": d.outcome,
        "leader": d.leader,
        "posteriors": {e: p.to_dict() for e, p in d.posteriors.items()},
    }


def final_decision(
    entries: dict[str, str], results: dict[Unit, float], state: RaceState, cfg: RaceConfig
) -> tuple[Decision | None, int | None, dict[str, int]]:
    """The verdict at the longest budget measured: the leader there, against every other finalist on their
    paired runs at the longest level both reached.

    Returns:
        ``(decision, final level, level of each rival's comparison)``.
    """
    levels = {e: max((u.level for u in results if u.entry == e), default=None) for e in entries}
    measured = [lv for lv in levels.values() if lv is not None]
    if not measured:
        return None, None, {}
    top = max(measured)
    at_top = [e for e in entries if levels[e] == top]
    if len(at_top) == 1 and top > 0 and len(entries) > 1:
        # only one finalist reached the top level (a race cut short): decide one level lower
        top -= 1
        at_top = [e for e in entries if levels[e] is not None and levels[e] >= top]
    reps_at = 1 + max(u.rep for u in results if u.level == top)
    means = {}
    for e in at_top:
        runs = level_runs(results, e, top, reps_at, cfg.folds)
        if runs:
            means[e] = sum(runs.values()) / len(runs)
    leader = leader_of(means, {e: entries[e] for e in means})
    diffs, rival_level = {}, {}
    for e, lv in levels.items():
        if e == leader or lv is None:
            continue
        lv = min(lv, top)
        reps = 1 + max(u.rep for u in results if u.level == lv)
        mine = level_runs(results, leader, lv, reps, cfg.folds)
        theirs = level_runs(results, e, lv, reps, cfg.folds)
        keys = sorted(set(mine) & set(theirs))
        if len(keys) >= 2:
            diffs[e] = [mine[k] - theirs[k] for k in keys]
            rival_level[e] = lv
    if not diffs:
        return None, top, {}
    losses = dict(entries)
    decision = decide_three(
        {leader: means[leader], **{e: means.get(e, -1.0) for e in diffs}}, diffs, losses,
        rho=1.0 / cfg.folds, margin=cfg.margin, leader=leader, level=cfg.decision_level,
    )  # fmt: skip
    return decision, top, rival_level


def order_between_levels(results: dict[Unit, float], entries: dict[str, str], folds: int) -> list[dict]:
    """For each pair of consecutive levels: the order of the finalists measured at both; did it hold?"""
    levels = sorted({u.level for u in results})
    out = []
    for lo, hi in zip(levels, levels[1:], strict=False):
        both = [e for e in entries if any(u.entry == e and u.level == hi for u in results)]
        if len(both) < 2:
            continue
        means = {}
        for lv in (lo, hi):
            reps = 1 + max(u.rep for u in results if u.level == lv)
            for e in both:
                runs = level_runs(results, e, lv, reps, folds)
                means[(lv, e)] = sum(runs.values()) / len(runs)
        before = sorted(both, key=lambda e: -means[(lo, e)])
        after = sorted(both, key=lambda e: -means[(hi, e)])
        out.append(
            {"from_level": lo, "to_level": hi, "before": before, "after": after, "held": before == after}
        )
    return out
