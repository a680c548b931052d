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
from lossadvisor.profile._volume import CONNECTIVITIES_3D
from lossadvisor.profile._volume_stats import default_patch_size

PROFILE_FILE = runfolder.PROFILE_JSON
PER_IMAGE_FILE = runfolder.PER_IMAGE_CSV
CONNECTIVITIES = (4, 8)
# The default neighbourhood: 8 for masks, 26 for volumes (cc3d's and nnU-Net's habit: corners join).
DEFAULT_CONNECTIVITY = {2: 8, 3: 26}
# Skipped-file reasons quoted in the "nothing usable" error (the full list is in the per-file outputs).
_REASONS_IN_ERROR = 1


def profile_masks(
    source: str | os.PathLike[str],
    *,
    class_map: ClassMap | str | os.PathLike[str] | None = None,
    ignore_index: int | None = None,
    connectivity: int | None = None,
    train_sizes: Iterable[int] = (),
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
    dataset_name: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    patch_size: Iterable[int] | None = None,
) -> DatasetProfile:
    """Profile the masks of ``source``: class frequencies, imbalance, empty masks, objects, scale effect.

    A folder of 3-D label volumes (NIfTI ``.nii`` / ``.nii.gz``, 3-D ``.npy``) is recognised without a flag
    and profiled in 3-D: voxels and physical volumes (mm³) per class, 3-D objects (cc3d), spacing and
    anisotropy, foreground slices, and empty patches relative to the training patch
    (``DatasetProfile.volume``).

    Masks are streamed one at a time per worker, so memory stays bounded whatever the dataset size. Bad files
    (corrupt, empty, a photo, unexpected values) are listed in ``profile.skipped`` with their reason; the run
    goes on without them.

    Args:
        source: a folder of masks (recursive), a glob pattern, a text file listing mask paths, or one file.
        class_map: a :class:`~lossadvisor.io.ClassMap` or the path of a JSON/CSV class map (required for
            colour-coded masks; names and orders the classes).
        ignore_index: a pixel value excluded from every statistic (e.g. 255 for boundary pixels).
        connectivity: 8 or 4 for masks (default 8: diagonal pixels join an object); 26, 18 or 6 for volumes
            (default 26: corners join).
        train_sizes: training sizes (longest side, px) for the scale effect, e.g. ``(128, 256, 512)``.
        workers: processes to use; default all available cores.
        out: folder to write ``profile.json`` and ``per_image.csv`` into (created if needed).
        progress: show a progress bar.
        dataset_name: the name recorded in the profile; default from the source folder.
        max_pixels: the largest mask read (height x width; default 1e9; voxels for volumes); larger files are
            skipped with a message naming ``--max-pixels``. None: no limit.
        patch_size: volumes only: the training patch ``(D, H, W)`` in voxels the patch measures refer to;
            default :func:`default_patch_size` of the volumes' shapes (what ``tune`` trains with).

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
        patch_size=patch_size,
    )[0]


def profile_masks_detailed(
    source: str | os.PathLike[str],
    *,
    class_map: ClassMap | str | os.PathLike[str] | None = None,
    ignore_index: int | None = None,
    connectivity: int | None = None,
    train_sizes: Iterable[int] = (),
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
    dataset_name: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    patch_size: Iterable[int] | None = None,
) -> tuple[DatasetProfile, pd.DataFrame]:
    """:func:`profile_masks`, also returning the per-image table (the content of ``per_image.csv``)."""
    cmap = resolve_class_map(class_map)
    check_ignore_index(ignore_index, cmap)
    check_max_pixels(max_pixels)
    if connectivity is not None and connectivity not in (*CONNECTIVITIES, *CONNECTIVITIES_3D):
        raise ConfigError(
            f"connectivity must be 4 or 8 for masks, 6, 18 or 26 for volumes; got {connectivity!r}."
        )
    sizes = _check_train_sizes(train_sizes)
    patch = _check_patch_size(patch_size)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a positive integer or None (all cores); got {workers!r}.")
    scan = scan_source(source)
    dims = scan.dimensionality
    connectivity = _connectivity_for(connectivity, dims, source)
    if dims == 3:
        if cmap is not None:
            raise ConfigError(
                "--class-map applies to 2-D colour-coded masks; label volumes already hold class indices. "
                "Drop --class-map."
            )
        if sizes:
            raise ConfigError(
                "--train-size applies to 2-D tiles that are resized; volumes are trained in patches at "
                "native spacing. Use --patch-size D,H,W instead."
            )
    elif patch is not None:
        raise ConfigError(
            f"--patch-size applies to 3-D label volumes; {display_path(os.fspath(source))} holds 2-D masks. "
            "Use --train-size for tiles."
        )
    patch_source = "given" if patch is not None else "default"
    if dims == 3 and patch is None:
        patch = _default_patch(scan.files)
    settings = MeasureSettings(
        class_map=cmap,
        ignore_index=ignore_index,
        connectivity=connectivity,
        max_pixels=max_pixels,
        dimensionality=dims,
        patch_size=patch,
    )
    stats = measure_all(list(scan.files), settings, workers=workers or available_cores(), progress=progress)
    check_colour_coding(stats, scan.root, has_class_map=cmap is not None)
    options = ProfileOptions(
        dataset_name=dataset_name or dataset_name_for(source),
        class_map=cmap,
        ignore_index=ignore_index,
        connectivity=connectivity,
        train_sizes=sizes,
        dimensionality=dims,
        patch_size=patch,
        patch_source=patch_source,
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


def _connectivity_for(connectivity: int | None, dims: int, source) -> int:
    if connectivity is None:
        return DEFAULT_CONNECTIVITY[dims]
    where = display_path(os.fspath(source))
    if dims == 2 and connectivity not in CONNECTIVITIES:
        raise ConfigError(
            f"connectivity must be 4 or 8; got {connectivity}. (6, 18 and 26 are for 3-D label volumes; "
            f"{where} holds 2-D masks.)"
        )
    if dims == 3 and connectivity not in CONNECTIVITIES_3D:
        raise ConfigError(
            f"connectivity must be 6, 18 or 26 for 3-D label volumes; got {connectivity}. ({where} holds "
            "volumes; 4 and 8 are for 2-D masks.)"
        )
    return connectivity


def _check_patch_size(patch_size: Iterable[int] | None) -> tuple[int, int, int] | None:
    if patch_size is None:
        return None
    patch = tuple(patch_size)
    if len(patch) != 3 or any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in patch):
        raise ConfigError(
            f"patch_size (--patch-size) must be three positive voxel counts D,H,W (e.g. 64,64,64); "
            f"got {patch_size!r}."
        )
    return patch  # type: ignore[return-value]


def _default_patch(files) -> tuple[int, int, int]:
    """:func:`default_patch_size` of the volume shapes read from the headers (unreadable files left out:
    the profile lists them as skipped)."""
    from lossadvisor.io import MaskFileError, is_volume_file, read_volume_header

    shapes = []
    for path in files:
        if not is_volume_file(path):
            continue
        try:
            shape = read_volume_header(path).shape
        except MaskFileError:
            continue
        if len(shape) >= 3:
            shapes.append(shape[:3])
    return default_patch_size(shapes) if shapes else (PATCH_FALLBACK,) * 3


# Patch side when no header could be read (every file is then skipped anyway).
PATCH_FALLBACK = 64


def _check_train_sizes(train_sizes: Iterable[int]) -> tuple[int, ...]:
    sizes = tuple(train_sizes)
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"train_sizes must be positive integers (pixels, e.g. 256); got {size!r}.")
    return tuple(sorted(set(sizes)))
