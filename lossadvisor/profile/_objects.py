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
    SIZE_BUCKET_BOUNDS_PX,
    ObjectStats,
    ScaleEffect,
)


def equivalent_diameter(areas: np.ndarray) -> np.ndarray:
    """Diameter of the disc with the same area: sqrt(4 * area / pi)."""
    return np.sqrt(4.0 * np.asarray(areas, dtype=np.float64) / math.pi)


def size_buckets(areas: np.ndarray) -> dict[str, int]:
    """Number of objects per bucket of :data:`SIZE_BUCKET_BOUNDS_PX` (low <= area < high)."""
    return {
        name: int(np.count_nonzero((areas >= low) & (areas < high)))
        for name, low, high in SIZE_BUCKET_BOUNDS_PX
    }


def log2_histogram(areas: np.ndarray) -> tuple[int, ...]:
    """Objects with area in [2^k, 2^(k+1)) px for k = 0 .. floor(log2(largest area))."""
    if areas.size == 0:
        return ()
    bins = np.floor(np.log2(areas.astype(np.float64))).astype(np.int64)
    return tuple(int(v) for v in np.bincount(bins))


def object_stats(index: int, images: list[ImageStats]) -> ObjectStats:
    """Objects of class ``index`` over every read image (images without the class count 0 objects)."""
    empty = np.zeros(0, dtype=np.int64)
    per_image_areas = [s.object_areas.get(index, empty) for s in images]
    areas = np.concatenate(per_image_areas) if per_image_areas else empty
    shares = (
        np.concatenate([a / float(s.height * s.width) for a, s in zip(per_image_areas, images, strict=True)])
        if per_image_areas
        else np.zeros(0)
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
