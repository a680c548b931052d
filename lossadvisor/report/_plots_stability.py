"""Seed stability and sample predictions: is the winner good every time, and what do its masks look like?

A loss that wins the search once may still collapse with another seed (the "some runs very good, others
useless" chaos Dice is known for); the strip plot shows every seed's IoU per configuration, collapsed runs
marked. Sample overlays use colour-blind-safe colours: correct foreground blue, false positives orange, missed
foreground reddish purple (Okabe & Ito 2008).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lossadvisor.report._figure import MARKERS, MUTED, Plot, image_uri, palette_for, render
from lossadvisor.runfolder import COLLAPSE, is_collapse

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    from lossadvisor.report._readers import Samples

OVERLAY_ALPHA = 0.55
TRUE_POSITIVE = (240, 228, 66)  # Okabe-Ito yellow (kept out of the loss colours)
FALSE_POSITIVE = (255, 0, 255)  # magenta
FALSE_NEGATIVE = (0, 255, 255)  # cyan
MAX_SAMPLES = 4
MAX_CAPTIONED_SAMPLES = 12  # volumes: three cases x two classes x (largest, smallest lesion), as tune writes


def seed_spread(stability: pd.DataFrame, order: list[str]) -> Plot:
    """Box plus every seed's IoU per configuration (best mean first); collapsed and failed seeds marked."""
    data = stability.copy()
    data["label"] = data["label"].where(data["label"] != "", data["config_id"])
    data = data[data["label"].isin(order)]
    colours = palette_for(stability["loss"])
    loss_of = data.groupby("label")["loss"].first().to_dict()

    def draw(fig: Figure) -> None:
        import seaborn as sns

        ax = fig.subplots()
        scored = data[data["val_iou"].notna()]
        sns.boxplot(
            data=scored,
            x="val_iou",
            y="label",
            order=order,
            ax=ax,
            color="white",
            width=0.55,
            fliersize=0,
            linewidth=1,
        )
        sns.stripplot(
            data=scored,
            x="val_iou",
            y="label",
            order=order,
            hue="label",
            ax=ax,
            size=6,
            palette={label: colours[loss_of[label]] for label in order},
            jitter=0.12,
            legend=False,
        )
        bad = scored[scored[COLLAPSE].map(is_collapse)]
        positions = {label: i for i, label in enumerate(order)}
        ax.scatter(
            bad["val_iou"],
            [positions[label] for label in bad["label"]],
            marker=MARKERS["collapsed"],
            s=60,
            color="black",
            zorder=5,
            label="collapsed seed",
        )
        failed = data[data["failed"].astype(bool)]
        if len(failed):
            ax.scatter(
                [0.0] * len(failed),
                [positions[label] for label in failed["label"]],
                marker=MARKERS["failed"],
                s=50,
                color=MUTED,
                zorder=5,
                label="failed seed",
            )
        if len(bad) or len(failed):
            fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
        ax.set_xlim(*_fitted(data["val_iou"].fillna(0.0) if len(failed) else scored["val_iou"]))
        ax.set_xlabel("validation foreground IoU (final epoch), one point per run (fold, repetition, length)")
        ax.set_ylabel("")
        ax.set_title("Spread across folds, repetitions and run lengths")

    return render(
        draw,
        alt="Box and strip plot of IoU per seed for each configuration.",
        height=max(2.0, 0.55 * len(order) + 1.4),
    )


def _fitted(values: pd.Series, pad: float = 0.05, min_span: float = 0.1) -> tuple[float, float]:
    """An axis range around ``values`` (at least ``min_span`` wide, inside [0, 1] padded), not always 0..1.

    Example:
        >>> import pandas as pd
        >>> tuple(round(v, 3) for v in _fitted(pd.Series([0.40, 0.45])))
        (0.325, 0.525)
    """
    low, high = float(values.min()), float(values.max())
    if high - low < min_span:
        middle = (low + high) / 2
        low, high = middle - min_span / 2, middle + min_span / 2
    return max(-0.02, low - pad), min(1.02, high + pad)


@dataclass(frozen=True)
class SampleRow:
    """One validation tile: the image, the truth overlaid, then each configuration's prediction overlaid."""

    image: str  # data URIs
    truth: str
    predictions: list[tuple[str, str]]  # (data URI, "IoU 0.81")
    caption: str = ""  # what the row shows (volumes: "case · slice 17 of D · largest of 3 lesions: ...")


def sample_rows(samples: Samples, config_ids: list[str]) -> list[SampleRow]:
    """Overlays for the first few tiles, one column per configuration in ``config_ids``."""
    import numpy as np

    rows = []
    shown = MAX_CAPTIONED_SAMPLES if samples.captions else MAX_SAMPLES
    for i in range(min(shown, len(samples.images))):
        image = np.ascontiguousarray(samples.images[i].astype(np.uint8))
        truth = samples.masks[i]
        predictions = []
        for config_id in config_ids:
            pred = samples.predictions[config_id][i]
            predictions.append((image_uri(_overlay(image, truth, pred)), _tile_iou(truth, pred)))
        rows.append(
            SampleRow(
                image=image_uri(image),
                truth=image_uri(_overlay(image, truth, truth)),
                predictions=predictions,
                caption=samples.captions[i] if samples.captions else "",
            )
        )
    return rows


def _overlay(image: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Blend correct / false-positive / missed foreground colours over the image (class 0 = background)."""
    import numpy as np

    out = image.astype(np.float32)
    for colour, where in (
        (TRUE_POSITIVE, (pred > 0) & (pred == truth)),
        (FALSE_POSITIVE, (pred > 0) & (pred != truth)),
        (FALSE_NEGATIVE, (truth > 0) & (pred == 0)),
    ):
        out[where] = (1 - OVERLAY_ALPHA) * out[where] + OVERLAY_ALPHA * np.asarray(colour, dtype=np.float32)
    return out.clip(0, 255).astype(np.uint8)


def _tile_iou(truth: np.ndarray, pred: np.ndarray) -> str:
    """Foreground IoU of one tile ("empty tile, no prediction" when both are empty)."""
    import numpy as np

    t, p = truth > 0, pred > 0
    union = int(np.logical_or(t, p).sum())
    if union == 0:
        return "empty tile, nothing predicted"
    return f"IoU {np.logical_and(t, p).sum() / union:.2f}"
