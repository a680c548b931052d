"""The verdict: the race's paired runs, the correlated t-test's three probabilities, and what to do next.

Every finalist is trained on the same partitions and folds with the same seed indices, so each (repetition,
fold) at a level gives one *paired* run: the difference in IoU between two finalists on exactly the same
validation tiles. The IoU of a run is pooled over its validation tiles (intersections and unions summed, as in
the search).

The decision (:mod:`._posterior`) is made at the longest budget measured (:mod:`._race`): the leader there
against every other finalist on their paired runs at the longest level both reached, under the Bayesian
correlated t-test with a region of practical equivalence of ± ``margin`` IoU. No tile-level resampling: the
runs' spread already holds the tiles' (a bootstrap over tiles inside runs counted it twice, issue 17).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lossadvisor._run_records import OrderCheck, Overtake, Verdict
from lossadvisor.tune.confirm._posterior import (
    DECISION_LEVEL,
    MAX_MORE_RUNS,
    SIMPLER_IF_AS_GOOD,
    comparison_state,
    resolvable_difference,
    runs_to_decide,
)
from lossadvisor.tune.training import DEFAULT_METRIC, foreground_score

DEFAULT_MARGIN = 0.01  # IoU: smaller differences are not worth a more complex loss
# Simplest first: fewer parameters, fewer ways to fail, what every framework ships. A tie goes to the first.
SIMPLICITY_ORDER = ("ce", "weighted_ce", "dice_ce")
SIMPLICITY_WHY = (
    "CE has no parameter to set and trains steadily; weighted CE adds only class weights computed from the "
    "data; Dice + CE adds a mix and an overlap term; the rest add more"
)


@dataclass(frozen=True)
class FinalistRuns:
    """One finalist's confirmation runs at one level: per (repetition, fold) the per-tile counts
    ``(n_tiles, 3, C)``."""

    entry: str  # the finalist's id (its config_id; distinct for two entries of one loss in an A/A check)
    loss: str
    label: str
    runs: dict[tuple[int, int], np.ndarray]  # (rep, fold) -> intersection / predicted / labelled counts
    collapsed: dict[tuple[int, int], bool] = field(default_factory=dict)
    failed: dict[tuple[int, int], bool] = field(default_factory=dict)
    search_value: float | None = None  # its best search trial's IoU (for "does the order hold")


def foreground_iou(counts: np.ndarray) -> np.ndarray:
    """Foreground IoU of pooled counts ``(..., 3, C)``: the mean over foreground classes present in labels or
    predictions; 1.0 where no foreground class is present (nothing to find, nothing predicted).

    Example:
        >>> float(foreground_iou(np.array([[5, 3], [5, 6], [5, 4]])))  # 3 / (6 + 4 - 3)
        0.42857142857142855
    """
    counts = np.asarray(counts, dtype=float)
    inter, pred, lab = counts[..., 0, 1:], counts[..., 1, 1:], counts[..., 2, 1:]
    union = pred + lab - inter
    present = union > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(present, inter / np.where(present, union, 1.0), 0.0)
    n = present.sum(axis=-1)
    return np.where(n > 0, iou.sum(axis=-1) / np.maximum(n, 1), 1.0)


def run_iou(counts: np.ndarray) -> float:
    """A run's IoU: its tiles' counts pooled."""
    return float(foreground_iou(np.asarray(counts).sum(axis=0)))


def run_score(counts: np.ndarray, metric: str = DEFAULT_METRIC) -> float:
    """A run's scored metric (IoU, Dice or recall, ``--objective``): its tiles' counts pooled."""
    return float(foreground_score(np.asarray(counts).sum(axis=0), metric))


def simplicity_rank(loss: str) -> int:
    """Position of ``loss`` in :data:`SIMPLICITY_ORDER` (every other loss after them)."""
    return SIMPLICITY_ORDER.index(loss) if loss in SIMPLICITY_ORDER else len(SIMPLICITY_ORDER)


def _single_explanation(winner, finalists) -> str:
    """Why only one loss has confirmation runs, saying only what is known: other finalists whose runs did
    not finish, or no other finalist at all (the search brought no other loss: none tried, or none of its
    trials finished)."""
    others = [f.loss for f in finalists if f.entry != winner.entry]
    if others:
        return (
            f"Only {winner.loss} has finished confirmation runs ({', '.join(others)} has none), so nothing "
            "was compared."
        )
    return (
        f"Only {winner.loss} reached the confirmation: the search brought no other loss to it (none was "
        "tried, or none of its trials finished; see trials.csv), so nothing was compared."
    )


def _mean_iou(f: FinalistRuns, metric: str = DEFAULT_METRIC) -> float:
    return float(np.mean([run_score(c, metric) for c in f.runs.values()]))


def _order(finalists: Sequence[FinalistRuns], metric: str = DEFAULT_METRIC) -> OrderCheck:
    """Does the search's order of the finalists hold after the longer confirmation runs? Who overtook whom."""
    searched = [f for f in finalists if f.search_value is not None and f.runs]
    before = [f.entry for f in sorted(searched, key=lambda f: -f.search_value)]
    means = {f.entry: _mean_iou(f, metric) for f in searched}
    value = {f.entry: f.search_value for f in searched}
    after = sorted(before, key=lambda e: -means[e])
    overtook = tuple(  # x was strictly below y in the search and is above it after confirmation
        Overtake(entry=x, overtook=y)
        for i, y in enumerate(before)
        for x in before[i + 1 :]
        if value[x] < value[y] and means[x] > means[y]
    )
    return OrderCheck(search=tuple(before), confirmation=tuple(after), held=not overtook, overtook=overtook)


