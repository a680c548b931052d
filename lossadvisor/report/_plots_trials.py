"""Plots of the Optuna trials: best IoU per loss, learning-rate sensitivity, the Dice/CE mix, learning curves.

The learning-rate plot is the one users come for: Dice-family losses are reported to be far more sensitive to
the learning rate than cross-entropy (their gradient divides by small sums, Milletari et al. 2016, "V-Net"),
and a scatter of IoU against the learning rate, one panel per loss, shows how wide the good band is on *this*
data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lossadvisor._run_records import LRRangeTest
from lossadvisor.report._figure import MARKERS, MUTED, OKABE_ITO, ROW_HEIGHT_IN, Plot, palette_for, render
from lossadvisor.runfolder import COLLAPSE, is_collapse

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PANELS_PER_ROW = 4
MIN_LR_SPAN = 10.0  # the LR axis covers at least one decade
SEARCHED_SHADE = "#E8ECF1"
IOU_LABEL = "validation foreground IoU"


def finished(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials with an objective value (complete, or pruned after reporting at least one epoch)."""
    return trials[trials["state"].isin(["COMPLETE", "PRUNED"]) & trials["value"].notna()]


def best_per_loss(trials: pd.DataFrame) -> Plot:
    """Every finished trial's IoU per loss (a strip), the best one per loss marked and labelled."""
    data = finished(trials)
    order = data.groupby("loss")["value"].max().sort_values(ascending=False).index.tolist()
    colours = palette_for(trials["loss"])

    def draw(fig: Figure) -> None:
        import seaborn as sns

        ax = fig.subplots()
        sns.stripplot(
            data=data,
            x="value",
            y="loss",
            order=order,
            hue="loss",
            palette=colours,
            ax=ax,
            size=5,
            alpha=0.55,
            jitter=0.18,
            legend=False,
        )
        for i, loss in enumerate(order):
            best = data.loc[data["loss"] == loss, "value"].max()
            ax.scatter(
                [best], [i], marker=MARKERS["best"], s=70, color=colours[loss], edgecolor="black", zorder=5
            )
            ax.annotate(
                f"{best:.3f}",
                (best, i),
                xytext=(8, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
                fontweight="bold",
            )
        ax.set_xlabel(f"{IOU_LABEL} (diamond: best trial of the loss)")
        ax.set_ylabel("")
        ax.set_xlim(0, 1.05)
        ax.set_title("Best IoU per loss")

    return render(
        draw,
        alt="Strip plot of the IoU of every trial per loss, best trial marked.",
        height=max(1.8, 0.5 * len(order) + 1.1),
    )


def iou_vs_lr(trials: pd.DataFrame, searched: dict[str, tuple[float, float]] | None = None) -> Plot:
    """IoU against the learning rate (log axis), one panel per loss; pruned and collapsed trials marked.

    ``searched`` (loss -> the LR range of the search space, from ``recommendation.json``) is shaded, so a
    reader sees whether the good band sits inside the range or against its edge.
    """
    from matplotlib.ticker import LogLocator, NullFormatter

    searched = searched or {}
    data = trials[trials["lr"].notna() & (trials["lr"] > 0)]
    losses = sorted(data["loss"].unique())
    colours = palette_for(trials["loss"])
    bounds = [*data["lr"], *(v for loss in losses for v in searched.get(loss, ()))]
    x_low, x_high = min(bounds) / 1.6, max(bounds) * 1.6
    if x_high / x_low < MIN_LR_SPAN:  # a single decade at least, so the log ticks stay readable
        centre = math.sqrt(x_low * x_high)
        x_low, x_high = centre / math.sqrt(MIN_LR_SPAN), centre * math.sqrt(MIN_LR_SPAN)

    def draw(fig: Figure) -> None:
        axes = _panels(fig, len(losses))
        for ax, loss in zip(axes, losses, strict=True):
            rows = data[data["loss"] == loss]
            if loss in searched:
                ax.axvspan(*searched[loss], color=SEARCHED_SHADE, zorder=0, linewidth=0)
            _points(ax, rows, colours[loss], x="lr")
            ax.set_xscale("log")
            ax.set_xlim(x_low, x_high)
            ax.xaxis.set_major_locator(LogLocator(base=10, numticks=6))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_ylim(-0.03, 1.03)
            ax.set_title(f"{loss} ({len(rows)} trial{'' if len(rows) == 1 else 's'})")
        fig.supxlabel("learning rate (log scale)", fontsize=10)
        for ax in axes[:: min(PANELS_PER_ROW, len(losses))]:
            ax.set_ylabel(IOU_LABEL)
        handles = _lr_legend(failed=bool((data["state"] == "FAIL").any()), shaded=bool(searched))
        fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), fontsize=8, frameon=False)

    rows = math.ceil(len(losses) / PANELS_PER_ROW)
    return render(
        draw,
        alt="Scatter plots of IoU against learning rate, one panel per loss.",
        height=ROW_HEIGHT_IN * rows * 0.95 + 0.5,
    )


