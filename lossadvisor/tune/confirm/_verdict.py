"""The verdict: paired differences in IoU between finalists, a bootstrap interval, and "clear" or "tie".

Every finalist is trained on the same folds with the same seed indices, so each (fold, seed) gives one
*paired* run: the difference in IoU between two finalists on exactly the same validation tiles. The IoU of a
run is pooled over its validation tiles (intersections and unions summed, as in the search), so the counts of
every tile are kept and the bootstrap can resample tiles.

Interval: a two-stage bootstrap (Davison & Hinkley 1997, section 3.8, resampling clustered data): each
replicate resamples the validation tiles within every fold (the same draw for both finalists, keeping the
pairing) and then the paired runs, and averages the runs' differences. With a handful of runs the plain
percentile interval is too narrow (its spread is that of a sample of n, not of n - 1 degrees of freedom), so
the *expanded* percentile interval is used (Hesterberg 2015, "What teachers should know about the bootstrap",
section 6.1): the percentile level alpha' / 2 = Phi(-sqrt(n / (n - 1)) * t_{alpha/2, n-1}) for n runs, which
gives the coverage of a t interval. The resampling is seeded, so the interval is deterministic.

A difference is "clear" when the interval excludes 0 *and* the mean gain is at least a practical margin
(default 0.01 IoU); otherwise the two are tied, and among tied losses the simplest is recommended.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lossadvisor._run_records import Comparison, OrderCheck, Overtake, PairedRun, Verdict

DEFAULT_MARGIN = 0.01  # IoU: smaller gains are not worth a more complex loss, whatever the interval says
CONFIDENCE_LEVEL = 0.95
BOOTSTRAP_REPLICATES = 10_000
# Simplest first: fewer parameters, fewer ways to fail, what every framework ships. A tie goes to the first.
SIMPLICITY_ORDER = ("ce", "weighted_ce", "dice_ce")
SIMPLICITY_WHY = (
    "CE has no parameter to set and trains steadily; weighted CE adds only class weights computed from the "
    "data; Dice + CE adds a mix and an overlap term; the rest add more"
)


@dataclass(frozen=True)
class FinalistRuns:
    """One finalist's confirmation runs: per (fold, seed) the per-tile counts ``(n_tiles, 3, C)``."""

    entry: str  # the finalist's id (its config_id; distinct for two entries of one loss in an A/A check)
    loss: str
    label: str
    runs: dict[tuple[int, int], np.ndarray]  # (fold, seed) -> intersection / predicted / labelled counts
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


def expanded_alpha(n: int, alpha: float = 1 - CONFIDENCE_LEVEL) -> float:
    """Hesterberg's expanded-percentile level for ``n`` resampled units (``alpha`` itself when n < 2).

    Example:
        >>> round(expanded_alpha(6), 4)  # the 0.24% and 99.76% percentiles instead of 2.5% and 97.5%
        0.0049
    """
    if n < 2:
        return alpha
    from scipy.stats import norm, t

    return float(2 * norm.cdf(-math.sqrt(n / (n - 1)) * t.ppf(1 - alpha / 2, n - 1)))


def paired_comparison(
    a: FinalistRuns,
    b: FinalistRuns,
    *,
    seed: int = 0,
    replicates: int = BOOTSTRAP_REPLICATES,
    margin: float = DEFAULT_MARGIN,
) -> Comparison:
    """``a`` against ``b`` over the runs both finished: mean difference in IoU, interval, runs won, clear?

    Returns:
        The :class:`Comparison`; its interval is ``None`` when no run is shared.
    """
    keys = sorted(set(a.runs) & set(b.runs))
    if not keys:
        return Comparison(against=b.entry, against_loss=b.loss, runs=0, margin=margin)
    diffs = np.array([run_iou(a.runs[k]) - run_iou(b.runs[k]) for k in keys])
    stats = _bootstrap(a, b, keys, seed=seed, replicates=replicates)
    level = expanded_alpha(len(keys))
    low, high = (float(v) for v in np.quantile(stats, [level / 2, 1 - level / 2]))
    mean = float(diffs.mean())
    return Comparison(
        against=b.entry,
        against_loss=b.loss,
        runs=len(keys),
        margin=margin,
        mean_diff=mean,
        ci_low=low,
        ci_high=high,
        ci_level=CONFIDENCE_LEVEL,
        runs_won=int((diffs > 0).sum()),
        runs_lost=int((diffs < 0).sum()),
        clear=bool(low > 0 and mean >= margin),
        per_run=tuple(
            PairedRun(fold=f, seed=s, diff=float(d)) for (f, s), d in zip(keys, diffs, strict=True)
        ),
    )


