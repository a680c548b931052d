"""Connected-object statistics of one class, and what resizing to a training size does to the objects.

Objects matter for the loss choice because region losses (Dice and its family) weigh every object by its
size: a handful of wrong pixels on a tiny object moves per-object Dice by tens of percent (Milletari et al.
2016; Kervadec et al. 2019). Resizing tiles for training shrinks objects further: an object whose equivalent
diameter falls under a few pixels at the training size is barely learnable, whatever the loss.
"""

from __future__ import annotations

import math

import numpy as np

from lossadvisor.profile._distribution import describe
from lossadvisor.profile._image import ImageStats
from lossadvisor.profile._schema import (
    SCALE_DIAMETER_THRESHOLDS_PX,
    SIZE_BUCKET_BOUNDS_MM3,
    SIZE_BUCKET_BOUNDS_PX,
    ObjectStats,
    ScaleEffect,
)


def equivalent_diameter(areas: np.ndarray) -> np.ndarray:
    """Diameter of the disc with the same area: sqrt(4 * area / pi)."""
    return np.sqrt(4.0 * np.asarray(areas, dtype=np.float64) / math.pi)


def sphere_diameter(volumes: np.ndarray) -> np.ndarray:
    """Diameter of the sphere with the same volume: (6 V / pi)^(1/3), in the unit of V's cube root."""
    return np.cbrt(6.0 * np.asarray(volumes, dtype=np.float64) / math.pi)


def size_buckets(areas: np.ndarray, bounds=SIZE_BUCKET_BOUNDS_PX) -> dict[str, int]:
    """Number of objects per bucket of ``bounds`` (low <= size < high): areas in px by default, or
    physical volumes in mm³ with :data:`SIZE_BUCKET_BOUNDS_MM3`."""
    return {name: int(np.count_nonzero((areas >= low) & (areas < high))) for name, low, high in bounds}


def log2_histogram(areas: np.ndarray) -> tuple[int, ...]:
    """Objects with area in [2^k, 2^(k+1)) px for k = 0 .. floor(log2(largest area))."""
    if areas.size == 0:
        return ()
    bins = np.floor(np.log2(areas.astype(np.float64))).astype(np.int64)
    return tuple(int(v) for v in np.bincount(bins))


def object_stats(index: int, images: list[ImageStats], *, volumes: bool = False) -> ObjectStats:
    """Objects of class ``index`` over every read image (images without the class count 0 objects).

    With ``volumes`` the images are label volumes: sizes are voxels, diameters those of spheres, buckets by
    physical volume (mm³, each volume's own spacing), and each object's extent in slices is kept.
    """
    empty = np.zeros(0, dtype=np.int64)
    per_image_areas = [s.object_areas.get(index, empty) for s in images]
    areas = np.concatenate(per_image_areas) if per_image_areas else empty
    shares = (
        np.concatenate([a / float(s.size) for a, s in zip(per_image_areas, images, strict=True)])
        if per_image_areas
        else np.zeros(0)
    )
    if volumes:
        mm3 = physical_volumes(index, images)
        return ObjectStats(
            count=int(areas.size),
            per_image=describe([a.size for a in per_image_areas]),
            area_px=describe(areas),
            area_share=describe(shares),
            equivalent_diameter=describe(sphere_diameter(areas)),
            size_buckets=size_buckets(mm3, SIZE_BUCKET_BOUNDS_MM3),
            area_log2_histogram=log2_histogram(areas),
            volume_mm3=describe(mm3),
            slices=describe(slice_extents(index, images)),
        )
    return ObjectStats(
        count=int(areas.size),
        per_image=describe([a.size for a in per_image_areas]),
        area_px=describe(areas),
        area_share=describe(shares),
        equivalent_diameter=describe(equivalent_diameter(areas)),
        size_buckets=size_buckets(areas),
        area_log2_histogram=log2_histogram(areas),
    )


def physical_volumes(index: int, images: list[ImageStats]) -> np.ndarray:
    """Object volumes (mm³) of class ``index``, each from its own volume's voxel size."""
    parts = [
        s.object_areas[index] * float(np.prod(s.spacing or (1.0, 1.0, 1.0)))
        for s in images
        if index in s.object_areas
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def slice_extents(index: int, images: list[ImageStats]) -> np.ndarray:
    """Each object's extent (voxels) along its volume's through-plane axis."""
    parts = [s.object_extents[index] for s in images if index in s.object_extents]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def threshold_key(threshold: float) -> str:
    """ "2px" for 2.0: the key used in :class:`ScaleEffect`."""
    return f"{threshold:g}px"


def scale_effect(train_size: int, images: list[ImageStats], foreground: list[int]) -> ScaleEffect:
    """What resizing every image so that its longest side is ``train_size`` does to the foreground objects.

    An object of native area A in an image scaled by s = train_size / max(H, W) has the equivalent diameter
    s * sqrt(4A / pi) afterwards. Reported per threshold of :data:`SCALE_DIAMETER_THRESHOLDS_PX`: the share of
    objects that fall below it, and the share of foreground pixels (native) that those objects hold.
    """
    diameters, areas, factors = [], [], []
    for s in images:
        factor = train_size / max(s.height, s.width)
        factors.append(factor)
        for index in foreground:
            a = s.object_areas.get(index)
            if a is not None and a.size:
                areas.append(a)
                diameters.append(equivalent_diameter(a) * factor)
    all_areas = np.concatenate(areas) if areas else np.zeros(0, dtype=np.int64)
    all_diam = np.concatenate(diameters) if diameters else np.zeros(0)
    total_area = float(all_areas.sum())
    below, pixels_below = {}, {}
    for t in SCALE_DIAMETER_THRESHOLDS_PX:
        small = all_diam < t
        below[threshold_key(t)] = float(small.mean()) if all_diam.size else 0.0
        pixels_below[threshold_key(t)] = float(all_areas[small].sum() / total_area) if total_area else 0.0
    return ScaleEffect(
        train_size=int(train_size),
        scale_factor_median=float(np.median(factors)) if factors else 0.0,
        objects=int(all_areas.size),
        share_objects_below=below,
        share_foreground_pixels_below=pixels_below,
    )
