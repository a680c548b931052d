"""Read image volumes (one file, or one file per channel) as ``(C, D, H, W)`` float32 arrays."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lossadvisor.io._errors import MaskFileError
from lossadvisor.io._nifti import (
    FORMAT_NIFTI,
    FORMAT_NPY,
    NPY_SUFFIX,
    UNKNOWN_SPACING_MM,
    axis_codes,
    check_readable,
    decode_volume,
    load_nifti,
    nifti_spacing,
    nifti_suffix,
)


@dataclass(frozen=True, eq=False)
class VolumeImage:
    """An image volume (one or more channels) read from disk.

    Attributes:
        paths: the file(s), one per channel file (a 4-D file gives several channels from one path).
        array: ``(C, D, H, W)`` float32 intensities (NIfTI scaling applied), axes as :class:`VolumeData`.
        spacing: voxel size in mm along ``(D, H, W)`` (from the first file).
        orientation: as for :class:`VolumeData`.
        affine: the first file's affine (None for .npy).
        file_format: "NIfTI" or "NPY".
    """

    paths: tuple[Path, ...]
    array: np.ndarray
    spacing: tuple[float, float, float]
    orientation: str
    affine: np.ndarray | None
    file_format: str

    @property
    def channels(self) -> int:
        return int(self.array.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """The spatial shape ``(D, H, W)``."""
        return tuple(int(n) for n in self.array.shape[1:])  # type: ignore[return-value]


def read_volume_image(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> VolumeImage:
    """Read an image volume: one file, or one file per channel (stacked in the order given).

    A 4-D NIfTI ``(i, j, k, c)`` (the Medical Segmentation Decathlon's multi-modal layout) gives ``c``
    channels; a 4-D ``.npy`` is read as ``(C, D, H, W)``.

    Args:
        paths: a path, or the channel files of one case (e.g. ``case_0000.nii.gz``, ``case_0001.nii.gz``;
            :func:`pair_volumes` returns them in channel order).

    Returns:
        A :class:`VolumeImage` with ``array`` of shape ``(C, D, H, W)``, float32.

    Raises:
        MaskFileError: a file is unreadable or corrupt, or the channels differ in shape (names the file).

    Example:
        >>> im = read_volume_image("examples/hippocampus/images/hippocampus_001.nii.gz")
        >>> im.array.shape, im.array.dtype.name
        ((1, 35, 51, 35), 'float32')
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = [Path(p) for p in paths]
    if not files:
        raise MaskFileError(
            Path("."), expected="at least one image file", found="none", hint="Pass the case's channel files."
        )
    channels: list[np.ndarray] = []
    first: tuple[tuple[float, float, float], str, np.ndarray | None, str] | None = None
    for path in files:
        array, meta = _read_image_file(path)
        if first is None:
            first = meta
        elif channels and array.shape[1:] != channels[0].shape[1:]:
            raise MaskFileError(
                path,
                expected=f"a channel of the same shape as {files[0].name} {tuple(channels[0].shape[1:])}",
                found=f"shape {tuple(array.shape[1:])}",
                hint="Every channel file of a case must be on the same voxel grid; resample it first.",
            )
        channels.append(array)
    stacked = channels[0] if len(channels) == 1 else np.concatenate(channels, axis=0)
    spacing, orientation, affine, fmt = first  # type: ignore[misc]
    return VolumeImage(tuple(files), stacked, spacing, orientation, affine, fmt)


def _read_image_file(path: Path):
    check_readable(path)
    if nifti_suffix(path):
        img = load_nifti(path)
        shape = tuple(int(n) for n in img.shape)
        if len(shape) not in (3, 4) and not (len(shape) == 5 and shape[3] == 1):
            raise MaskFileError(
                path,
                expected="a 3-D image volume, or 4-D with channels last",
                found=f"a {len(shape)}-D NIfTI of shape {shape}",
                hint="Save one volume (or one volume per channel) per file.",
            )
        data = decode_volume(path, lambda: np.asarray(img.dataobj, dtype=np.float32))
        data = data.reshape(shape[:3] + (-1,))  # (i, j, k, C), a 5-D (i, j, k, 1, C) included
        array = np.ascontiguousarray(data.transpose(3, 2, 1, 0))  # (C, k, j, i)
        spacing, _ = nifti_spacing(img)
        affine = np.asarray(img.affine, dtype=np.float64)
        return array, (spacing, axis_codes(affine), affine, FORMAT_NIFTI)
    if os.fspath(path).lower().endswith(NPY_SUFFIX):
        data = decode_volume(path, lambda: np.load(path, allow_pickle=False))
        if data.ndim == 3:
            data = data[None]
        if data.ndim != 4 or data.dtype.kind not in "biuf":
            raise MaskFileError(
                path,
                expected="a numeric (D, H, W) or (C, D, H, W) image array",
                found=f"a {data.dtype} array of shape {data.shape}",
                hint="Save the image volume with np.save(path, volume.astype(np.float32)).",
            )
        return data.astype(np.float32, copy=False), ((UNKNOWN_SPACING_MM,) * 3, "", None, FORMAT_NPY)
    raise MaskFileError(
        path,
        expected="an image volume (.nii, .nii.gz or .npy)",
        found=f"a file ending in {path.suffix or '(no extension)'}",
        hint="Convert the image to NIfTI.",
    )
