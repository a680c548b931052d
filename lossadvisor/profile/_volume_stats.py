"""The 3-D part of the profile: spacing and anisotropy, foreground slices, patches, objects in physical units.

Read by the 3-D rules (``lossadvisor/rules/_volume.py``), which reason relative to the training patch: a
lesion is "tiny" for the loss when it fills a tiny share of what one training step sees, and a patch without
foreground teaches a Dice term nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from lossadvisor.profile._distribution import describe
from lossadvisor.profile._image import ImageStats
from lossadvisor.profile._objects import sphere_diameter
from lossadvisor.profile._schema import SCALE_DIAMETER_THRESHOLDS_PX, VolumeStats

# nnU-Net's ANISO_THRESHOLD: a dataset whose largest / smallest target spacing exceeds 3 is anisotropic
# (nnU-Net then picks its resampling and patch shape differently; Isensee et al. 2021).
ANISOTROPY_THRESHOLD = 3.0
# An object under 1/1000 of the patch volume: in a 64^3 patch (262 144 voxels) that is under 262 voxels, a
# sphere about 8 voxels across. Its voxels are then under 0.1 % of a patch's CE mean, so a pixel loss alone
# barely sees it (the "CE alone gives a Dice of 0" reports), while its Dice swings with a few voxels.
SMALL_IN_PATCH_FRACTION = 1e-3
# The default training patch, as ``lossadvisor tune`` chooses it on volumes: the median case shape per axis
# rounded down to a multiple of 16 (four halvings of the compact 3-D U-Net), kept within 32..64 voxels (64: a
# 2 x 64^3 step costs about 0.45 s on one CPU core; 32: the U-Net's bottleneck needs 2 voxels).
PATCH_MULTIPLE = 16
PATCH_MIN_SIDE = 32
PATCH_MAX_SIDE = 64


def default_patch_size(shapes: Sequence[Sequence[int]]) -> tuple[int, int, int]:
    """The training patch ``lossadvisor tune`` uses on volumes by default (see the constants above).

    Example:
        >>> default_patch_size([(35, 51, 35), (36, 50, 34), (37, 49, 36)])
        (32, 48, 32)
    """
    median = np.median(np.asarray(shapes, dtype=np.float64), axis=0)
    return tuple(  # type: ignore[return-value]
        int(min(PATCH_MAX_SIDE, max(PATCH_MIN_SIDE, int(m) // PATCH_MULTIPLE * PATCH_MULTIPLE)))
        for m in median
    )


def voxel_threshold_key(threshold: float) -> str:
    """ "2vox" for 2.0: the keys of :attr:`VolumeStats.share_objects_below_voxels`."""
    return f"{threshold:g}vox"


def _ratio(spacing: Sequence[float]) -> float:
    return float(max(spacing) / min(spacing)) if min(spacing) > 0 else float("inf")


def volume_stats(
    read: list[ImageStats], foreground: list[int], patch_size: tuple[int, int, int], patch_source: str
) -> VolumeStats:
    """Aggregate the volume fields of the read volumes (``foreground``: the foreground class indices)."""
    spacings = np.asarray([s.spacing or (1.0, 1.0, 1.0) for s in read], dtype=np.float64).reshape(-1, 3)
    median = tuple(float(v) for v in np.median(spacings, axis=0)) if len(read) else (1.0, 1.0, 1.0)
    axis = int(np.argmax(median))
    slice_share = [
        s.foreground_slices / (s.depth, s.height, s.width)[s.slice_axis] if s.depth else 0.0 for s in read
    ]
    patch_voxels = float(np.prod(patch_size))
    sizes, across = [], []
    for s in read:
        voxel_mm3 = float(np.prod(s.spacing or (1.0, 1.0, 1.0)))
        coarsest = max(s.spacing or (1.0, 1.0, 1.0))
        for index in foreground:
            voxels = s.object_areas.get(index)
            if voxels is None or not voxels.size:
                continue
            sizes.append(voxels)
            across.append(sphere_diameter(voxels * voxel_mm3) / coarsest)
    all_sizes = np.concatenate(sizes) if sizes else np.zeros(0)
    all_across = np.concatenate(across) if across else np.zeros(0)
    below = {
        voxel_threshold_key(t): float(np.mean(all_across < t)) if all_across.size else 0.0
        for t in SCALE_DIAMETER_THRESHOLDS_PX
    }
    small = float(np.mean(all_sizes < SMALL_IN_PATCH_FRACTION * patch_voxels)) if all_sizes.size else 0.0
    return VolumeStats(
        depth=describe([s.depth for s in read]),
        spacing_mm=tuple(describe(spacings[:, a]) for a in range(3)),  # type: ignore[arg-type]
        median_spacing_mm=median,  # type: ignore[arg-type]
        anisotropy=_ratio(median),
        anisotropy_per_volume=describe([_ratio(row) for row in spacings]),
        slice_axis=axis,
        spacing_known=all(s.spacing_known for s in read),
        orientations=dict(sorted(Counter(s.orientation or "unknown" for s in read).items())),
        voxel_volume_mm3=describe(np.prod(spacings, axis=1)),
        foreground_slice_share=describe(slice_share),
        patch_size=tuple(int(p) for p in patch_size),  # type: ignore[arg-type]
        patch_source=patch_source,
        empty_patch_share=describe([s.empty_patch_share for s in read]),
        small_in_patch_share=small,
        share_objects_below_voxels=below,
    )


def class_volumes_mm3(index: int, read: list[ImageStats]) -> list[float]:
    """The physical volume (mm³) of class ``index`` in each read volume (0 where it is absent)."""
    return [s.pixel_counts.get(index, 0) * float(np.prod(s.spacing or (1.0, 1.0, 1.0))) for s in read]
