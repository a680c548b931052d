"""Which slices of a validation volume the report shows: through the largest and the smallest lesion.

A reader of a 3-D run asks whether the loss kept the small lesions, so each sample volume is shown twice per
foreground class: on the slice through its largest lesion and on the slice through its smallest one, with the
label, the predictions and their errors overlaid (the report draws the overlays). Lesions are the 26-connected
regions of one class, as object recall counts them. A volume is cut across its through-plane axis (the axis
of largest spacing, D on ties, as the profile's ``slice_axis``), so the slice shows the in-plane resolution;
the lesion is shown on the slice holding most of its voxels (the first such slice on ties).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lossadvisor.tune.data import TrainData

SAMPLE_VOLUMES = 3  # validation volumes shown in samples.npz
MAX_SAMPLE_SLICES = 12  # slices in samples.npz: three volumes x two classes x (largest, smallest)
AXES = "DHW"


class SliceView(NamedTuple):
    """One sample slice: ``np.take(volumes[volume], index, axis)``, and what it shows."""

    volume: int  # index into the validation volumes
    axis: int  # 0, 1, 2: D, H, W
    index: int
    caption: str


class _Lesion(NamedTuple):
    cls: int
    rank: str  # "largest", "smallest" or "only"
    count: int  # lesions of this class in the volume
    voxels: int
    centre: tuple[int, int, int]  # the middle voxel of its bounding box, (D, H, W)
    index: int  # the slice along the axis holding most of its voxels


def through_plane_axis(spacing: tuple[float, ...] | None) -> int:
    """The axis a volume is cut across: the profile's ``slice_axis`` (largest spacing, D on ties), else D."""
    from lossadvisor.profile._volume import slice_axis

    return slice_axis(spacing) if spacing else 0


def lesion_slices(mask: np.ndarray, spacing: tuple[float, ...] | None = None) -> list[tuple[int, int, str]]:
    """``(axis, slice index, what it shows)`` through the largest and the smallest lesion of each class.

    A class with one lesion gives one slice; lesions of one volume that fall on the same slice share it (their
    descriptions joined by "; "); an empty volume gives its middle slice. The class is named when the volume
    holds a label above 1 (several classes); sizes are in voxels and, with ``spacing`` (mm), in mm³; the
    centre is the middle voxel of the lesion's bounding box, to find it on the slice.

    Example:
        >>> m = np.zeros((6, 8, 8), np.int16); m[1:4, 1:5, 1:5] = 1; m[5, 6, 6] = 1
        >>> for view in lesion_slices(m, (1.0, 1.0, 1.0)): print(view)
        (0, 1, 'largest of 2 lesions: 48 voxels, 48 mm³, centre (2, 2, 2)')
        (0, 5, 'smallest of 2 lesions: 1 voxel, 1 mm³, centre (5, 6, 6)')
    """
    axis = through_plane_axis(spacing)
    lesions = _extreme_lesions(mask, axis)
    if not lesions:
        return [(axis, mask.shape[axis] // 2, "no lesion, middle slice")]
    voxel_mm3 = float(np.prod(spacing)) if spacing else None
    named = int(mask.max()) > 1
    by_slice: dict[int, list[str]] = {}
    for lesion in lesions:
        by_slice.setdefault(lesion.index, []).append(_describe(lesion, voxel_mm3, named))
    return [(axis, k, "; ".join(parts)) for k, parts in by_slice.items()]


def _extreme_lesions(mask: np.ndarray, axis: int) -> list[_Lesion]:
    """The largest and the smallest lesion of each foreground class (the first in scan order on ties)."""
    from scipy import ndimage

    found = []
    for cls in np.unique(mask[mask > 0]).tolist():
        labels, n = ndimage.label(mask == cls, structure=np.ones((3, 3, 3), dtype=bool))
        sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        largest, smallest = int(np.argmax(sizes)), int(np.argmin(sizes))
        picks = [("only", largest)] if n == 1 else [("largest", largest), ("smallest", smallest)]
        boxes = ndimage.find_objects(labels)
        for rank, i in picks:
            box = boxes[i]
            inside = labels[box] == i + 1
            per_slice = inside.sum(axis=tuple(a for a in range(3) if a != axis))
            centre = tuple((s.start + s.stop - 1) // 2 for s in box)
            index = box[axis].start + int(np.argmax(per_slice))
            found.append(_Lesion(int(cls), rank, n, int(sizes[i]), centre, index))  # type: ignore[arg-type]
    return found


def _describe(lesion: _Lesion, voxel_mm3: float | None, named: bool) -> str:
    """``class 2, smallest of 3 lesions: 8 voxels, 26 mm³, centre (5, 10, 12)``."""
    which = "the only lesion" if lesion.rank == "only" else f"{lesion.rank} of {lesion.count} lesions"
    size = f"{lesion.voxels:,} voxel{'s' if lesion.voxels != 1 else ''}"
    if voxel_mm3 is not None:
        mm3 = lesion.voxels * voxel_mm3
        size += f", {mm3:,.0f} mm³" if mm3 >= 10 else f", {mm3:.2g} mm³"
    prefix = f"class {lesion.cls}, " if named else ""
    return f"{prefix}{which}: {size}, centre {lesion.centre}"


def sample_views(data: TrainData, indices: list[int]) -> list[SliceView]:
    """The slices shown of the first :data:`SAMPLE_VOLUMES` of ``indices``, :data:`MAX_SAMPLE_SLICES` at most.

    Captions read ``case · slice 17 of D · class 1, largest of 3 lesions: 1,234 voxels, 987 mm³, centre
    (17, 20, 14)``.
    """
    spacing = data.val_spacing or [None] * len(data.val_masks)
    views = []
    for i in indices[:SAMPLE_VOLUMES]:
        for axis, k, what in lesion_slices(data.val_masks[i], spacing[i]):
            views.append(SliceView(i, axis, k, f"{data.val_names[i]} · slice {k} of {AXES[axis]} · {what}"))
    return views[:MAX_SAMPLE_SLICES]


def stack_slices(volumes: dict[int, np.ndarray], views: list[SliceView]) -> np.ndarray:
    """The views' slices of ``volumes`` (volume index -> ``(D, H, W[, C])``), zero-padded to one shape."""
    slices = [np.take(volumes[v.volume], v.index, axis=v.axis) for v in views]
    height = max(s.shape[0] for s in slices)
    width = max(s.shape[1] for s in slices)
    return np.stack([_pad_to_2d(s, height, width) for s in slices])


def _pad_to_2d(array: np.ndarray, height: int, width: int) -> np.ndarray:
    pad = [(0, height - array.shape[0]), (0, width - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pad)
