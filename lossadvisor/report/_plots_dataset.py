"""Plots of the dataset: class frequencies, per-image foreground, object sizes, objects per image.

They answer the questions the rules ask of the data: how rare is the foreground (imbalance), how many tiles
are empty (Dice's gradient vanishes there), and how small are the objects (tiny objects give Dice gradients
hundreds of times larger than cross-entropy's, and vanish when tiles are resized for training).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lossadvisor.profile._schema import SIZE_BUCKET_BOUNDS_PX, DatasetProfile
from lossadvisor.report._figure import MUTED, OKABE_ITO, Plot, palette_for, render

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

FOREGROUND_BINS = 20
LAST_BOUND_MARGIN = 8.0  # the x axis reaches 8x the last bucket bound, so the "large" bucket shows


def class_frequencies(profile: DatasetProfile) -> Plot:
    """Pixel share of every class, on a log axis when a class is under 1 % (so it stays visible)."""
    names = [c.name for c in profile.classes]
    shares = [c.pixel_frequency * 100.0 for c in profile.classes]

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        colours = []
        fg = 0
        for c in profile.classes:
            colours.append(MUTED if c.is_background else OKABE_ITO[fg % len(OKABE_ITO)])
            fg += 0 if c.is_background else 1
        bars = ax.barh(range(len(names)), shares, color=colours)
        ax.set_yticks(range(len(names)), labels=names)
        ax.invert_yaxis()
        positive = [s for s in shares if s > 0]
        if positive and min(positive) < 1.0:
            ax.set_xscale("log")
            ax.set_xlim(min(positive) / 3, 300)
        else:
            ax.set_xlim(0, 115)
        for bar, share in zip(bars, shares, strict=True):
            ax.annotate(
                f"{share:.3g} %",
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
            )
        ax.set_xlabel("share of all counted pixels (%)")
        ax.set_title(f"Class pixel frequencies (imbalance ratio {profile.imbalance_ratio:.3g} : 1)")

    height = max(1.6, 0.45 * len(names) + 1.0)
    return render(draw, alt="Bar chart of the share of pixels of each class.", height=height)


def foreground_fraction(per_image: pd.DataFrame) -> Plot:
    """Histogram of the foreground share of each image (skipped files left out)."""
    values = _read_rows(per_image)["foreground_fraction"].dropna() * 100.0
    empty = int((values == 0).sum())

    def draw(fig: Figure) -> None:
        import seaborn as sns

        ax = fig.subplots()
        sns.histplot(
            x=values,
            bins=FOREGROUND_BINS,
            binrange=(0, max(1.0, float(values.max()))),
            ax=ax,
            color=OKABE_ITO[0],
        )
        ax.set_xlabel("foreground pixels in the image (%)")
        ax.set_ylabel("images")
        ax.set_title(f"Per-image foreground fraction ({len(values)} images, {empty} with no foreground)")

    return render(draw, alt="Histogram of the foreground share per image.")


def object_sizes(profile: DatasetProfile) -> Plot:
    """Object areas per foreground class on a log axis, with the size-bucket bounds drawn.

    The histogram is the profile's ``area_log2_histogram`` (objects with area in [2^k, 2^(k+1)) px).
    """
    import numpy as np
    from matplotlib.ticker import FuncFormatter, LogLocator

    classes = [c for c in profile.foreground_classes if c.objects is not None and c.objects.count > 0]
    colours = palette_for(c.name for c in classes)

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        top = 1
        for c in classes:
            counts = np.asarray(c.objects.area_log2_histogram, dtype=float)
            edges = 2.0 ** np.arange(len(counts) + 1)
            ax.stairs(
                counts,
                edges,
                label=f"{c.name} ({c.objects.count:,} objects)",
                color=colours[c.name],
                fill=len(classes) == 1,
                alpha=0.85 if len(classes) == 1 else 1.0,
                linewidth=1.8,
            )
            top = max(top, int(counts.max()))
        ax.set_xscale("log", base=2)
        longest = max(len(c.objects.area_log2_histogram) for c in classes)
        x_high = max(2.0**longest, LAST_BOUND_MARGIN * max(lo for _, lo, _ in SIZE_BUCKET_BOUNDS_PX))
        ax.set_xlim(1, x_high)
        ax.xaxis.set_major_locator(LogLocator(base=4))
        ax.xaxis.set_major_formatter(FuncFormatter(_pixels))
        for name, low, high in SIZE_BUCKET_BOUNDS_PX:
            if low > 0:
                ax.axvline(low, color="black", linestyle="--", linewidth=1)
            centre = np.sqrt(max(low, 1.0) * min(high, x_high))
            ax.text(
                centre, 1.02, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=9
            )
        ax.set_ylim(0, top * 1.08)
        ax.set_xlabel(
            "object area (pixels, log scale; 1k = 1024; dashed: size-bucket bounds 64, 1024, 9216 px)"
        )
        ax.set_ylabel("objects")
        ax.set_title("Object sizes", pad=18)
        ax.legend(loc="upper right", fontsize=8)

    return render(
        draw, alt="Histogram of object areas on a logarithmic axis with the size buckets marked.", height=3.3
    )


def objects_per_image(per_image: pd.DataFrame, class_names: list[str]) -> Plot:
    """How many connected objects each image holds, per foreground class."""
    import pandas as pd

    rows = _read_rows(per_image)
    frames = [
        pd.DataFrame({"objects": rows[f"objects_{name}"], "class": name})
        for name in class_names
        if f"objects_{name}" in rows.columns
    ]
    data = pd.concat(frames, ignore_index=True).dropna()
    colours = palette_for(class_names)

    def draw(fig: Figure) -> None:
        import seaborn as sns
        from matplotlib.ticker import MaxNLocator

        ax = fig.subplots()
        many = data["objects"].max() > 40
        sns.histplot(
            data=data,
            x="objects",
            hue="class" if len(frames) > 1 else None,
            ax=ax,
            discrete=not many,
            bins="auto",
            multiple="dodge" if len(frames) > 1 else "layer",
            palette=colours if len(frames) > 1 else None,
            color=colours[class_names[0]] if len(frames) == 1 else None,
        )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("connected objects in the image")
        ax.set_ylabel("images")
        ax.set_title("Objects per image")

    return render(draw, alt="Histogram of the number of objects per image.")


def _pixels(value: float, _position: int) -> str:
    """Tick labels in pixels: 1, 4, 16, ..., 1k, 4k, 16k."""
    if value >= 1024:
        return f"{value / 1024:g}k"
    return f"{value:g}"


def _read_rows(per_image: pd.DataFrame) -> pd.DataFrame:
    """Rows of files that were profiled (``skipped_reason`` empty)."""
    if "skipped_reason" not in per_image.columns:
        return per_image
    reason = per_image["skipped_reason"].map(lambda v: v.strip() if isinstance(v, str) else "")
    return per_image[reason == ""]
