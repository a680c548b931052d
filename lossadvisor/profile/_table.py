"""The per-image table (``per_image.csv``): one row per file, skipped files included with their reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lossadvisor.io import SourceScan, relative_name
from lossadvisor.profile._image import ImageStats
from lossadvisor.profile._schema import DatasetProfile


def per_image_frame(scan: SourceScan, stats: list[ImageStats], profile: DatasetProfile) -> pd.DataFrame:
    """Columns: ``file, height, width, pixels_<class>..., ignored_pixels, foreground_fraction,
    objects_<class>..., object_area_min, object_area_median, object_area_max, boundary_pixels, encoding,
    skipped_reason`` (integer columns are nullable: empty for skipped files).

    Volumes add ``depth, spacing_d, spacing_h, spacing_w`` (mm), ``foreground_slices`` and
    ``empty_patch_share`` after ``boundary_pixels``; their "pixels" and "areas" are voxels."""
    volumes = profile.dimensionality == 3
    classes = [(c.index, c.name) for c in profile.classes]
    foreground = [(i, n) for i, n in classes if i != 0]
    rows = []
    for s in stats:
        row: dict[str, object] = {"file": relative_name(s.path, scan.root)}
        ok = s.skipped_reason is None
        row["height"] = s.height if ok else None
        row["width"] = s.width if ok else None
        for i, name in classes:
            row[f"pixels_{name}"] = s.pixel_counts.get(i, 0) if ok else None
        row["ignored_pixels"] = s.ignored_pixels if ok else None
        row["foreground_fraction"] = (
            (s.foreground_pixels / s.counted_pixels if s.counted_pixels else 0.0) if ok else None
        )
        areas = np.concatenate(
            [s.object_areas.get(i, np.zeros(0, np.int64)) for i, _ in foreground] or [np.zeros(0)]
        )
        for i, name in foreground:
            row[f"objects_{name}"] = int(s.object_areas.get(i, np.zeros(0)).size) if ok else None
        row["object_area_min"] = int(areas.min()) if ok and areas.size else None
        row["object_area_median"] = float(np.median(areas)) if ok and areas.size else None
        row["object_area_max"] = int(areas.max()) if ok and areas.size else None
        row["boundary_pixels"] = sum(s.boundary_pixels.get(i, 0) for i, _ in foreground) if ok else None
        if volumes:
            row["depth"] = s.depth if ok else None
            for axis, value in zip("dhw", s.spacing or (None, None, None), strict=True):
                row[f"spacing_{axis}"] = value if ok else None
            row["foreground_slices"] = s.foreground_slices if ok else None
            row["empty_patch_share"] = s.empty_patch_share if ok else None
        row["encoding"] = s.encoding if ok else ""
        row["skipped_reason"] = s.skipped_reason or ""
        rows.append(row)
    for path, reason in scan.problems:
        rows.append({"file": relative_name(path, scan.root), "encoding": "", "skipped_reason": reason})
    frame = pd.DataFrame(rows)
    integer_columns = [c for c in frame.columns if c.startswith(("pixels_", "objects_"))]
    integer_columns += [
        "height",
        "width",
        "ignored_pixels",
        "object_area_min",
        "object_area_max",
        "boundary_pixels",
    ]
    if volumes:
        integer_columns += ["depth", "foreground_slices"]
    for column in integer_columns:
        frame[column] = frame[column].astype("Int64")
    return frame
