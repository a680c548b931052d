"""Statistics of one 3-D label volume: voxels per class, 3-D connected objects, surface voxels, empty patches.

The counterpart of ``_image.py`` for volumes, filling the same :class:`ImageStats` (plus its volume fields) so
that the dataset aggregation is shared. Objects are labelled with cc3d (``connected-components-3d``: 6, 18
or 26-connectivity; ``benchmarks/bench_profile3d.py`` compares it with ``scipy.ndimage.label``).

Memory: a worker holds the decoded label volume and works on slabs of at most an eighth of it (and at most
:data:`SLAB_VOXELS`) along the first axis: a 0/1 slab, its cc3d label image and the surface flags. Objects
that cross a slab border are joined exactly through a small label graph, as the 2-D profiler joins row bands,
so the counts equal those of one pass over the whole volume.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lossadvisor.io import MaskFileError, display_path, read_volume
from lossadvisor.profile._image import ImageStats, MeasureSettings

# Neighbourhoods cc3d accepts for volumes: faces (6), + edges (18), + corners (26).
CONNECTIVITIES_3D = (6, 18, 26)
# Largest slab (voxels) labelled at once; a slab is also at most 1/MIN_SLABS of the volume. Volumes up to
# SINGLE_PASS_VOXELS (1 MiB of uint8 labels) are done in one pass: their slabs would save no memory worth the
# per-slab overhead (most of the time on the 35 x 50 x 35 hippocampus volumes).
SLAB_VOXELS = 8 * 2**20
MIN_SLABS = 8
SINGLE_PASS_VOXELS = 2**20


def measure_volume(path: Path, settings: MeasureSettings) -> ImageStats:
    """Read one label volume and measure it; a bad file gives an :class:`ImageStats` with
    ``skipped_reason``."""
    name = display_path(path)
    try:
        volume = read_volume(path, ignore_index=settings.ignore_index, max_voxels=settings.max_pixels)
    except MaskFileError as exc:
        return ImageStats(path, name, skipped_reason=exc.reason)
    labels = volume.labels
    depth, height, width = labels.shape
    stats = ImageStats(
        path,
        name,
        height=height,
        width=width,
        depth=depth,
        encoding=volume.encoding,
        file_format=volume.file_format,
        pixel_counts=volume.voxel_counts,
        ignored_pixels=volume.ignored_voxels,
        spacing=tuple(float(s) for s in volume.spacing),  # type: ignore[arg-type]
        spacing_known=volume.spacing_known,
        orientation=volume.orientation,
        slice_axis=slice_axis(volume.spacing),
    )
    ignore = volume.ignore_index if volume.ignored_voxels else None
    stats.boundary_pixels = surface_voxels(labels, ignore)
    foreground = [i for i, n in sorted(volume.voxel_counts.items()) if i != 0 and n > 0]
    for index in foreground:
        sizes, extents = object_sizes(labels, index, settings.connectivity, axis=stats.slice_axis)
        stats.object_areas[index] = sizes
        stats.object_extents[index] = extents
    # Without ignored voxels the labels are their own foreground indicator (non-zero = foreground), so no 0/1
    # copy of the volume is made for the two measures below.
    fg = labels if ignore is None else _foreground(labels, ignore)
    stats.foreground_slices = foreground_slices(fg, stats.slice_axis)
    patch = native_patch(settings.patch_size, volume.spacing) if settings.patch_size else None
    stats.empty_patch_share = empty_patch_share(fg, patch) if patch else 0.0
    return stats


def slice_axis(spacing) -> int:
    """The through-plane axis: the one with the largest spacing (the first axis, D, on ties)."""
    return int(np.argmax(np.asarray(spacing, dtype=np.float64)))


def native_patch(patch_size, spacing) -> tuple[int, int, int]:
    """The training patch in this volume's voxels. Training is at native spacing, so the patch is unchanged.

    Kept as a function so that the one place that would rescale it (training at another spacing) is named.
    """
    del spacing  # native-spacing training: a patch voxel is a file voxel
    return tuple(int(p) for p in patch_size)  # type: ignore[return-value]


def _slab_rows(shape: tuple[int, ...]) -> int:
    plane = max(1, int(np.prod(shape[1:])))
    total = plane * shape[0]
    if total <= min(SINGLE_PASS_VOXELS, SLAB_VOXELS):
        return max(1, shape[0])
    budget = min(SLAB_VOXELS, max(plane, math.ceil(total / MIN_SLABS)))
    return max(1, budget // plane)


def _foreground(labels: np.ndarray, ignore: int | None) -> np.ndarray:
    fg = labels != 0
    if ignore is not None:
        fg &= labels != ignore
    return fg


def surface_voxels(labels: np.ndarray, ignore: int | None = None) -> dict[int, int]:
    """Voxels per class with a face neighbour (6-neighbourhood) of another value; the volume's edge is not a
    surface. The 3-D form of the 2-D boundary pixels (a 4-neighbour of another class)."""
    depth = labels.shape[0]
    rows = _slab_rows(labels.shape)
    counts: dict[int, int] = {}
    for top in range(0, depth, rows):
        lo, hi = max(0, top - 1), min(depth, top + rows + 1)
        block = labels[lo:hi]
        edge = np.zeros(block.shape, dtype=bool)
        for axis in range(3):
            head = [slice(None)] * 3
            tail = [slice(None)] * 3
            head[axis], tail[axis] = slice(1, None), slice(None, -1)
            differ = block[tuple(head)] != block[tuple(tail)]
            edge[tuple(head)] |= differ
            edge[tuple(tail)] |= differ
        inner = slice(top - lo, top - lo + min(rows, depth - top))
        values = block[inner][edge[inner]]
        for value, n in _bincount(values).items():
            counts[value] = counts.get(value, 0) + n
    if ignore is not None:
        counts.pop(ignore, None)
    return counts


def _bincount(values: np.ndarray) -> dict[int, int]:
    if values.size == 0:
        return {}
    if values.dtype.itemsize <= 2:
        total = np.zeros(int(values.max()) + 1, dtype=np.int64)
        step = 2**20  # np.bincount converts its input to intp (8 bytes a value): count in chunks
        for start in range(0, values.size, step):
            part = np.bincount(values[start : start + step], minlength=total.size)
            total += part
        return {int(v): int(total[v]) for v in np.flatnonzero(total)}
    unique, n = np.unique(values, return_counts=True)
    return {int(v): int(c) for v, c in zip(unique, n, strict=True)}


def _neighbour_shifts(connectivity: int) -> list[tuple[int, int]]:
    """In-plane offsets (dy, dx) that connect a voxel to the next slice under ``connectivity``."""
    if connectivity == 6:
        return [(0, 0)]
    if connectivity == 18:
        return [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)]
    return [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def object_sizes(
    labels: np.ndarray, index: int, connectivity: int, *, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Voxel counts and extents along ``axis`` (voxels, e.g. slices) of the objects of class ``index``.

    Labels slabs along the first axis with cc3d and joins the parts that touch across each slab border
    (under ``connectivity``) through a label graph, so the result equals one labelling pass.

    Returns:
        ``(sizes, extents)``: ``(n,)`` int64 voxel counts and ``(n,)`` int64 extents, in the same order.
    """
    import cc3d  # imported here: only volumes pay for it

    depth = labels.shape[0]
    rows = _slab_rows(labels.shape)
    sizes: list[np.ndarray] = []
    boxes: list[np.ndarray] = []
    edges_a: list[np.ndarray] = []
    edges_b: list[np.ndarray] = []
    offset = 0
    previous_last: np.ndarray | None = None
    scratch: np.ndarray | None = None
    for top in range(0, depth, rows):
        slab = labels[top : top + rows]
        if scratch is None or scratch.shape != slab.shape:
            scratch = np.empty(slab.shape, dtype=bool)
        binary = np.equal(slab, index, out=scratch)
        cc, n = cc3d.connected_components(binary, connectivity=connectivity, return_N=True)
        if n:
            sizes.append(_counts(cc, n))
            box = _span(cc, n, axis)
            if axis == 0:
                box += top  # (first, last) along the axis, inclusive, in volume coordinates
            boxes.append(box)
        first = np.where(cc[0] > 0, cc[0].astype(np.int64) + offset, 0)
        if previous_last is not None:
            for dy, dx in _neighbour_shifts(connectivity):
                up = _shifted(previous_last, dy, dx)
                down = _shifted(first, -dy, -dx)
                both = (up > 0) & (down > 0)
                edges_a.append(up[both])
                edges_b.append(down[both])
        previous_last = np.where(cc[-1] > 0, cc[-1].astype(np.int64) + offset, 0)
        offset += n
        del cc
    all_sizes = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    all_boxes = np.concatenate(boxes) if boxes else np.zeros((0, 2), np.int64)
    if edges_a and sum(e.size for e in edges_a):
        all_sizes, all_boxes = _join(all_sizes, all_boxes, edges_a, edges_b, offset)
    return all_sizes, all_boxes[:, 1] - all_boxes[:, 0] + 1