def _points(ax: Axes, rows: pd.DataFrame, colour: str, *, x: str) -> None:
    """IoU against column ``x``: complete filled, pruned open, collapsed X, failed a triangle at 0."""
    collapsed = rows[COLLAPSE].map(is_collapse) & rows["value"].notna()
    complete = rows[(rows["state"] == "COMPLETE") & ~collapsed & rows["value"].notna()]
    pruned = rows[(rows["state"] == "PRUNED") & ~collapsed & rows["value"].notna()]
    failed = rows[rows["state"] == "FAIL"]
    ax.scatter(complete[x], complete["value"], s=30, color=colour, edgecolor="white", linewidth=0.5)
    ax.scatter(pruned[x], pruned["value"], s=30, facecolor="none", edgecolor=colour, linewidth=1.2)
    ax.scatter(
        rows.loc[collapsed, x], rows.loc[collapsed, "value"], s=45, marker=MARKERS["collapsed"], color="black"
    )
    if len(failed):
        ax.scatter(failed[x], [0.0] * len(failed), s=40, marker=MARKERS["failed"], color=MUTED)


def _lr_legend(*, failed: bool, shaded: bool) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Line2D([], [], marker=MARKERS["complete"], linestyle="", color=MUTED, label="complete"),
        Line2D([], [], marker="o", linestyle="", markerfacecolor="none", color=MUTED, label="pruned"),
        Line2D(
            [],
            [],
            marker=MARKERS["collapsed"],
            linestyle="",
            color="black",
            label="collapsed (all one class)",
        ),
    ]
    if failed:
        handles.append(
            Line2D([], [], marker=MARKERS["failed"], linestyle="", color=MUTED, label="failed (drawn at 0)")
        )
    if shaded:
        handles.append(Patch(color=SEARCHED_SHADE, label="range searched"))
    return handles


def iou_vs_mix(trials: pd.DataFrame) -> Plot:
    """IoU against the Dice/CE mix weight (0 = cross-entropy only, 1 = Dice only), per mixed loss."""
    data = trials[trials["mix"].notna()]
    colours = palette_for(trials["loss"])

    def draw(fig: Figure) -> None:
        from matplotlib.lines import Line2D

        ax = fig.subplots()
        losses = sorted(data["loss"].unique(), key=list(colours).index)
        for loss in losses:
            _points(ax, data[data["loss"] == loss], colours[loss], x="mix")
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("mix weight of the Dice term (0 = cross-entropy only, 1 = Dice only)")
        ax.set_ylabel(IOU_LABEL)
        ax.set_title("IoU against the Dice/CE mix weight")
        handles = [
            Line2D([], [], marker="o", linestyle="", color=colours[loss], label=loss) for loss in losses
        ] + _lr_legend(failed=bool((data["state"] == "FAIL").any()), shaded=False)
        ax.legend(handles=handles, fontsize=8, loc="lower left")

    return render(draw, alt="Scatter plot of IoU against the Dice/CE mix weight.")


