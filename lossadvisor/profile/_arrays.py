"""``profile_arrays``: the same :class:`DatasetProfile` from masks held in memory instead of files.

For data that are not a folder of mask files (an HDF5 stack, a ``torch.utils.data.Dataset``, arrays built in a
notebook). Each mask is interpreted by :func:`lossadvisor.io.mask_from_array`, exactly as a file with the same
values would be, and measured by the same code as a file; a mask that cannot be used is listed as skipped
under its name. The fingerprint hashes the mask values, so a resumed study can tell these arrays from others.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lossadvisor.errors import ConfigError, NoUsableDataError
from lossadvisor.io import ClassMap, MaskFileError, SourceScan, mask_from_array, resolve_class_map
from lossadvisor.io._read import check_ignore_index
from lossadvisor.profile._aggregate import ProfileOptions, build_profile
from lossadvisor.profile._api import CONNECTIVITIES, _check_train_sizes, write_outputs
from lossadvisor.profile._image import ImageStats, MeasureSettings, measure_mask
from lossadvisor.profile._schema import DatasetProfile
from lossadvisor.profile._table import per_image_frame

ARRAYS_SOURCE = "<in-memory arrays>"
DEFAULT_ARRAYS_NAME = "arrays"


def arrays_fingerprint(masks: Iterable[np.ndarray]) -> str:
    """sha256 over the shape, dtype and bytes of every mask, in order."""
    digest = hashlib.sha256()
    for mask in masks:
        array = np.ascontiguousarray(mask)
        digest.update(f"{array.shape}|{array.dtype.str}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def profile_arrays(
    masks: Sequence[np.ndarray],
    *,
    names: Sequence[str] | None = None,
    class_map: ClassMap | str | os.PathLike[str] | None = None,
    ignore_index: int | None = None,
    connectivity: int = 8,
    train_sizes: Iterable[int] = (),
    dataset_name: str = DEFAULT_ARRAYS_NAME,
    out: str | os.PathLike[str] | None = None,
) -> tuple[DatasetProfile, pd.DataFrame]:
    """Profile in-memory masks; return the profile and the per-image table (``per_image.csv``).

    Args:
        masks: ``(H, W)`` integer or boolean arrays (or an ``(N, H, W)`` array), one per image.
        names: A name per mask for the tables and messages (default ``mask[0]``, ``mask[1]``, ...).
        class_map, ignore_index, connectivity, train_sizes: As for :func:`profile_masks`.
        dataset_name: The name recorded in the profile.
        out: Folder to write ``profile.json`` and ``per_image.csv`` into.

    Raises:
        ConfigError: An argument is invalid.
        NoUsableDataError: No mask given, or every mask was skipped.

    Example:
        >>> import numpy as np
        >>> masks = np.zeros((4, 32, 32), np.uint8); masks[:2, 8:16, 8:16] = 1
        >>> profile, _ = profile_arrays(masks)
        >>> profile.task, profile.files_read, profile.empty_mask_share
        ('binary', 4, 0.5)
    """
    cmap = resolve_class_map(class_map)
    check_ignore_index(ignore_index, cmap)
    if connectivity not in CONNECTIVITIES:
        raise ConfigError(f"connectivity must be 4 or 8; got {connectivity!r}.")
    sizes = _check_train_sizes(train_sizes)
    masks = list(masks)
    if not masks:
        raise NoUsableDataError("profile_arrays got no masks; pass at least one (H, W) array.")
    names = list(names) if names is not None else [f"mask[{i}]" for i in range(len(masks))]
    if len(names) != len(masks):
        raise ConfigError(f"names must give one name per mask: {len(names)} names for {len(masks)} masks.")
    settings = MeasureSettings(class_map=cmap, ignore_index=ignore_index, connectivity=connectivity)
    stats: list[ImageStats] = []
    for name, array in zip(names, masks, strict=True):
        try:
            mask = mask_from_array(array, name=name, class_map=cmap, ignore_index=ignore_index)
        except MaskFileError as exc:
            stats.append(ImageStats(Path(name), name, skipped_reason=exc.reason))
            continue
        stats.append(measure_mask(mask, name, settings))
    scan = SourceScan(
        source=ARRAYS_SOURCE,
        kind="arrays",
        root=Path("."),
        files=tuple(Path(n) for n in names),
        problems=(),
        other_files=0,
    )
    options = ProfileOptions(
        dataset_name=dataset_name,
        class_map=cmap,
        ignore_index=ignore_index,
        connectivity=connectivity,
        train_sizes=sizes,
    )
    profile = build_profile(scan, stats, options, data_fingerprint=arrays_fingerprint(masks))
    if profile.files_read == 0:
        first = next(s for s in stats if s.skipped_reason)
        raise NoUsableDataError(
            f"None of the {len(masks)} masks could be used: {first.name}: {first.skipped_reason}"
        )
    frame = per_image_frame(scan, stats, profile)
    if out is not None:
        write_outputs(profile, frame, out)
    return profile, frame
