"""Where a study's data come from (two folders paired by stem, or in-memory data) and their profile.

Both kinds end as the same three things: the dataset profile (with its per-image table), the image channels
the model gets, and the list of what was left out. Nothing here writes: ``tune`` writes the profile only once
the model has been checked, so a refused run leaves no run folder behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lossadvisor.errors import ConfigError
from lossadvisor.profile import DatasetProfile
from lossadvisor.tune.data._pairing import Pairing, pair_files
from lossadvisor.tune.data._sources import InMemoryData, collect
from lossadvisor.tune.data._volumes import crop_patch

FILE_CHANNELS = 3  # image files are read as RGB (grey repeated)
DEFAULT_IMAGES = "images"
DEFAULT_MASKS = "masks"


@dataclass
class DataSource:
    """The data of one study, profiled, ready to be decoded into training arrays."""

    profile: DatasetProfile
    per_image: pd.DataFrame
    channels: int
    images: str | Path | None  # the folders as given (None for in-memory data)
    masks: str | Path | None
    description: str  # "folders" or "in memory: 40 training items, 10 validation items"
    left_out: list[str] = field(default_factory=list)
    pairing: Pairing | None = None
    in_memory: tuple[InMemoryData, InMemoryData | None] | None = None
    volumes: object | None = None  # lossadvisor.io.VolumePairs: 3-D cases (images and labels are volumes)


def load_source(
    images,
    masks,
    *,
    train,
    val,
    out,
    side: int,
    class_map,
    ignore_index: int | None,
    progress: bool,
    max_pixels: int | None,
    crop: int | None = None,
) -> DataSource:
    """Pair the folders or read the in-memory data, and profile the masks (nothing is written).

    Tiles are profiled at the training side ``side``; volumes at the training patch: ``crop`` (``--crop N``,
    an ``N x N x N`` patch) or, without it, the default patch, which training then uses too.

    Raises:
        ConfigError: Folders and ``train`` both given, ``val`` without ``train``, or in-memory data without
            ``out``.
    """
    if train is None:
        if val is not None:
            raise ConfigError(
                "The 'val' option of tune needs 'train' (in-memory data); with folders the validation tiles "
                "are a stratified 20 % of the pairs."
            )
        return _from_folders(
            images or DEFAULT_IMAGES,
            masks or DEFAULT_MASKS,
            side=side,
            crop=crop,
            class_map=class_map,
            ignore_index=ignore_index,
            progress=progress,
            max_pixels=max_pixels,
        )
    if images is not None or masks is not None:
        raise ConfigError(
            "Give tune either image and mask folders (images=, masks=) or in-memory data (train=, val=), "
            "not both."
        )
    if out is None:
        raise ConfigError(
            "The 'out' option of tune is required with in-memory data (train=): there is no folder name to "
            "derive a run folder from. Pass e.g. out='reports/mydata'."
        )
    return _from_memory(train, val, out=out, side=side, class_map=class_map, ignore_index=ignore_index)


def holds_volumes(masks) -> bool:
    """The masks folder holds label volumes (NIfTI, 3-D .npy), recognised without a flag."""
    from lossadvisor.io import is_volume_file, list_volumes

    folder = Path(masks)
    if not folder.is_dir():
        return False
    files = list_volumes(folder)
    return bool(files) and is_volume_file(files[0])


def _from_volume_folders(images, masks, *, crop, class_map, ignore_index, progress, max_pixels) -> DataSource:
    """3-D cases: image and label volumes paired by case name (nnU-Net and per-channel layouts included),
    profiled at the patch ``crop`` sets (the default patch without it): the patch that is trained."""
    from lossadvisor._text import display_path
    from lossadvisor.io import pair_volumes, read_volume_image
    from lossadvisor.profile import profile_masks_detailed

    patch = crop_patch(crop)  # checked before anything is read
    pairs = pair_volumes(images, masks)
    if not pairs.pairs:
        raise ConfigError(
            f"No image volume in {display_path(images)} pairs with a label volume in {display_path(masks)}: "
            + "; ".join(f"{display_path(p)}: {why}" for p, why in pairs.problems[:3])
        )
    channels = read_volume_image(pairs.pairs[0].images).channels
    profile, frame = profile_masks_detailed(
        masks, class_map=class_map, ignore_index=ignore_index, workers=1, progress=progress,
        max_pixels=max_pixels, patch_size=patch,
    )  # fmt: skip
    return DataSource(
        profile=profile,
        per_image=frame,
        channels=channels,
        images=images,
        masks=masks,
        description="volumes",
        left_out=[f"{display_path(p)}: {why}" for p, why in pairs.problems],
        volumes=pairs,
    )


def _from_folders(images, masks, *, side, crop, class_map, ignore_index, progress, max_pixels) -> DataSource:
    from lossadvisor.profile import profile_masks_detailed

    if holds_volumes(masks):
        return _from_volume_folders(
            images, masks, crop=crop, class_map=class_map, ignore_index=ignore_index, progress=progress,
            max_pixels=max_pixels,
        )  # fmt: skip
    pairing = pair_files(images, masks)
    # One profiling process: the profiler forks workers on Linux, and forking a process that holds torch's
    # thread pools can deadlock the child (seen here on a second tune() in one process). Profiling is a few
    # seconds next to the trials.
    profile, frame = profile_masks_detailed(
        masks,
        class_map=class_map,
        ignore_index=ignore_index,
        train_sizes=(side,),
        workers=1,
        progress=progress,
        max_pixels=max_pixels,
    )
    return DataSource(
        profile=profile,
        per_image=frame,
        channels=FILE_CHANNELS,
        images=images,
        masks=masks,
        description="folders",
        left_out=pairing.problems(),
        pairing=pairing,
    )


def _from_memory(train, val, *, out, side, class_map, ignore_index) -> DataSource:
    from lossadvisor.profile import profile_arrays

    train_data = collect(train, role="train", class_map=class_map, ignore_index=ignore_index)
    val_data = (
        collect(val, role="val", class_map=class_map, ignore_index=ignore_index) if val is not None else None
    )
    parts = [train_data] + ([val_data] if val_data is not None else [])
    profile, frame = profile_arrays(
        [m for p in parts for m in p.raw_masks],
        names=[n for p in parts for n in p.names],
        class_map=class_map,
        ignore_index=ignore_index,
        train_sizes=(side,),
        dataset_name=Path(out).name or "arrays",
    )
    described = f"in memory: {len(train_data.names)} training items" + (
        f", {len(val_data.names)} validation items" if val_data is not None else ""
    )
    return DataSource(
        profile=profile,
        per_image=frame,
        channels=train_data.channels,
        images=None,
        masks=None,
        description=described,
        left_out=[],  # unusable items travel with the training data (TrainData.skipped)
        in_memory=(train_data, val_data),
    )