def learning_curves(epochs: pd.DataFrame, best_trials: dict[str, int]) -> Plot:
    """Validation IoU and training loss per epoch of the best trial of each loss (search phase)."""
    colours = palette_for(best_trials)
    search = epochs[(epochs["phase"].isin(["search", ""]))]

    def draw(fig: Figure) -> None:
        from matplotlib.ticker import MaxNLocator

        left, right = fig.subplots(1, 2)
        for loss, number in sorted(best_trials.items()):
            rows = search[search["trial"] == number].sort_values("epoch")
            label = f"{loss} (trial {number})"
            left.plot(
                rows["epoch"], rows["val_iou"], marker="o", markersize=3, color=colours[loss], label=label
            )
            right.plot(rows["epoch"], rows["train_loss"], marker="o", markersize=3, color=colours[loss])
        left.set_ylim(-0.03, 1.03)
        left.set_xlabel("epoch")
        left.set_ylabel(IOU_LABEL)
        left.set_title("Validation IoU")
        right.set_xlabel("epoch")
        right.set_ylabel("training loss (own scale per loss)")
        for ax in (left, right):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        right.set_title("Training loss")
        fig.legend(
            loc="outside lower center", ncols=min(4, max(1, len(best_trials))), fontsize=8, frameon=False
        )

    return render(draw, alt="Learning curves of the best trial of each loss.", height=3.4)


def param_importances(importances: dict[str, float]) -> Plot:
    """Horizontal bars of Optuna's parameter importances (share of the objective's variance explained)."""
    items = sorted(((str(k), float(v)) for k, v in importances.items()), key=lambda kv: kv[1])

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        ax.barh([k for k, _ in items], [v for _, v in items], color=OKABE_ITO[0])
        for i, (_, v) in enumerate(items):
            ax.annotate(
                f"{v:.2f}", (v, i), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9
            )
        ax.set_xlim(0, max(v for _, v in items) * 1.18 if items else 1)
        ax.set_xlabel("importance (share of the variance of the objective)")
        ax.set_title("Parameter importances")

    return render(draw, alt="Bar chart of parameter importances.", height=max(1.6, 0.4 * len(items) + 1.0))


def lr_range_tests(tests: Sequence[LRRangeTest]) -> Plot:
    """Smoothed loss against learning rate per loss, the suggested LR marked, suspect tests titled so."""
    tests = [t for t in tests if t.lrs and t.losses]
    colours = palette_for(t.loss for t in tests)

    def draw(fig: Figure) -> None:
        axes = _panels(fig, len(tests), share_y=False)
        for ax, test in zip(axes, tests, strict=True):
            name = test.loss
            ax.plot(test.lrs, test.losses, color=colours[name], linewidth=1.6)
            ax.set_xscale("log")
            suggested = test.suggested_lr
            if suggested is not None and float(suggested) > 0:
                ax.axvline(float(suggested), color="black", linestyle="--", linewidth=1)
                ax.annotate(
                    f"suggested {float(suggested):.1e}",
                    (float(suggested), 0.95),
                    xycoords=("data", "axes fraction"),
                    xytext=(4, 0),
                    textcoords="offset points",
                    fontsize=8,
                    va="top",
                )
            title = f"{name} — suspect" if test.suspect else name
            ax.set_title(title, color="#A33A00" if test.suspect else "black")
            ax.set_ylabel("smoothed training loss")
        fig.supxlabel("learning rate (log scale); dashed: suggested learning rate", fontsize=10)

    rows = math.ceil(len(tests) / PANELS_PER_ROW)
    return render(
        draw,
        alt="LR range test curves: training loss against learning rate, one panel per loss.",
        height=ROW_HEIGHT_IN * rows * 0.95,
    )


def _panels(fig: Figure, n: int, *, share_y: bool = True) -> list[Axes]:
    cols = min(PANELS_PER_ROW, max(1, n))
    rows = max(1, math.ceil(n / cols))
    grid = fig.subplots(rows, cols, squeeze=False, sharey=share_y)
    axes = [ax for row in grid for ax in row]
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]
