"""Turn the per-image statistics into the :class:`DatasetProfile` record."""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass

from lossadvisor._text import safe_text
from lossadvisor._version import __version__
from lossadvisor.io import ClassMap, SourceScan, relative_name
from lossadvisor.profile._distribution import describe
from lossadvisor.profile._encoding import FAMILY_BINARY, reconcile
from lossadvisor.profile._image import ImageStats
from lossadvisor.profile._objects import object_stats, scale_effect
from lossadvisor.profile._schema import ClassStats, DatasetProfile, SkippedFile
from lossadvisor.profile._volume_stats import class_volumes_mm3, volume_stats

logger = logging.getLogger("lossadvisor.profile")

BACKGROUND_NAME = "background"
FOREGROUND_NAME = "foreground"


@dataclass(frozen=True)
class ProfileOptions:
    """The options a profile was made with (they are recorded in it)."""

    dataset_name: str
    class_map: ClassMap | None
    ignore_index: int | None
    connectivity: int
    train_sizes: tuple[int, ...]
    dimensionality: int = 2
    patch_size: tuple[int, int, int] | None = None  # volumes: the training patch the profile refers to
    patch_source: str = "default"  # "given" or "default"


def build_profile(
    scan: SourceScan,
    stats: list[ImageStats],
    options: ProfileOptions,
    *,
    data_fingerprint: str | None = None,
) -> DatasetProfile:
    """Aggregate ``stats`` (one per file of ``scan``, skipped ones included) into the dataset profile.

    ``data_fingerprint`` replaces the file-based fingerprint for data that are not files (in-memory arrays).

    Files whose encoding disagrees with the rest are marked skipped in ``stats`` first, so the per-image table
    built afterwards shows the same decision.
    """
    family, encoding, warnings = reconcile(
        stats, has_class_map=options.class_map is not None, ignore_index=options.ignore_index
    )
    read = [s for s in stats if s.skipped_reason is None]
    classes = class_names(read, options.class_map, family)
    total = sum(s.counted_pixels for s in read)
    pixel_counts = {i: sum(s.pixel_counts.get(i, 0) for s in read) for i in classes}
    foreground = [i for i in classes if i != 0]
    volumes = options.dimensionality == 3
    class_stats = tuple(
        _class_stats(i, name, pixel_counts[i], total, read, volumes=volumes) for i, name in classes.items()
    )
    # Imbalance is measured over the classes that occur: a class with no pixel at all (declared in a class
    # map, or index 0 of masks whose values start at 1) is reported as never occurring instead.
    present = [c for c in class_stats if c.pixel_count > 0]
    if len(present) < 2:  # nothing to segment (e.g. every mask empty): the ratio stays infinite
        present = list(class_stats)
    majority = max(present, key=lambda c: c.pixel_count)
    minority = min(present, key=lambda c: c.pixel_count)
    never = [c for c in class_stats if c.pixel_count == 0]
    if never and len(class_stats) - len(never) >= 2:
        names = ", ".join(f"'{safe_text(c.name)}' (index {c.index})" for c in never)
        starts = " (the mask values start above 0)" if any(c.index == 0 for c in never) else ""
        warnings.append(
            f"Class {names} never occurs in the masks{starts}; it is left out of the imbalance measure and "
            f"the class weights. Check --class-map if it should be there."
        )
    fg_pixels = sum(pixel_counts[i] for i in foreground)
    fg_boundary = sum(c.boundary_pixels for c in class_stats if not c.is_background)
    ignored = sum(s.ignored_pixels for s in read)
    if ignored and fg_pixels == 0:
        warnings.append(
            f"--ignore-index {options.ignore_index} removed every foreground pixel; for 0/255 "
            f"binary masks, drop --ignore-index."
        )
    unknown = sum(1 for s in read if not s.spacing_known) if volumes else 0
    if unknown:
        warnings.append(
            f"{unknown} of {len(read)} volumes carry no voxel spacing (.npy, or a NIfTI header without "
            "pixdims): 1 mm per axis was assumed, so their mm³ equal voxel counts. Save them as NIfTI with "
            "their spacing for physical sizes."
        )
    for message in warnings:
        logger.warning(message)
    return DatasetProfile(
        dataset_name=options.dataset_name,
        source=scan.source,
        fingerprint=data_fingerprint or fingerprint(scan),
        task="binary" if len(classes) == 2 else "multiclass",
        mask_encoding=encoding,
        num_classes=len(classes),
        classes=class_stats,
        ignore_index=options.ignore_index,
        ignored_pixels=ignored,
        connectivity=options.connectivity,
        files_found=len(stats) + len(scan.problems),
        files_read=len(read),
        skipped=_skipped(scan, stats),
        image_height=describe([s.height for s in read]),
        image_width=describe([s.width for s in read]),
        total_pixels=total,
        imbalance_ratio=(majority.pixel_count / minority.pixel_count) if minority.pixel_count else math.inf,
        minority_class=minority.name,
        minority_share=minority.pixel_frequency,
        empty_mask_share=_share(sum(1 for s in read if s.foreground_pixels == 0), len(read)),
        foreground_fraction=describe([_share(s.foreground_pixels, s.counted_pixels) for s in read]),
        boundary_share=_share(fg_boundary, fg_pixels),
        scale_effects=tuple(scale_effect(t, read, foreground) for t in options.train_sizes),
        train_sizes=options.train_sizes,
        created_with=__version__,
        extra=_extra(scan, read),
        warnings=tuple(warnings),
        dimensionality=options.dimensionality,
        volume=(
            volume_stats(read, foreground, options.patch_size or (1, 1, 1), options.patch_source)
            if volumes
            else None
        ),
    )


