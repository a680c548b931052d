"""Pair image volumes with their label volumes by name, the layouts 3-D datasets are shipped in.

Three ways a case's image can be named beside its label ``labels/CASE.nii.gz``:

- the same name: ``images/CASE.nii.gz`` (one file; a 4-D file holds all channels, as in the Medical
  Segmentation Decathlon);
- nnU-Net's channel numbers: ``imagesTr/CASE_0000.nii.gz``, ``CASE_0001.nii.gz`` ... (channel order = number);
- one file per channel with a name: ``CASE_flair.nii.gz``, ``CASE_t1c.nii.gz`` (BraTS style; channels in
  alphabetical order of the suffix, the same for every case).

Every case must have the same channels. A case that cannot be paired (no image, a missing channel, a label
that is 4-D or whose shape differs from its image) is returned in ``problems`` with the reason, never raised,
so a long run skips it and lists it. Shapes are compared from the headers only; no voxel is decoded here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from lossadvisor.errors import DataError, NoUsableDataError
from lossadvisor.io._errors import MaskFileError, display_path
from lossadvisor.io._nifti import NPY_SUFFIX, nifti_suffix
from lossadvisor.io._volume import is_volume_file, read_volume_header, volume_stem

# nnU-Net's channel suffix: an underscore and exactly four digits ("case_0000").
_NNUNET_CHANNEL = re.compile(r"^\d{4}$")
# Channel name of a case whose image file has the label's own name.
SINGLE_CHANNEL = "image"


@dataclass(frozen=True)
class VolumePair:
    """One case: its label file and its image files in channel order."""

    case: str
    label: Path
    images: tuple[Path, ...]


@dataclass(frozen=True)
class VolumePairs:
    """The cases of an images folder and a labels folder.

    Attributes:
        pairs: the usable cases, sorted by case name.
        channels: channel names in order ("0000", "0001" for nnU-Net; "flair", "t1c" for named suffixes;
            ("image",) when images share the label's name).
        problems: (file, reason) for cases left out (no image, missing channel, 4-D label, shape mismatch)
            and image files without a label.
    """

    pairs: tuple[VolumePair, ...]
    channels: tuple[str, ...]
    problems: tuple[tuple[Path, str], ...]


def list_volumes(folder: str | os.PathLike[str]) -> list[Path]:
    """The volume files directly inside ``folder`` (NIfTI and 3-D .npy; hidden files left out), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(
            f"{display_path(root)} is not a folder. Expected a folder of volumes (.nii, .nii.gz, .npy)."
        )
    return sorted(
        p for p in root.iterdir() if p.is_file() and not p.name.startswith(".") and _is_volume_name(p.name)
    )


def _is_volume_name(name: str) -> bool:
    return bool(nifti_suffix(name)) or name.lower().endswith(NPY_SUFFIX)


def pair_volumes(
    images: str | os.PathLike[str], labels: str | os.PathLike[str], *, check_shapes: bool = True
) -> VolumePairs:
    """Pair the image volumes of ``images`` with the label volumes of ``labels`` by case name.

    Args:
        images: the folder of image volumes (e.g. nnU-Net's ``imagesTr``).
        labels: the folder of label volumes (e.g. ``labelsTr``).
        check_shapes: read each header and leave out cases whose label is not 3-D or differs in shape from
            its image (cheap: headers only).

    Returns:
        :class:`VolumePairs` (pairs, channel names, problems).

    Raises:
        DataError: a folder does not exist.
        NoUsableDataError: no case could be paired (the message gives the first reasons).

    Example:
        >>> p = pair_volumes("examples/hippocampus/images", "examples/hippocampus/labels")
        >>> len(p.pairs), p.channels
        (20, ('image',))
    """
    label_files = list_volumes(labels)
    image_files = list_volumes(images)
    by_stem = {volume_stem(p): p for p in label_files}
    problems: list[tuple[Path, str]] = []
    found: dict[str, dict[str, Path]] = {stem: {} for stem in by_stem}
    for path in image_files:
        stem = volume_stem(path)
        case, channel = _case_of(stem, by_stem)
        if case is None:
            problems.append(
                (
                    path,
                    f"expected an image with a label in {display_path(labels)} (CASE, CASE_0000 or "
                    f"CASE_<channel>); found no label named like it. Add its label or move the image out.",
                )
            )
            continue
        found[case][channel] = path
    channels = _channels(found)
    pairs = []
    for case, label in sorted(by_stem.items()):
        have = found[case]
        missing = [c for c in channels if c not in have]
        if not have or missing:
            what = f"no channel {', '.join(missing)} (have {', '.join(sorted(have))})" if have else "no image"
            problems.append(
                (
                    label,
                    f"expected the image of case {case} in {display_path(images)} with channels "
                    f"{', '.join(channels) or SINGLE_CHANNEL}; found {what}. "
                    "Add the files or remove the case.",
                )
            )
            continue
        pair = VolumePair(case, label, tuple(have[c] for c in channels))
        reason = _shape_problem(pair) if check_shapes else None
        if reason:
            problems.append(reason)
            continue
        pairs.append(pair)
    if not pairs:
        shown = "; ".join(f"{display_path(p)}: {r}" for p, r in problems[:2])
        raise NoUsableDataError(
            f"No image/label pair in {display_path(images)} and {display_path(labels)} "
            f"({len(image_files)} image and {len(label_files)} label volumes). {shown}"
        )
    return VolumePairs(tuple(pairs), channels, tuple(problems))


def _case_of(stem: str, labels: dict[str, Path]) -> tuple[str | None, str]:
    """(case, channel) for an image stem: the exact label name, else the longest label name + "_suffix"."""
    if stem in labels:
        return stem, SINGLE_CHANNEL
    best = None
    for case in labels:
        longer = best is None or len(case) > len(best)
        if stem.startswith(case + "_") and len(stem) > len(case) + 1 and longer:
            best = case
    if best is None:
        return None, ""
    return best, stem[len(best) + 1 :]


def _channels(found: dict[str, dict[str, Path]]) -> tuple[str, ...]:
    """The channel names every case should have: those the cases hold, numbers in order, names sorted."""
    names = {c for have in found.values() for c in have}
    if not names:
        return ()
    if names == {SINGLE_CHANNEL}:
        return (SINGLE_CHANNEL,)
    numbered = sorted(n for n in names if _NNUNET_CHANNEL.match(n))
    named = sorted(n for n in names if not _NNUNET_CHANNEL.match(n))
    return tuple(numbered + named)


def _shape_problem(pair: VolumePair) -> tuple[Path, str] | None:
    try:
        label = read_volume_header(pair.label)
        images = [read_volume_header(p) for p in pair.images]
    except MaskFileError as exc:
        return exc.path, exc.reason
    spatial = label.shape[:3]
    extra = [n for n in label.shape[3:] if n != 1]
    if len(label.shape) < 3 or extra or (label.file_format == "NPY" and not is_volume_file(pair.label)):
        return (
            pair.label,
            f"expected a 3-D label volume; found shape {label.shape}. A label must be one 3-D volume "
            "(a 4-D file is a time series or several channels); split it or remove the case.",
        )
    for image in images:
        channels_first = image.file_format == "NPY" and len(image.shape) == 4  # (C, D, H, W)
        image_spatial = image.shape[1:4] if channels_first else image.shape[:3]
        if image_spatial != spatial:
            return (
                pair.label,
                f"expected the label's shape to equal its image's; found label {spatial} and image "
                f"{image_spatial} ({image.path.name}). Resample the label onto the image grid or remove the "
                "case.",
            )
    return None
