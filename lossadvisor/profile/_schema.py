"""The dataset fingerprint: typed, frozen records saved as ``profile.json`` and read back identically.

The rules engine reads only these records, never the masks, the same split nnU-Net makes between its dataset
fingerprint and its planner. Field names are part of the public contract (the rules, the tuner and the report
read them), so renaming one is a breaking change; bump :data:`PROFILE_SCHEMA_VERSION` when the shape changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lossadvisor._records import (
    check_schema_version,
    from_jsonable,
    load_record,
    save_record,
    supported_version,
    to_jsonable,
)

# Object size buckets (area at native resolution; physical volume for 3-D): the run-folder contract owns them,
# their names are columns.
from lossadvisor.runfolder import SIZE_BUCKET_BOUNDS_MM3 as SIZE_BUCKET_BOUNDS_MM3
from lossadvisor.runfolder import SIZE_BUCKET_BOUNDS_PX as SIZE_BUCKET_BOUNDS_PX

# 2: ``dimensionality`` and the 3-D parts (``volume``, physical volumes). Version-1 files still load (2-D).
PROFILE_SCHEMA_VERSION = 2

# Equivalent diameters (px) under which an object is considered lost after resizing to the training size.
SCALE_DIAMETER_THRESHOLDS_PX: tuple[float, ...] = (2.0, 4.0)

# Percentiles stored in every :class:`Distribution`.
PERCENTILES: tuple[int, ...] = (5, 10, 25, 50, 75, 90, 95)


@dataclass(frozen=True)
class Distribution:
    """Summary of a sample of numbers (per-image fractions, object areas, ...).

    ``percentiles`` maps "p5", "p10", ... "p95" to values. ``cv`` is std / mean (0.0 when the mean is 0).
    Every field is 0.0 and ``count`` 0 for an empty sample.
    """

    count: int
    mean: float
    std: float
    cv: float
    min: float
    median: float
    max: float
    percentiles: dict[str, float]


@dataclass(frozen=True)
class ObjectStats:
    """Connected objects of one foreground class, over the whole dataset."""

    count: int  # objects in all images
    per_image: Distribution  # objects per image (images where the class is absent count as 0)
    area_px: Distribution  # object area in pixels
    area_share: Distribution  # object area / pixels of its image
    equivalent_diameter: Distribution  # sqrt(4 * area / pi), in pixels
    # bucket name -> number of objects: by area in px (SIZE_BUCKET_BOUNDS_PX), for volumes by physical volume
    # in mm³ (SIZE_BUCKET_BOUNDS_MM3)
    size_buckets: dict[str, int]
    area_log2_histogram: tuple[int, ...]  # objects with area in [2^k, 2^(k+1)) px, k = 0, 1, ...
    # Volumes: ``area_px`` counts voxels, ``area_share`` is a share of the volume's voxels,
    # ``equivalent_diameter`` is the sphere's, (6 V / pi)^(1/3) in voxels, and this is the volume in mm³.
    volume_mm3: Distribution | None = None
    # Volumes: each object's extent (voxels) along its volume's through-plane axis (VolumeStats.slice_axis).
    slices: Distribution | None = None


@dataclass(frozen=True)
class ClassStats:
    """Pixel and object statistics of one class."""

    index: int  # the class index used in training targets (0 = background)
    name: str
    pixel_count: int
    pixel_frequency: float  # pixel_count / all counted (non-ignored) pixels
    absent_share: float  # share of images where the class has no pixel
    is_background: bool
    objects: ObjectStats | None  # None for the background class
    boundary_pixels: int  # class pixels with a 4-neighbour of another class or ignored (image edge: not)
    boundary_share: float  # boundary_pixels / pixel_count (0.0 when the class is absent)
    # Volumes: the class's physical volume per label volume in mm³ (volumes without the class count 0).
    volume_mm3: Distribution | None = None


@dataclass(frozen=True)
class ScaleEffect:
    """What resizing every tile to ``train_size`` (longest side) does to the objects."""

    train_size: int
    scale_factor_median: float  # train_size / native longest side, median over images
    objects: int
    share_objects_below: dict[str, float]  # "2px" / "4px" -> share of objects whose diameter falls below it
    share_foreground_pixels_below: dict[str, float]  # same keys -> share of foreground pixels in such objects


@dataclass(frozen=True)
class VolumeStats:
    """What only a dataset of 3-D label volumes has: spacing, anisotropy, slices and patches.

    Axes are the arrays' ``(D, H, W)`` (:func:`lossadvisor.io.read_volume`). Training is assumed at native
    spacing (a patch voxel is a file voxel), which is what ``lossadvisor tune`` does on volumes.
    """

    depth: Distribution  # D (voxels) per volume; H and W are DatasetProfile.image_height / image_width
    spacing_mm: tuple[Distribution, Distribution, Distribution]  # voxel size per axis (D, H, W)
    median_spacing_mm: tuple[float, float, float]
    anisotropy: float  # largest / smallest median spacing; nnU-Net calls a ratio above 3 anisotropic
    anisotropy_per_volume: Distribution  # the same ratio per volume
    slice_axis: int  # the axis with the largest median spacing (0, i.e. D, on ties): the through-plane axis
    spacing_known: bool  # False when some files carry no spacing (.npy): 1 mm was assumed for them
    orientations: dict[str, int]  # axis codes of the array axes (e.g. "SAR") -> number of volumes
    voxel_volume_mm3: Distribution
    foreground_slice_share: Distribution  # per volume: slices along its through-plane axis holding foreground
    patch_size: tuple[int, int, int]  # the training patch (voxels, D x H x W) the patch measures refer to
    patch_source: str  # "given" (--patch-size) or "default" (median shape, see profile.default_patch_size)
    empty_patch_share: Distribution  # per volume: share of uniformly placed patches without foreground
    # share of objects whose volume is under SMALL_IN_PATCH_FRACTION of the patch's (tiny lesion, large patch)
    small_in_patch_share: float
    # "2vox" / "4vox" -> share of objects whose sphere-equivalent diameter spans fewer voxels than that along
    # their volume's coarsest axis (the through-plane one): objects the network sees only a few voxels of
    share_objects_below_voxels: dict[str, float]


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not profiled, and why (file, what was expected, what was found, what to do)."""

    path: str
    reason: str