def still_improving(records: Sequence[dict], entry: str, level: int, margin: float) -> bool | None:
    """Was ``entry`` still improving when its runs at ``level`` ended? Its validation IoU rose by at least
    the practical margin over the last two epochs, on average over those runs (``None``: too few epochs)."""
    gains = []
    for r in records:
        ious = [e["val_iou"] for e in r.get("epochs") or [] if e.get("val_iou") is not None]
        if r["entry"] == entry and r.get("level") == level and len(ious) >= 3:
            gains.append(ious[-1] - ious[-3])
    return bool(np.mean(gains) >= margin) if gains else None


@dataclass(frozen=True)
class RaceOutcome:
    """What the race measured, for the verdict: see :func:`lossadvisor.tune.confirm._race.final_decision`."""

    decision: object | None  # _posterior.Decision
    final_level: int | None
    rival_level: dict[str, int]
    state: object  # _race.RaceState
    between_levels: list[dict]
    steps_of_level: dict[int, int]
    budget: str
    folds: int
    per_run: dict[str, list[dict]] = field(
        default_factory=dict
    )  # rival -> [{"level", "rep", "fold", "diff"}]


def race_verdict(
    finalists: Sequence[FinalistRuns],
    race: RaceOutcome,
    records: Sequence[dict],
    *,
    margin: float,
    metric: str = DEFAULT_METRIC,
) -> Verdict:
    """The verdict (result.json's ``verdict``) from the race: outcome, the three probabilities per comparison,
    whether the order held between budgets, who was still improving, and what to do next when undecided."""
    from lossadvisor.runfolder import json_clean

    return Verdict.from_dict(json_clean(_verdict(finalists, race, records, margin=margin, metric=metric)))