def class_names(read: list[ImageStats], class_map: ClassMap | None, family: str) -> dict[int, str]:
    """Class index -> name: the class map's, background/foreground for binary masks, else the values seen."""
    if class_map is not None:
        return dict(enumerate(class_map.names))
    if family == FAMILY_BINARY:
        return {0: BACKGROUND_NAME, 1: FOREGROUND_NAME}
    values = sorted({v for s in read for v in s.pixel_counts} | {0})
    return {v: BACKGROUND_NAME if v == 0 else f"class_{v}" for v in values}


def _class_stats(
    index: int, name: str, count: int, total: int, read: list[ImageStats], *, volumes: bool = False
) -> ClassStats:
    boundary = sum(s.boundary_pixels.get(index, 0) for s in read)
    return ClassStats(
        index=index,
        name=name,
        pixel_count=count,
        pixel_frequency=_share(count, total),
        absent_share=_share(sum(1 for s in read if s.pixel_counts.get(index, 0) == 0), len(read)),
        is_background=index == 0,
        objects=None if index == 0 else object_stats(index, read, volumes=volumes),
        boundary_pixels=boundary,
        boundary_share=_share(boundary, count),
        volume_mm3=describe(class_volumes_mm3(index, read)) if volumes else None,
    )


def _share(part: float, whole: float) -> float:
    return float(part) / float(whole) if whole else 0.0


def fingerprint(scan: SourceScan) -> str:
    """sha256 over the sorted (path relative to the source root, size in bytes) of every file found."""
    digest = hashlib.sha256()
    entries = []
    for path in [*scan.files, *(p for p, _ in scan.problems)]:
        try:
            size = os.stat(path).st_size
        except OSError:
            size = -1
        try:
            rel = os.fsencode(path.relative_to(scan.root))
        except ValueError:
            rel = os.fsencode(path)
        entries.append((rel, size))
    for rel, size in sorted(entries):
        digest.update(rel + b"\0" + str(size).encode() + b"\n")
    return digest.hexdigest()


def _skipped(scan: SourceScan, stats: list[ImageStats]) -> tuple[SkippedFile, ...]:
    found = [SkippedFile(relative_name(p, scan.root), r) for p, r in scan.problems]
    found += [
        SkippedFile(relative_name(s.path, scan.root), s.skipped_reason) for s in stats if s.skipped_reason
    ]
    return tuple(sorted(found, key=lambda f: f.path))


def _extra(scan: SourceScan, read: list[ImageStats]) -> dict[str, str]:
    formats = Counter(s.file_format for s in read)
    return {
        "source_kind": scan.kind,
        "file_formats": ", ".join(f"{fmt}: {n}" for fmt, n in sorted(formats.items())),
        "grey_saved_as_rgb": str(sum(1 for s in read if s.grey_from_rgb)),
    }