@dataclass(frozen=True)
class DatasetProfile:
    """The fingerprint of a mask dataset. See ``docs/ARCHITECTURE.md`` for how each step uses it."""

    dataset_name: str
    source: str  # the folder, glob or list file that was profiled
    fingerprint: str  # sha256 over sorted (relative path, size in bytes); changes when the data change
    task: str  # "binary" or "multiclass"
    # "binary 0/255", "binary 0/1", "binary 0/65535", "boolean", "label values", "palette", "rgb class map",
    # "value class map", "empty" (all background), or "mixed: ..." when compatible encodings occur together
    mask_encoding: str
    num_classes: int  # including background
    classes: tuple[ClassStats, ...]
    ignore_index: int | None
    ignored_pixels: int
    connectivity: int  # 8 or 4 (2-D); 26, 18 or 6 (3-D)
    files_found: int
    files_read: int
    skipped: tuple[SkippedFile, ...]
    image_height: Distribution
    image_width: Distribution
    total_pixels: int  # counted (non-ignored) pixels
    imbalance_ratio: float  # majority / minority pixels over the classes that occur (never-occurring: warned)
    minority_class: str
    minority_share: float  # pixel frequency of the rarest class that occurs
    empty_mask_share: float  # share of images with no foreground pixel at all
    foreground_fraction: Distribution  # per image: foreground pixels / counted pixels
    boundary_share: float  # foreground boundary pixels / foreground pixels, all foreground classes
    scale_effects: tuple[ScaleEffect, ...]
    train_sizes: tuple[int, ...]
    schema_version: int = PROFILE_SCHEMA_VERSION
    created_with: str = ""  # lossadvisor version
    extra: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # dataset-level doubts, e.g. "value 255 beside class indices: ignore it?"
    # 2 for masks (images), 3 for label volumes; profiles written before volumes existed load as 2. For 3,
    # read "image" as "volume" and "pixel" as "voxel" in the fields above, and see ``volume``.
    dimensionality: int = 2
    volume: VolumeStats | None = None

    @property
    def foreground_classes(self) -> tuple[ClassStats, ...]:
        return tuple(c for c in self.classes if not c.is_background)

    def class_by_name(self, name: str) -> ClassStats:
        for c in self.classes:
            if c.name == name:
                return c
        valid = ", ".join(c.name for c in self.classes)
        raise KeyError(f"No class named {name!r} in this profile; classes are: {valid}.")

    def to_dict(self) -> dict:
        return to_jsonable(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> DatasetProfile:
        check_schema_version(data, supported=supported_version(cls), what="this profile")
        return from_jsonable(cls, data)

    def save(self, path: str | Path) -> Path:
        return save_record(self, path)

    @classmethod
    def load(cls, path: str | Path) -> DatasetProfile:
        """Read ``profile.json``; a clear error if it is missing or not a profile."""
        from lossadvisor.errors import DataError

        path = Path(path)
        if not path.is_file():
            raise DataError(f"Profile file {path} does not exist. Run `lossadvisor profile MASKS` first.")
        try:
            return load_record(cls, path)
        except DataError:  # a newer schema version: its own one-line message
            raise
        except (json.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
            raise DataError(
                f"{path} is not a lossadvisor profile ({exc}). Re-create it with `lossadvisor profile MASKS`."
            ) from exc
