"""Statistics of one mask: pixels per class, connected objects, boundary pixels. Run once per file.

Only small numbers leave this module (counts and the object areas), so a worker holds one decoded mask at a
time and the parent never sees pixels. The floor this is measured against (``benchmarks/bench_profile.py``)
is one decode plus one connected-component pass: everything here beyond that is O(pixels) and cheap (a
compare, a 3x3 erosion, a count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from lossadvisor.io import BINARY_ENCODINGS, ClassMap, MaskFileError, display_path, read_mask

# A pixel is a boundary pixel when one of its 4 neighbours (up, down, left, right) is another class or
# ignored; the image edge is not a boundary. The erosion with this cross finds them in one pass.
_BOUNDARY_KERNEL = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
# The connected-component labeller: Block-Based Decision Tables (Grana et al. 2010), OpenCV's fastest on one
# core for 8-connectivity; for 4-connectivity OpenCV picks its own algorithm (SAUF).
_CCL_ALGORITHM = cv2.CCL_BBDT


@dataclass
class ImageStats:
    """What the profile keeps of one mask (for a skipped file: ``skipped_reason``, the rest empty)."""

    path: Path
    name: str  # printable path, as reported
    height: int = 0
    width: int = 0
    encoding: str = ""
    file_format: str = ""
    grey_from_rgb: bool = False
    pixel_counts: dict[int, int] = field(default_factory=dict)
    ignored_pixels: int = 0
    object_areas: dict[int, np.ndarray] = field(default_factory=dict)  # foreground class -> areas (px)
    boundary_pixels: dict[int, int] = field(default_factory=dict)  # class -> boundary pixels
    skipped_reason: str | None = None

    @property
    def counted_pixels(self) -> int:
        return sum(self.pixel_counts.values())

    @property
    def foreground_pixels(self) -> int:
        return sum(c for i, c in self.pixel_counts.items() if i != 0)


@dataclass(frozen=True)
class MeasureSettings:
    """The options every worker needs, sent once per worker rather than once per file."""

    class_map: ClassMap | None
    ignore_index: int | None
    connectivity: int


def measure_image(path: Path, settings: MeasureSettings) -> ImageStats:
    """Read one mask and measure it; a bad file gives an :class:`ImageStats` with ``skipped_reason`` set."""
    name = display_path(path)
    try:
        mask = read_mask(path, class_map=settings.class_map, ignore_index=settings.ignore_index)
    except MaskFileError as exc:
        return ImageStats(path, name, skipped_reason=exc.reason)
    labels = mask.labels
    stats = ImageStats(
        path,
        name,
        height=labels.shape[0],
        width=labels.shape[1],
        encoding=mask.encoding,
        file_format=mask.file_format,
        grey_from_rgb=mask.grey_from_rgb,
        pixel_counts=mask.pixel_counts,
        ignored_pixels=mask.ignored_pixels,
    )
    # Binary labels without ignored pixels are already a 0/1 image of the one foreground class: no compare.
    direct = mask.encoding in BINARY_ENCODINGS and not mask.ignored_pixels
    for index, count in sorted(mask.pixel_counts.items()):
        if count == 0:
            continue
        binary = labels if direct and index == 1 else (labels == index).view(np.uint8)
        stats.boundary_pixels[index] = _boundary_pixels(binary, count)
        if index != 0:  # the background is not made of objects
            stats.object_areas[index] = _object_areas(binary, settings.connectivity)
    return stats


def _object_areas(binary: np.ndarray, connectivity: int) -> np.ndarray:
    """Areas (px) of the connected objects of a 0/1 uint8 image."""
    _, _, cc_stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        binary, connectivity, cv2.CV_32S, _CCL_ALGORITHM
    )
    return cc_stats[1:, cv2.CC_STAT_AREA].astype(np.int64)  # row 0 is the background


def _boundary_pixels(binary: np.ndarray, pixels: int) -> int:
    """Pixels of a 0/1 uint8 image with a 4-neighbour outside it (the image edge does not count)."""
    interior = cv2.erode(binary, _BOUNDARY_KERNEL, borderType=cv2.BORDER_REPLICATE)
    return pixels - int(cv2.countNonZero(interior))
