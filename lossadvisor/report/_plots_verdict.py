"""The plots beside the verdict: each comparison's three probabilities, and the paired IoU differences.

Every finalist is trained on the same partitions, folds and tiles, so the comparison is paired: per run, the
leader's IoU minus the finalist's. One plot stacks the correlated t-test's P(better), P(equivalent) and
P(worse) per comparison (the verdict at a glance); the other shows the per-run differences as small points,
their mean as a larger mark (and, for older run folders, the bootstrap interval as a bar) against zero and the
practical margin. Nothing here is computed from the runs: every number is result.json's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lossadvisor._run_records import Comparison
from lossadvisor.report._figure import MUTED, Plot, palette_for, render

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

MARGIN_SHADE = "#E8ECF1"


def paired_differences(
    comparisons: Sequence[Comparison],
    *,
    winner: str,
    labels: dict[str, str],
    losses: dict[str, str],
    margin: float | None,
) -> Plot:
    """Winner minus each finalist: per-run differences, their mean and its interval, one row per finalist.

    Args:
        comparisons: result.json's ``verdict.comparisons`` (records: ``against``, ``mean_diff``, the
            interval, ``runs_won`` of ``runs``, and ``per_run`` with each run's ``diff``).
        winner: the winner's label.
        labels: configuration id -> label.
        losses: configuration id -> loss name (for its colour, the same as in every other plot).
        margin: the practical margin in IoU (shaded around zero), or ``None``.
    """
    rows = [c for c in comparisons if c.mean_diff is not None]
    colours = palette_for(losses.values())
    level = next((c.ci_level for c in rows if c.ci_level), 0.95)

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        if margin:
            ax.axvspan(-margin, margin, color=MARGIN_SHADE, zorder=0, linewidth=0)
        ax.axvline(0.0, color="black", linewidth=0.8, zorder=1)
        for i, c in enumerate(rows):
            y = len(rows) - 1 - i
            colour = colours.get(losses.get(c.against, ""), MUTED)
            per_run = [r.diff for r in c.per_run if r.diff is not None]
            ax.scatter(per_run, [y] * len(per_run), s=14, color="#333333", alpha=0.7, zorder=5, linewidth=0)
            low, high = c.ci_low, c.ci_high
            if low is not None and high is not None:
                ax.plot([low, high], [y, y], color=colour, linewidth=3, solid_capstyle="butt", zorder=3)
            ax.scatter([c.mean_diff], [y], s=70, marker="o", color=colour, edgecolor="black", zorder=4)
            won = f"won {c.runs_won} of {c.runs} runs"
            ax.annotate(
                won, (1.0, y), xycoords=("axes fraction", "data"), xytext=(6, 0), textcoords="offset points",
                va="center", fontsize=8, color="#333333",
            )  # fmt: skip
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([labels.get(c.against, c.against) for c in reversed(rows)])
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_xlabel(
            f"winner's IoU minus the finalist's, per fold and seed (winner: {winner})\n"
            f"bar: {level:.0%} interval; dots: single runs"
            + (f"; shaded: within the {margin:g} margin" if margin else "")
        )
        ax.set_title("Does the winner beat each finalist on the same tiles and seeds?")

    return render(
        draw,
        alt="Paired IoU differences between the winner and each other finalist, with intervals.",
        height=max(1.7, 0.45 * len(rows) + 1.3),
        width=7.6,
    )


# Okabe-Ito colours for the three outcomes of a comparison: better (bluish green), equivalent (grey), worse
# (vermillion); colour-blind safe and the same in every report.
OUTCOME_COLOURS = {"better": "#009E73", "equivalent": "#BBBBBB", "worse": "#D55E00"}


def probability_bars(comparisons: Sequence[Comparison], *, leader: str, level: float) -> Plot:
    """One stacked bar per comparison: P(leader better), P(practically equivalent), P(leader worse).

    Args:
        comparisons: result.json's ``verdict.comparisons`` (records with ``p_better``, ``p_equivalent``,
            ``p_worse``, ``against_loss``, ``runs`` and ``steps``).
        leader: the leader's loss name.
        level: the probability a side must reach to decide (marked on the axis).
    """
    rows = [c for c in comparisons if c.p_better is not None]

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        names = [f"vs {c.against_loss}\n{c.runs} runs, {c.steps} steps" for c in rows]
        left = [0.0] * len(rows)
        for key, what in (("p_better", "better"), ("p_equivalent", "equivalent"), ("p_worse", "worse")):
            widths = [float(getattr(c, key)) for c in rows]
            ax.barh(names, widths, left=left, color=OUTCOME_COLOURS[what], label=f"{leader} {what}"
                    if what != "equivalent" else "practically equivalent", height=0.55)  # fmt: skip
            for y, (x0, w) in enumerate(zip(left, widths, strict=True)):
                if w >= 0.08:
                    ax.text(x0 + w / 2, y, f"{w:.0%}", ha="center", va="center", fontsize=8)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        for x in (level, 1 - level):
            ax.axvline(x, color="black", linewidth=0.8, linestyle=":")
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_xlabel(f"posterior probability (dotted: the {100 * level:g}% a side needs to decide)")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False, fontsize=8)

    return render(
        draw,
        alt="Per comparison: the probabilities that the leader is better, practically equivalent or worse.",
        height=max(2.0, 0.55 * len(rows) + 1.6),
        width=7.6,
    )