def _verdict(
    finalists: Sequence[FinalistRuns],
    race: RaceOutcome,
    records: Sequence[dict],
    *,
    margin: float,
    metric: str = DEFAULT_METRIC,
) -> dict:
    by_entry = {f.entry: f for f in finalists}
    d = race.decision
    base = {
        "margin": margin, "decision_level": DECISION_LEVEL, "simpler_if": SIMPLER_IF_AS_GOOD,
        "order": _order(finalists, metric).to_dict(), "race": _race_block(race),
    }  # fmt: skip
    with_runs = [f for f in finalists if f.runs]
    if d is None:
        if not with_runs:
            return base | {
                "kind": "none", "winner": None, "recommended": None, "tied": [], "comparisons": [],
                "explanation": "No confirmation run finished, so there is no verdict.",
            }  # fmt: skip
        only = with_runs[0]
        return base | {
            "kind": "single", "winner": only.entry, "recommended": only.entry, "tied": [only.entry],
            "comparisons": [], "explanation": _single_explanation(only, finalists),
        }  # fmt: skip
    comparisons = []
    for other, p in d.posteriors.items():
        state = comparison_state(p)
        lv = race.rival_level[other]
        diffs = np.array([r["diff"] for r in race.per_run.get(other, [])])
        comparisons.append(
            p.to_dict() | {
                "against": other, "against_loss": by_entry[other].loss, "state": state, "level": lv,
                "steps": race.steps_of_level.get(lv), "clear": state == "better",
                "runs_won": int((diffs > 0).sum()), "runs_lost": int((diffs < 0).sum()),
                "runs_to_decide": runs_to_decide(p, per_step=race.folds) if state == "open" else None,
                "resolvable_diff": resolvable_difference(p.sd, rho=p.rho, margin=p.margin),
                "per_run": race.per_run.get(other, []),
            }
        )  # fmt: skip
    improving = [
        f.entry for f in finalists
        if still_improving(records, f.entry, race.rival_level.get(f.entry, race.final_level), margin)
    ]  # fmt: skip
    held = all(x["held"] for x in race.between_levels) if race.between_levels else None
    verdict = base | {
        "kind": d.outcome,
        "winner": d.leader,
        "recommended": d.recommended,
        "tied": list(d.equivalent),
        "equivalent": list(d.equivalent),
        "open": list(d.open),
        "comparisons": comparisons,
        "final_level": race.final_level,
        "final_steps": race.steps_of_level.get(race.final_level),
        "order_between_budgets": race.between_levels,
        "order_held_between_budgets": held,
        "still_improving": improving,
        "simpler_reason": d.simpler_reason,
    }
    verdict["explanation"] = _explain(verdict, by_entry)
    verdict["next_steps"] = _next_steps(verdict) if d.outcome == "undecided" else None
    return verdict


def _race_block(race: RaceOutcome) -> dict:
    s = race.state
    return {
        "budget": race.budget,
        "stop_reason": s.stop_reason,
        "spent_runs": s.spent_runs,
        "spent_s": round(s.spent_s, 1),
        "runs_by_level": {str(lv): n for lv, n in sorted(s.runs_by_level.items())},
        "steps_by_level": {str(lv): race.steps_of_level[lv] for lv in sorted(s.runs_by_level)},
        "dropped": s.dropped,
        "looks": s.looks,
        "bought": bought(race),
    }


def bought(race: RaceOutcome) -> str:
    """What the confirmation budget bought, in one sentence."""
    s = race.state
    parts = [f"{n} at {race.steps_of_level[lv]} steps" for lv, n in sorted(s.runs_by_level.items())]
    why = {
        "clear": "stopped early: clear", "equivalent": "stopped early: equivalent", "budget": "budget spent",
        "single": "one finalist", "futile": "stopped: more runs would likely not decide it",
    }.get(s.stop_reason, s.stop_reason or "running")  # fmt: skip
    total = sum(s.runs_by_level.values())
    return (
        f"The confirmation budget {race.budget} bought {total} runs ({', '.join(parts) or 'none'}) in "
        f"{s.spent_s / 60:.1f} min of training ({why})."
    )


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%"


