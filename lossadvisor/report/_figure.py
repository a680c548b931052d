"""Drawing plots as inline PNG data URIs, without touching global matplotlib state.

Figures are plain :class:`matplotlib.figure.Figure` objects rendered by the Agg canvas, never pyplot figures,
so building a report inside a notebook neither switches the user's backend nor leaves figures open; seaborn's
style is applied through ``rc_context`` rather than ``set_theme`` for the same reason. Colours come from the
Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), which stays distinguishable with the common
forms of colour blindness. matplotlib and seaborn are imported here only, on first use.
"""

from __future__ import annotations

import base64
import io
import logging
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

DPI = 110  # CSS pixels per inch of figure: the size a plot takes in the page
SCALE = 2  # PNGs hold SCALE x as many pixels per side, sharp on high-density screens and in print
WIDTH_IN = 7.6  # about 840 px at DPI: fills the report column on a laptop screen without upscaling
ROW_HEIGHT_IN = 3.0

# Okabe-Ito, in the order that keeps neighbouring colours most distinct. Yellow (#F0E442) is left out of the
# loss colours (too faint on white) and kept for the sample overlays, which use no loss colour.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000")
MUTED = "#8C8C8C"  # pruned / failed / reference marks
# One marker per meaning, in every plot: a filled circle is a finished run, an open circle a pruned one, an X
# a collapsed run (all background or all foreground), a down-triangle a failed run drawn at 0, a diamond the
# best of a group.
MARKERS = {"complete": "o", "collapsed": "X", "failed": "v", "best": "D"}


@dataclass(frozen=True)
class Plot:
    """A rendered plot, or the reason it could not be drawn."""

    uri: str  # "data:image/png;base64,..." ("" when it failed)
    alt: str  # what the plot shows, for screen readers and for printing without images
    caption: str = ""
    error: str = ""
    width: int = 0  # CSS pixels (the PNG holds SCALE x as many)
    height: int = 0


def palette_for(names: Iterable[str]) -> dict[str, str]:
    """A stable colour per loss name, the same in every plot of a report.

    Names are ordered as in the loss registry (CE, weighted CE, focal, Dice, ...; unknown names after, sorted)
    and colours handed out in that order, so CE and weighted CE get blue and orange, not two blues.
    """
    from lossadvisor.losses import LOSSES

    registry = list(LOSSES)
    ordered = sorted(set(names), key=lambda n: (registry.index(n) if n in registry else len(registry), n))
    return {name: OKABE_ITO[i % len(OKABE_ITO)] for i, name in enumerate(ordered)}


def _style() -> dict[str, Any]:
    import seaborn as sns
    from cycler import cycler

    rc: dict[str, Any] = {}
    rc.update(sns.axes_style("whitegrid"))
    rc.update(sns.plotting_context("notebook", font_scale=0.85))
    rc.update(
        {
            "axes.titleweight": "bold",
            "axes.titlesize": 11,
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            "axes.prop_cycle": cycler(color=list(OKABE_ITO)),
        }
    )
    return rc


def render(
    draw: Callable[[Figure], None],
    *,
    alt: str,
    caption: str = "",
    height: float = ROW_HEIGHT_IN,
    width: float = WIDTH_IN,
) -> Plot:
    """Draw a figure with ``draw(fig)`` and return it as a PNG data URI.

    A plot that fails (odd data from a damaged file) becomes a :class:`Plot` with ``error`` set and a logged
    warning: one bad plot never stops the report.

    Args:
        draw: fills the given empty figure (add axes with ``fig.subplots``).
        alt: a sentence saying what the plot shows.
        caption: text shown under the plot.
        height: figure height in inches.
        width: figure width in inches.
    """
    import matplotlib
    from matplotlib.figure import Figure

    try:
        with matplotlib.rc_context(_style()), warnings.catch_warnings():
            # seaborn 0.13's boxplot still passes matplotlib's deprecated ``vert``; nothing a user can act on.
            warnings.filterwarnings(
                "ignore", message=r"vert: bool was deprecated", category=DeprecationWarning
            )
            fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
            try:
                draw(fig)
                _escape_texts(fig)
                buffer = io.BytesIO()
                fig.savefig(buffer, format="png", dpi=DPI * SCALE, metadata={"Software": None})
            finally:
                fig.clear()
    except Exception as exc:  # noqa: BLE001 - a plot is not worth losing the whole report
        logger.warning("Could not draw the plot %r: %s", alt, exc)
        return Plot(uri="", alt=alt, caption=caption, error=f"{type(exc).__name__}: {exc}")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Plot(
        uri=f"data:image/png;base64,{encoded}",
        alt=alt,
        caption=caption,
        width=round(width * DPI),
        height=round(height * DPI),
    )


def image_uri(rgb: Any) -> str:
    """An (H, W, 3) uint8 array as a PNG data URI (for sample tiles shown at their own size)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _escape_texts(fig) -> None:
    """Every text of the figure (titles, legends, tick labels: class and tile names among them) through
    ``safe_text``, the one escaping rule, so a control character is drawn as its escape, not as a missing
    glyph. Tick labels are made at draw time, so each axis's formatters are wrapped."""
    from matplotlib.text import Text

    from lossadvisor._text import safe_text

    for text in fig.findobj(Text):
        raw = text.get_text()
        if raw:
            escaped = "\n".join(safe_text(line) for line in raw.split("\n"))  # the code's line breaks kept
            if escaped != raw:
                text.set_text(escaped)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(_safe_formatter(axis.get_major_formatter()))
            axis.set_minor_formatter(_safe_formatter(axis.get_minor_formatter()))


def _safe_formatter(inner):
    """``inner`` with its tick labels passed through ``safe_text``."""
    from matplotlib.ticker import Formatter

    from lossadvisor._text import safe_text

    class SafeFormatter(Formatter):
        def set_axis(self, axis) -> None:
            super().set_axis(axis)
            inner.set_axis(axis)

        def __call__(self, x, pos=None):
            return safe_text(inner(x, pos))

        def format_ticks(self, values):
            return [safe_text(t) for t in inner.format_ticks(values)]

        def set_locs(self, locs) -> None:
            inner.set_locs(locs)

        def get_offset(self):
            return inner.get_offset()

    return SafeFormatter()
