"""``profile_masks``: measure a mask dataset and return (and save) its :class:`DatasetProfile`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from lossadvisor import runfolder
from lossadvisor._atomic import write_frame
from lossadvisor.errors import ConfigError, NoUsableDataError
from lossadvisor.io import (
    DEFAULT_MAX_PIXELS,
    ClassMap,
    check_max_pixels,
    display_path,
    resolve_class_map,
    scan_source,
)
from lossadvisor.io._read import check_ignore_index
from lossadvisor.profile._aggregate import ProfileOptions, build_profile
from lossadvisor.profile._colours import check_colour_coding
from lossadvisor.profile._image import MeasureSettings
from lossadvisor.profile._parallel import available_cores, measure_all
from lossadvisor.profile._paths import dataset_name_for
from lossadvisor.profile._schema import DatasetProfile
from lossadvisor.profile._table import per_image_frame

PROFILE_FILE = runfolder.PROFILE_JSON
PER_IMAGE_FILE = runfolder.PER_IMAGE_CSV
CONNECTIVITIES = (4, 8)
# Skipped-file reasons quoted in the "nothing usable" error (the full list is in the per-file outputs).
_REASONS_IN_ERROR = 1


def profile_masks(
    source: str | os.PathLike[str],
    *,
    class_map: ClassMap | str | os.PathLike[str] | None = None,
    ignore_index: int | None = None,
    connectivity: int = 8,
    train_sizes: Iterable[int] = (),
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
    dataset_name: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> DatasetProfile:
    """Profile the masks of ``source``: class frequencies, imbalance, empty masks, objects, scale effect.

    Masks are streamed one at a time per worker, so memory stays bounded whatever the dataset size. Bad files
    (corrupt, empty, a photo, unexpected values) are listed in ``profile.skipped`` with their reason; the run
    goes on without them.

    Args:
        source: a folder of masks (recursive), a glob pattern, a text file listing mask paths, or one file.
        class_map: a :class:`~lossadvisor.io.ClassMap` or the path of a JSON/CSV class map (required for
            colour-coded masks; names and orders the classes).
        ignore_index: a pixel value excluded from every statistic (e.g. 255 for boundary pixels).
        connectivity: 8 (default; diagonal pixels join an object) or 4.
        train_sizes: training sizes (longest side, px) for the scale effect, e.g. ``(128, 256, 512)``.
        workers: processes to use; default all available cores.
        out: folder to write ``profile.json`` and ``per_image.csv`` into (created if needed).
        progress: show a progress bar.
        dataset_name: the name recorded in the profile; default from the source folder.
        max_pixels: the largest mask read (height x width; default 1e9); larger files are skipped with a
            message naming ``--max-pixels``. None: no limit.

    Returns:
        The :class:`DatasetProfile`.

    Raises:
        ConfigError: an argument is invalid (the message names it).
        NoUsableDataError: nothing was found, or every file was skipped.

    Example:
        >>> profile = profile_masks("examples/buildings/masks", train_sizes=(128,), progress=False)
        >>> profile.task, profile.files_read
        ('binary', 31)
    """
    return profile_masks_detailed(
        source,
        class_map=class_map,
        ignore_index=ignore_index,
        connectivity=connectivity,
        train_sizes=train_sizes,
        workers=workers,
        out=out,
        progress=progress,
        dataset_name=dataset_name,
        max_pixels=max_pixels,
    )[0]


def profile_masks_detailed(
    source: str | os.PathLike[str],
    *,
    class_map: ClassMap | str | os.PathLike[str] | None = None,
    ignore_index: int | None = None,
    connectivity: int = 8,
    train_sizes: Iterable[int] = (),
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
    dataset_name: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> tuple[DatasetProfile, pd.DataFrame]:
    """:func:`profile_masks`, also returning the per-image table (the content of ``per_image.csv``)."""
    cmap = resolve_class_map(class_map)
    check_ignore_index(ignore_index, cmap)
    check_max_pixels(max_pixels)
    if connectivity not in CONNECTIVITIES:
        raise ConfigError(f"connectivity must be 4 or 8; got {connectivity!r}.")
    sizes = _check_train_sizes(train_sizes)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a positive integer or None (all cores); got {workers!r}.")
    scan = scan_source(source)
    settings = MeasureSettings(
        class_map=cmap, ignore_index=ignore_index, connectivity=connectivity, max_pixels=max_pixels
    )
    stats = measure_all(list(scan.files), settings, workers=workers or available_cores(), progress=progress)
    check_colour_coding(stats, scan.root, has_class_map=cmap is not None)
    options = ProfileOptions(
        dataset_name=dataset_name or dataset_name_for(source),
        class_map=cmap,
        ignore_index=ignore_index,
        connectivity=connectivity,
        train_sizes=sizes,
    )
    profile = build_profile(scan, stats, options)
    if profile.files_read == 0:
        reasons = "; ".join(f"{f.path}: {f.reason}" for f in profile.skipped[:_REASONS_IN_ERROR])
        more = (
            f" (and {len(profile.skipped) - _REASONS_IN_ERROR} more files)"
            if len(profile.skipped) > _REASONS_IN_ERROR
            else ""
        )
        raise NoUsableDataError(
            f"No usable mask in {display_path(os.fspath(source))}: all {profile.files_found} files were "
            f"skipped. {reasons}{more}"
        )
    frame = per_image_frame(scan, stats, profile)
    if out is not None:
        write_outputs(profile, frame, out)
    return profile, frame


def write_outputs(
    profile: DatasetProfile, frame: pd.DataFrame, out: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """Write ``profile.json`` and ``per_image.csv`` into ``out``; return their paths."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"out must be a folder; {folder} is a file. Choose another --out.")
    folder.mkdir(parents=True, exist_ok=True)
    profile_path = profile.save(folder / PROFILE_FILE)
    csv_path = write_frame(folder / PER_IMAGE_FILE, frame)
    return profile_path, csv_path


def _check_train_sizes(train_sizes: Iterable[int]) -> tuple[int, ...]:
    sizes = tuple(train_sizes)
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"train_sizes must be positive integers (pixels, e.g. 256); got {size!r}.")
    return tuple(sorted(set(sizes)))