def _cmp_text(c: dict) -> str:
    return (
        f"vs {c['against_loss']}: {c['mean_diff']:+.3f} IoU over {c['runs']} paired runs at {c['steps']} "
        "steps, "
        f"P(better) {_pct(c['p_better'])}, P(equivalent) {_pct(c['p_equivalent'])}, "
        f"P(worse) {_pct(c['p_worse'])}"
    )


def _explain(v: dict, by_entry: dict) -> str:
    leader, rec = by_entry[v["winner"]].loss, by_entry[v["recommended"]].loss
    shown = "; ".join(_cmp_text(c) for c in v["comparisons"])
    m, level = v["margin"], f"{100 * v['decision_level']:g}%"
    if v["kind"] == "clear":
        text = f"{leader} is clearly better ({shown}): P(better by more than {m:g} IoU) >= {level} each time."
    elif v["kind"] == "equivalent":
        text = (
            f"Equivalent: {', '.join(by_entry[e].loss for e in v['equivalent'])} are practically the same "
            f"(P(|difference| <= {m:g} IoU) >= {level}); {shown}. The simplest, {rec}, is recommended "
            f"({SIMPLICITY_WHY})."
        )
    else:
        text = (
            f"Undecided: {leader} leads at the longest budget measured, but the runs cannot yet tell it from "
            f"{', '.join(by_entry[e].loss for e in v['open'])} ({shown})."
        )
        if v["simpler_reason"]:
            text += f" {rec} is recommended instead: {v['simpler_reason']}."
        else:
            text += (
                f" {leader} is recommended: it has the highest expected IoU, and no simpler finalist is "
                f"probably practically as good (P >= {v['simpler_if']:g} that the lead is within {m:g} IoU)."
            )
    held = v["order_held_between_budgets"]
    if held is not None:
        text += " The order held between run lengths." if held else " The order changed between run lengths."
    if v["still_improving"]:
        text += (
            " Still improving when their runs ended: "
            f"{', '.join(by_entry[e].loss for e in v['still_improving'])}"
            " (longer training could change the order)."
        )
    return text


def _next_steps(v: dict) -> str:
    """What an undecided verdict means and what would decide it."""
    more = [c["runs_to_decide"] for c in v["comparisons"] if c["state"] == "open"]
    if more and all(n is not None for n in more):
        runs = max(more)
        total = runs * (len(more) + 1)
        budget = (
            f"about {runs} more paired runs per finalist ({total} runs of {v['final_steps']} steps: raise "
            "--confirm-budget by at least that and run the same command again)"
        )
    else:
        stuck = [c for c in v["comparisons"] if c["state"] == "open" and c["runs_to_decide"] is None]
        floor = _floor_sentence(max(stuck, key=lambda c: c["resolvable_diff"])) if stuck else ""
        budget = (
            "more repetitions alone will not decide it: runs on one data set stay correlated, so their "
            f"posterior cannot narrow below a floor set by the spread of the runs and the folds.{floor} Use "
            "more --folds, more tiles, or quieter runs"
        )
    return (
        "Undecided means the data and budget cannot yet tell these losses apart, not that they are equal. "
        f"To decide: {budget}; on a GPU, longer runs (--epochs, --steps-per-epoch) and a larger --size."
    )


def _floor_sentence(c: dict) -> str:
    """The comparison's floor in words: the smallest difference repetitions at its spread could call clear,
    beside the one measured."""
    measured, floor = abs(c["mean_diff"]), c["resolvable_diff"]
    where = (
        f"{measured:.3f}."
        if measured <= floor
        else f"{measured:.3f}, above it, but more than {MAX_MORE_RUNS} more paired runs would be needed."
    )
    return (
        f" At the spread measured (SD {c['sd_diff']:.3f} IoU of the paired differences against "
        f"{c['against_loss']}), no number of repetitions with {round(1 / c['rho'])} folds can call a "
        f"difference under {floor:.3f} IoU clear; the measured one is {where}"
    )
