"""Seed stability and sample predictions: is the winner good every time, and what do its masks look like?

A loss that wins the search once may still collapse with another seed (the "some runs very good, others
useless" chaos Dice is known for); the strip plot shows every seed's IoU per configuration, collapsed runs
marked. Sample overlays use colour-blind-safe colours: correct foreground blue, false positives orange, missed
foreground reddish purple (Okabe & Ito 2008).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lossadvisor.report._figure import MUTED, Plot, image_uri, palette_for, render

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    from lossadvisor.report._readers import Samples

OVERLAY_ALPHA = 0.55
TRUE_POSITIVE = (0, 114, 178)  # Okabe-Ito blue
FALSE_POSITIVE = (230, 159, 0)  # Okabe-Ito orange
FALSE_NEGATIVE = (204, 121, 167)  # Okabe-Ito reddish purple
MAX_SAMPLES = 4


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
        bad = scored[scored["collapsed"].astype(bool)]
        positions = {label: i for i, label in enumerate(order)}
        ax.scatter(
            bad["val_iou"],
            [positions[label] for label in bad["label"]],
            marker="X",
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
                marker="v",
                s=50,
                color=MUTED,
                zorder=5,
                label="failed seed",
            )
        if len(bad) or len(failed):
            fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
        ax.set_xlim(-0.03, 1.03)
        ax.set_xlabel("validation foreground IoU, one point per seed")
        ax.set_ylabel("")
        ax.set_title("Spread across seeds")

    return render(
        draw,
        alt="Box and strip plot of IoU per seed for each configuration.",
        height=max(2.0, 0.55 * len(order) + 1.4),
    )


@dataclass(frozen=True)
class SampleRow:
    """One validation tile: the image, the truth overlaid, then each configuration's prediction overlaid."""

    image: str  # data URIs
    truth: str
    predictions: list[tuple[str, str]]  # (data URI, "IoU 0.81")


def sample_rows(samples: Samples, config_ids: list[str]) -> list[SampleRow]:
    """Overlays for the first few tiles, one column per configuration in ``config_ids``."""
    import numpy as np

    rows = []
    for i in range(min(MAX_SAMPLES, len(samples.images))):
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
