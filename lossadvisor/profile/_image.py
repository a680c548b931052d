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

from lossadvisor.io import (
    BINARY_ENCODINGS,
    DEFAULT_MAX_PIXELS,
    ClassMap,
    MaskData,
    MaskFileError,
    display_path,
    read_mask,
)

# A pixel is a boundary pixel when one of its 4 neighbours (up, down, left, right) is another class or
# ignored; the image edge is not a boundary. The erosion with this cross finds them in one pass.
_BOUNDARY_KERNEL = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
# The connected-component labeller: Block-Based Decision Tables (Grana et al. 2010), OpenCV's fastest on one
# core for 8-connectivity; for 4-connectivity OpenCV picks its own algorithm (SAUF).
_CCL_ALGORITHM = cv2.CCL_BBDT
# Above this many pixels a mask is labelled and eroded in row bands of about this size: OpenCV's label
# image is int32 (4 bytes per pixel), 1.6 GB on top of the 0.4 GB of a 20000x20000 mask. Bands keep a
# worker's peak near twice the decoded mask; objects crossing a band border are joined (a label graph).
BAND_PIXELS = 8 * 2**20


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
    palette_colours: dict[int, tuple[int, int, int]] | None = None  # palette masks read by index
    uncoded_colours: tuple[tuple[int, int, int], ...] = ()  # colour-coded RGB mask without a class map
    # Volumes only (``_volume.py``): D of (D, H, W), voxel size (mm) per axis, and what is measured in 3-D.
    depth: int = 0
    spacing: tuple[float, float, float] | None = None
    spacing_known: bool = True
    orientation: str = ""
    slice_axis: int = 0  # the through-plane axis (largest spacing)
    foreground_slices: int = 0  # slices along ``slice_axis`` holding foreground
    empty_patch_share: float = 0.0  # share of patch positions without foreground
    # class -> each object's extent (voxels) along ``slice_axis``, in the order of ``object_areas``
    object_extents: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Pixels of the mask, or voxels of the volume."""
        return self.height * self.width * max(1, self.depth)

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
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    dimensionality: int = 2  # 3: the files are label volumes (``_volume.measure_volume``)
    patch_size: tuple[int, int, int] | None = None  # volumes: the training patch (empty-patch share)


def measure_image(path: Path, settings: MeasureSettings) -> ImageStats:
    """Read one mask and measure it; a bad file gives an :class:`ImageStats` with ``skipped_reason`` set."""
    name = display_path(path)
    try:
        mask = read_mask(
            path,
            class_map=settings.class_map,
            ignore_index=settings.ignore_index,
            max_pixels=settings.max_pixels,
        )
    except MaskFileError as exc:
        return ImageStats(path, name, skipped_reason=exc.reason, uncoded_colours=exc.colours)
    return measure_mask(mask, name, settings)


def measure_mask(mask: MaskData, name: str, settings: MeasureSettings) -> ImageStats:
    """Measure a mask already read (from a file, or from an array: :func:`lossadvisor.io.mask_from_array`)."""
    path = mask.path
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
        palette_colours=mask.palette_colours,
    )
    # Binary labels without ignored pixels are already a 0/1 image of the one foreground class: no compare.
    direct = mask.encoding in BINARY_ENCODINGS and not mask.ignored_pixels
    scratch: np.ndarray | None = None  # one 0/1 buffer reused for every class: the mask plus one copy at most
    for index, count in sorted(mask.pixel_counts.items()):
        if count == 0:
            continue
        if direct and index == 1:
            binary = labels
        else:
            scratch = np.equal(labels, index, out=scratch)
            binary = scratch.view(np.uint8)
        stats.boundary_pixels[index] = _boundary_pixels(binary, count)
        if index != 0:  # the background is not made of objects
            stats.object_areas[index] = _object_areas(binary, settings.connectivity)
    return stats


def _band_rows(binary: np.ndarray, band_pixels: int) -> int:
    return max(1, band_pixels // max(1, binary.shape[1]))


def _object_areas(binary: np.ndarray, connectivity: int, band_pixels: int = BAND_PIXELS) -> np.ndarray:
    """Areas (px) of the connected objects of a 0/1 uint8 image (in the order OpenCV numbers them when the
    image fits in one band; callers use them as a multiset)."""
    if binary.size <= band_pixels:
        _, _, cc_stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
            binary, connectivity, cv2.CV_32S, _CCL_ALGORITHM
        )
        return cc_stats[1:, cv2.CC_STAT_AREA].astype(np.int64)  # row 0 is the background
    return _banded_object_areas(binary, connectivity, _band_rows(binary, band_pixels))


def _banded_object_areas(binary: np.ndarray, connectivity: int, rows: int) -> np.ndarray:
    """Label row bands separately and join the labels that touch across each band border.

    Exact: two pixels of adjacent bands are connected when they are vertical neighbours (and, with
    8-connectivity, diagonal neighbours), which is all the border rows can tell; the joins are solved as
    connected components of a small label graph (scipy), so the areas equal those of one labelling pass.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    areas: list[np.ndarray] = []
    edges_a: list[np.ndarray] = []
    edges_b: list[np.ndarray] = []
    offset = 0
    previous_last: np.ndarray | None = None  # global labels of the previous band's last row (0: background)
    for top in range(0, binary.shape[0], rows):
        band = binary[top : top + rows]
        n, labels, cc_stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
            band, connectivity, cv2.CV_32S, _CCL_ALGORITHM
        )
        areas.append(cc_stats[1:, cv2.CC_STAT_AREA].astype(np.int64))
        first = np.where(labels[0] > 0, labels[0].astype(np.int64) + offset, 0)
        if previous_last is not None:
            shifts = (0,) if connectivity == 4 else (-1, 0, 1)
            for shift in shifts:
                up = previous_last[max(0, shift) : len(previous_last) + min(0, shift)]
                down = first[max(0, -shift) : len(first) + min(0, -shift)]
                both = (up > 0) & (down > 0)
                edges_a.append(up[both])
                edges_b.append(down[both])
        previous_last = np.where(labels[-1] > 0, labels[-1].astype(np.int64) + offset, 0)
        offset += n - 1
        del labels
    all_areas = np.concatenate(areas) if areas else np.zeros(0, np.int64)
    if not edges_a or not sum(e.size for e in edges_a):
        return all_areas
    a = np.concatenate(edges_a) - 1  # global labels start at 1
    b = np.concatenate(edges_b) - 1
    graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(offset, offset))
    _, component = connected_components(graph, directed=False)
    return np.bincount(component, weights=all_areas, minlength=component.max() + 1).astype(np.int64)


def _boundary_pixels(binary: np.ndarray, pixels: int, band_pixels: int = BAND_PIXELS) -> int:
    """Pixels of a 0/1 uint8 image with a 4-neighbour outside it (the image edge does not count).

    Large images are eroded in row bands with one row of overlap on each side, so the result is the same as
    one pass while the eroded copy stays small.
    """
    if binary.size <= band_pixels:
        interior = cv2.erode(binary, _BOUNDARY_KERNEL, borderType=cv2.BORDER_REPLICATE)
        return pixels - int(cv2.countNonZero(interior))
    rows = _band_rows(binary, band_pixels)
    height = binary.shape[0]
    inside = 0
    for top in range(0, height, rows):
        lo, hi = max(0, top - 1), min(height, top + rows + 1)
        eroded = cv2.erode(binary[lo:hi], _BOUNDARY_KERNEL, borderType=cv2.BORDER_REPLICATE)
        inside += int(cv2.countNonZero(eroded[top - lo : top - lo + min(rows, height - top)]))
    return pixels - inside