def _counts(cc: np.ndarray, n: int) -> np.ndarray:
    """Voxels of components 1..n, counted in chunks (np.bincount widens its input to 8 bytes a value).

    With :func:`_span`, much faster than ``cc3d.statistics`` (bounding boxes and centroids: 4.3 ms on a
    35 x 51 x 35 hippocampus label, against 0.7 ms for a cc3d pass) or ``scipy.ndimage.find_objects``.
    """
    total = np.zeros(n + 1, dtype=np.int64)
    flat = cc.reshape(-1)
    step = 2**20
    for start in range(0, flat.size, step):
        total += np.bincount(flat[start : start + step], minlength=n + 1)
    return total[1:]


def _span(cc: np.ndarray, n: int, axis: int) -> np.ndarray:
    """``(n, 2)``: the first and last index along ``axis`` holding each of components 1..n.

    Small volumes: from the coordinates of their labelled voxels at once (8 bytes per such voxel). Larger
    ones: one bincount per slice, so the extra memory stays a slice.
    """
    if cc.size <= SINGLE_PASS_VOXELS:
        flat = cc.reshape(-1)
        where = np.flatnonzero(flat)
        position = np.unravel_index(where, cc.shape)[axis]
        label = flat[where].astype(np.int64)
        first = np.full(n + 1, np.iinfo(np.int64).max, dtype=np.int64)
        last = np.full(n + 1, -1, dtype=np.int64)
        np.minimum.at(first, label, position)
        np.maximum.at(last, label, position)
        return np.stack([first[1:], last[1:]], axis=1)
    present = np.zeros((cc.shape[axis], n + 1), dtype=bool)
    for i in range(cc.shape[axis]):
        plane = np.take(cc, i, axis=axis)
        present[i] = np.bincount(plane.reshape(-1), minlength=n + 1) > 0
    present = present[:, 1:]
    first = np.argmax(present, axis=0)
    last = present.shape[0] - 1 - np.argmax(present[::-1], axis=0)
    return np.stack([first, last], axis=1).astype(np.int64)