def _bootstrap(
    a: FinalistRuns, b: FinalistRuns, keys: list[tuple[int, int]], *, seed: int, replicates: int
) -> np.ndarray:
    """Replicates of the mean paired difference: tiles resampled within each fold (one draw per fold and
    replicate, shared by both finalists and every run of the fold), then runs resampled."""
    rng = np.random.default_rng(seed)
    folds = sorted({f for f, _ in keys})
    weights = {}
    for f in folds:
        n = len(a.runs[next(k for k in keys if k[0] == f)])
        weights[f] = rng.multinomial(n, np.full(n, 1.0 / n), size=replicates).astype(float)  # (B, n)
    per_run = np.empty((replicates, len(keys)))
    for j, key in enumerate(keys):
        w = weights[key[0]]
        ious = []
        for runs in (a.runs, b.runs):
            c = np.asarray(runs[key], dtype=float)
            pooled = (w @ c.reshape(len(c), -1)).reshape(replicates, *c.shape[1:])
            ious.append(foreground_iou(pooled))
        per_run[:, j] = ious[0] - ious[1]
    r = len(keys)
    picks = rng.multinomial(r, np.full(r, 1.0 / r), size=replicates).astype(float)  # (B, runs)
    return (picks * per_run).sum(axis=1) / r


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


def decide(
    finalists: Sequence[FinalistRuns], *, margin: float = DEFAULT_MARGIN, seed: int = 0,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> Verdict:  # fmt: skip
    """The verdict over the finalists' confirmation runs.

    The winner has the highest mean IoU over its runs. It is compared with every other finalist; it is the
    clear winner when every comparison is clear. Otherwise the finalists it does not clearly beat are tied
    with it, and the simplest of them (:data:`SIMPLICITY_ORDER`) is recommended.

    Returns:
        The :class:`Verdict`: ``kind`` "clear", "tie", "single" or "none"; ``winner``, ``recommended`` and
        ``tied`` are the finalists' ``entry`` ids.
    """
    scored = [(f, _mean_iou(f)) for f in finalists if f.runs]
    if not scored:
        return Verdict(
            kind="none", winner=None, recommended=None, tied=(), comparisons=(), margin=margin,
            order=_order(finalists), explanation="No confirmation run finished, so there is no verdict.",
        )  # fmt: skip
    scored.sort(key=lambda p: (-p[1], simplicity_rank(p[0].loss)))
    winner = scored[0][0]
    if len(scored) == 1:
        return Verdict(
            kind="single", winner=winner.entry, recommended=winner.entry, tied=(winner.entry,),
            comparisons=(), margin=margin, order=_order(finalists),
            explanation=_single_explanation(winner, finalists),
        )  # fmt: skip
    comparisons = tuple(
        paired_comparison(winner, other, seed=seed + i, replicates=replicates, margin=margin)
        for i, (other, _) in enumerate(scored[1:])
    )
    by_entry = {f.entry: f for f, _ in scored}
    tied = [winner.entry] + [c.against for c in comparisons if not c.clear]
    if len(tied) == 1:
        kind, recommended = "clear", winner.entry
    else:
        kind = "tie"
        recommended = min(tied, key=lambda e: (simplicity_rank(by_entry[e].loss), tied.index(e)))
    return Verdict(
        kind=kind,
        winner=winner.entry,
        recommended=recommended,
        tied=tuple(tied),
        comparisons=comparisons,
        margin=margin,
        order=_order(finalists),
        explanation=_explain(kind, winner, by_entry[recommended], comparisons, by_entry, margin),
    )


def _mean_iou(f: FinalistRuns) -> float:
    return float(np.mean([run_iou(c) for c in f.runs.values()]))


def _order(finalists: Sequence[FinalistRuns]) -> OrderCheck:
    """Does the search's order of the finalists hold after the longer confirmation runs? Who overtook whom."""
    searched = [f for f in finalists if f.search_value is not None and f.runs]
    before = [f.entry for f in sorted(searched, key=lambda f: -f.search_value)]
    means = {f.entry: _mean_iou(f) for f in searched}
    value = {f.entry: f.search_value for f in searched}
    after = sorted(before, key=lambda e: -means[e])
    overtook = tuple(  # x was strictly below y in the search and is above it after confirmation
        Overtake(entry=x, overtook=y)
        for i, y in enumerate(before)
        for x in before[i + 1 :]
        if value[x] < value[y] and means[x] > means[y]
    )
    return OrderCheck(search=tuple(before), confirmation=tuple(after), held=not overtook, overtook=overtook)


def _fmt_cmp(c: Comparison) -> str:
    return (
        f"{c.mean_diff:+.3f} IoU over {c.against_loss} "
        f"(95% CI {c.ci_low:+.3f} to {c.ci_high:+.3f}, won {c.runs_won} of {c.runs} paired runs)"
    )


def _explain(kind, winner, recommended, comparisons, by_entry, margin) -> str:
    shown = "; ".join(_fmt_cmp(c) for c in comparisons if c.mean_diff is not None)
    if kind == "clear":
        return (
            f"{winner.loss} wins clearly: {shown}. Every interval excludes 0 and every gain is at least the "
            f"practical margin of {margin:g} IoU."
        )
    tied = [by_entry[c.against].loss for c in comparisons if not c.clear]
    text = (
        f"Tie: {winner.loss} scored highest but does not clearly beat {', '.join(tied)}. Paired: {shown}. A "
        f"difference counts only when its 95% interval excludes 0 and the gain is at least {margin:g} IoU."
    )
    if recommended.entry != winner.entry:
        text += f" Among the tied losses the simplest, {recommended.loss}, is recommended ({SIMPLICITY_WHY})."
    else:
        text += f" {winner.loss} is also the simplest of them, so it is recommended."
    return text