def _shifted(plane: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``plane`` cropped so that element [y, x] of the result is plane[y + dy, x + dx] where both exist."""
    h, w = plane.shape
    return plane[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)]


def _join(sizes, boxes, edges_a, edges_b, count: int):
    """Merge slab parts connected across borders: sizes add up, spans take the outer bounds."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a = np.concatenate(edges_a) - 1
    b = np.concatenate(edges_b) - 1
    graph = coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(count, count))
    groups, component = connected_components(graph, directed=False)
    merged_sizes = np.bincount(component, weights=sizes, minlength=groups).astype(np.int64)
    merged = np.empty((groups, 2), dtype=np.int64)
    merged[:, 0] = np.iinfo(np.int64).max
    merged[:, 1] = -1
    np.minimum.at(merged[:, 0], component, boxes[:, 0])
    np.maximum.at(merged[:, 1], component, boxes[:, 1])
    return merged_sizes, merged


def foreground_slices(fg: np.ndarray, axis: int) -> int:
    """Slices along ``axis`` that hold at least one foreground (non-zero) voxel."""
    other = tuple(a for a in range(3) if a != axis)
    return int(np.count_nonzero(fg.max(axis=other)))


# Along an axis with at most this many patch positions, windows are reduced one by one instead of by a
# sliding-maximum filter over the whole axis (the hippocampus: 35 voxels, patch 32, 4 positions).
_FEW_POSITIONS = 8


def _take(array: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    index = [slice(None)] * array.ndim
    index[axis] = slice(start, stop)
    return array[tuple(index)]


def empty_patch_share(fg: np.ndarray, patch: tuple[int, int, int]) -> float:
    """Share of the patch positions inside the volume whose patch holds no foreground voxel.

    ``fg`` is a 0/1 (bool) volume, or the labels themselves when no voxel is ignored (non-zero = foreground).

    A patch larger than the volume along an axis is clipped to it (nnU-Net pads such volumes; the patch then
    sees the whole axis). Positions are those of uniform random sampling (nnU-Net's non-oversampled patches):
    every corner with the patch inside the volume, equally likely. Computed exactly with a separable sliding
    maximum (a patch is empty iff the maximum of the foreground over it is 0), over slabs of positions along
    the first axis so that the filtered copies stay a fraction of the volume.
    """
    window = fg.view(np.uint8) if fg.dtype == np.bool_ else fg
    sides = [min(int(p), n) for p, n in zip(patch, window.shape, strict=True)]
    positions = window.shape[0] - sides[0] + 1
    step = max(1, _slab_rows(window.shape) - sides[0] + 1)
    empty = total = 0
    for first in range(0, positions, step):
        last = min(positions, first + step)  # positions [first, last) need rows [first, last + p - 1)
        e, t = _empty_positions(window[first : last + sides[0] - 1], sides)
        empty += e
        total += t
    return empty / total if total else 0.0


def _empty_positions(window: np.ndarray, sides: list[int]) -> tuple[int, int]:
    """(empty patch positions, all positions) of ``window`` for a patch of ``sides`` (each within it)."""
    from scipy.ndimage import maximum_filter1d

    for axis, p in enumerate(sides):
        positions = window.shape[axis] - p + 1
        if p > 1 and positions <= _FEW_POSITIONS:  # a patch nearly the volume's size: max over each window
            window = np.stack(
                [_take(window, axis, i, i + p).max(axis=axis) for i in range(positions)], axis=axis
            )
            continue
        if p > 1:
            window = maximum_filter1d(window, size=p, axis=axis, origin=-(p // 2), mode="constant")
        window = _take(window, axis, 0, positions)
    return int(window.size - np.count_nonzero(window)), int(window.size)
