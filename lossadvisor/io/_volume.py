"""Read 3-D label volumes (NIfTI ``.nii`` / ``.nii.gz`` through nibabel, and 3-D ``.npy``) as class indices.

Axis order: arrays come back as ``(D, H, W)`` = the file's voxel axes ``(k, j, i)``, the order nnU-Net's
``NibabelIO`` uses (it transposes nibabel's ``(i, j, k)`` so that it matches SimpleITK). In most scans ``k``
is the axis the slices were stacked along, so ``D`` is the through-plane axis and ``spacing[0]`` its slice
distance. ``spacing`` and ``orientation`` follow the array's axis order; ``affine`` is the file's own
(it maps ``(i, j, k, 1)``, i.e. ``labels[k, j, i]``). nibabel's ``(i, j, k)`` arrays are Fortran-ordered on
disk, so the transposed array is C-contiguous without a copy.

Labels keep their integer values: they are read through ``img.dataobj`` (``np.asanyarray``), never
``get_fdata()``. Float labels are accepted when every value is a whole number (some tools save labels as
float32); other floats, negative values and grey-image-like value counts are refused with the file named.
nibabel is imported inside the functions, so 2-D users and ``--help`` never load it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lossadvisor.io._decode import DEFAULT_MAX_PIXELS
from lossadvisor.io._errors import MaskFileError
from lossadvisor.io._labels import (
    ENCODING_BINARY_01,
    ENCODING_BINARY_0255,
    ENCODING_BINARY_065535,
    ENCODING_BOOLEAN,
    ENCODING_EMPTY,
    ENCODING_LABELS,
    MAX_DISTINCT_LABELS,
    label_dtype,
)
from lossadvisor.io._nifti import (
    FORMAT_NIFTI,
    FORMAT_NPY,
    NPY_SUFFIX,
    UNKNOWN_SPACING_MM,
    array_order,
    axis_codes,
    check_readable,
    decode_volume,
    header_spacing,
    load_nifti,
    nifti1_header,
    nifti_spacing,
    nifti_suffix,
    read_dataobj,
)


def volume_stem(path: str | os.PathLike[str]) -> str:
    """The file name without its volume extension: "case_0000" for "case_0000.nii.gz"."""
    name = Path(path).name
    suffix = nifti_suffix(name) or (NPY_SUFFIX if name.lower().endswith(NPY_SUFFIX) else "")
    return name[: len(name) - len(suffix)] if suffix else name


def npy_shape(path: str | os.PathLike[str]) -> tuple[int, ...] | None:
    """The shape in a ``.npy`` header (no data read), or None when the header cannot be read."""
    try:
        with open(path, "rb") as f:  # noqa: PTH123
            version = np.lib.format.read_magic(f)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            return tuple(int(n) for n in read(f)[0])
    except (OSError, ValueError):
        return None


def is_volume_shape(shape: Sequence[int]) -> bool:
    """A 3-D array that is not a 2-D colour / grey+alpha mask ``(H, W, 1..4)``: a volume."""
    return len(shape) == 3 and shape[-1] not in (1, 2, 3, 4)


def is_volume_file(path: str | os.PathLike[str]) -> bool:
    """NIfTI files always; ``.npy`` files when their header holds a 3-D volume shape."""
    if nifti_suffix(path):
        return True
    if os.fspath(path).lower().endswith(NPY_SUFFIX):
        shape = npy_shape(path)
        return shape is not None and is_volume_shape(shape)
    return False


@dataclass(frozen=True, eq=False)
class VolumeData:
    """A label volume read from disk.

    Attributes:
        path: the file.
        labels: ``(D, H, W)`` class indices (uint8, or uint16 / int32 when a value needs it); binary encodings
            come back as 0/1; ignored voxels hold ``ignore_index``.
        spacing: voxel size in mm along the array's axes ``(D, H, W)``.
        orientation: anatomical direction codes of the array's axes (nibabel's ``aff2axcodes``, in array
            order; "SAR" for a file stored RAS+), "" for a ``.npy``.
        affine: the file's 4x4 voxel-to-world matrix (it maps ``(i, j, k)``, i.e. ``labels[k, j, i]``); None
            for a .npy.
        encoding: "binary 0/1", "binary 0/255", "boolean", "label values" or "empty".
        voxel_counts: voxels per class index present (ignored voxels excluded).
        ignored_voxels: voxels equal to the ignore index.
        ignore_index: the value ignored voxels hold in ``labels`` (None when nothing is ignored).
        file_format: "NIfTI" or "NPY".
        spacing_known: False when the file carries no spacing (``.npy``, zero pixdims): ``spacing`` is then
            1 mm per axis and physical volumes equal voxel counts.
        source_dtype: the dtype stored in the file (e.g. "float32" for float-saved labels).
    """

    path: Path
    labels: np.ndarray
    spacing: tuple[float, float, float]
    orientation: str
    affine: np.ndarray | None
    encoding: str
    voxel_counts: dict[int, int]
    ignored_voxels: int
    ignore_index: int | None
    file_format: str
    spacing_known: bool = True
    source_dtype: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.labels.shape  # type: ignore[return-value]

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm³."""
        return float(np.prod(self.spacing))

    @property
    def foreground_voxels(self) -> int:
        return sum(c for i, c in self.voxel_counts.items() if i != 0)


@dataclass(frozen=True)
class VolumeHeader:
    """What a volume file's header says, read without decoding the voxels (cheap: a pairing check).

    ``shape`` is in array order ``(D, H, W)`` followed by any extra axes (a 4-D file: ``(D, H, W, T)``).
    """

    path: Path
    shape: tuple[int, ...]
    spacing: tuple[float, float, float]
    file_format: str


def read_volume_header(path: str | os.PathLike[str]) -> VolumeHeader:
    """Shape and spacing of a volume file from its header (no voxel decoded).

    Raises:
        MaskFileError: the file is missing, empty, or not a NIfTI / .npy file.
    """
    path = Path(path)
    check_readable(path)
    if nifti_suffix(path):
        header = nifti1_header(path) or load_nifti(path).header
        raw_shape = tuple(int(n) for n in header.get_data_shape())
        spacing, _ = header_spacing(header)
        return VolumeHeader(path, array_order(raw_shape), spacing, FORMAT_NIFTI)
    shape = npy_shape(path)
    if shape is None:
        raise MaskFileError(
            path,
            expected="a .npy array file",
            found="a file whose .npy header cannot be read",
            hint="The file is truncated or not saved with np.save; re-save it or remove it.",
        )
    return VolumeHeader(path, shape, (UNKNOWN_SPACING_MM,) * 3, FORMAT_NPY)


def read_volume(
    path: str | os.PathLike[str],
    *,
    ignore_index: int | None = None,
    max_voxels: int | None = DEFAULT_MAX_PIXELS,
) -> VolumeData:
    """Read one label volume as class indices, with its spacing and orientation.

    Args:
        path: a ``.nii`` / ``.nii.gz`` file, or a ``.npy`` holding a ``(D, H, W)`` integer array (spacing
            unknown: 1 mm is recorded and ``spacing_known`` is False).
        ignore_index: a raw voxel value to exclude from every count (it keeps its value in ``labels``).
        max_voxels: the largest volume read, checked from the header before decoding (default 1e9 voxels);
            None: no limit.

    Returns:
        A :class:`VolumeData` whose ``labels`` are ``(D, H, W)``.

    Raises:
        MaskFileError: the file is unreadable, truncated or corrupt, not 3-D (a 4-D label, a 2-D array),
            larger than ``max_voxels``, or holds values that are not class indices (non-integer floats,
            negatives, a grey image). The message names the file, what was expected and what to do.

    Example:
        >>> v = read_volume("examples/hippocampus/labels/hippocampus_001.nii.gz")
        >>> v.labels.shape, v.spacing, sorted(v.voxel_counts)
        ((35, 51, 35), (1.0, 1.0, 1.0), [0, 1, 2])
    """
    path = Path(path)
    check_readable(path)
    if nifti_suffix(path):
        img = load_nifti(path)
        raw_shape = tuple(int(n) for n in img.shape)
        _check_label_shape(path, raw_shape)
        _check_voxels(path, raw_shape, max_voxels)
        array = decode_volume(path, lambda: read_dataobj(img))
        spacing, known = nifti_spacing(img)
        affine = np.asarray(img.affine, dtype=np.float64)
        orientation = axis_codes(affine)
        fmt = FORMAT_NIFTI
    elif os.fspath(path).lower().endswith(NPY_SUFFIX):
        shape = npy_shape(path) or ()
        _check_label_shape(path, shape, npy=True)
        _check_voxels(path, shape, max_voxels)
        array = decode_volume(path, lambda: np.load(path, allow_pickle=False))
        spacing, known, affine, orientation, fmt = (UNKNOWN_SPACING_MM,) * 3, False, None, "", FORMAT_NPY
    else:
        raise MaskFileError(
            path,
            expected="a label volume (.nii, .nii.gz or a 3-D .npy)",
            found=f"a file ending in {path.suffix or '(no extension)'}",
            hint="2-D masks belong in a folder of their own; convert a volume in another format to NIfTI "
            "(e.g. with nibabel or SimpleITK).",
        )
    source_dtype = str(array.dtype)
    array = _squeeze_to_3d(path, array)
    if fmt == FORMAT_NIFTI:
        array = array.transpose(2, 1, 0)  # (i, j, k) -> (k, j, i): nnU-Net's order, contiguous for F data
    labels, encoding, counts, ignored = interpret_volume(path, array, ignore_index)
    return VolumeData(
        path=path,
        labels=labels,
        spacing=spacing,  # type: ignore[arg-type]
        orientation=orientation,
        affine=affine,
        encoding=encoding,
        voxel_counts=counts,
        ignored_voxels=ignored,
        ignore_index=ignore_index if ignored else None,
        file_format=fmt,
        spacing_known=known,
        source_dtype=source_dtype,
    )


def interpret_volume(
    path: Path, array: np.ndarray, ignore_index: int | None
) -> tuple[np.ndarray, str, dict[int, int], int]:
    """Class indices from decoded label values: (labels, encoding, voxels per class, ignored voxels).

    Binary volumes stored 0/1, 0/255 (0/65535) or as booleans come back as 0/1, as 2-D masks do.
    """
    if array.dtype == np.bool_:
        labels = array.view(np.uint8)
        fg = int(np.count_nonzero(labels))
        counts = {0: labels.size - fg, 1: fg} if fg else {0: labels.size}
        return labels, ENCODING_BOOLEAN if fg else ENCODING_EMPTY, counts, 0
    if array.dtype.kind == "f":
        array = _integral_floats(path, array)
    elif array.dtype.kind not in "iu":
        raise MaskFileError(
            path,
            expected="integer class values",
            found=f"{array.dtype} data",
            hint="Save the label volume as integers (e.g. uint8).",
        )
    ignored_mask = array == ignore_index if ignore_index is not None else None
    ignored = int(np.count_nonzero(ignored_mask)) if ignored_mask is not None else 0
    valid = np.where(ignored_mask, 0, array) if ignored else array
    vmin, vmax = (int(valid.min()), int(valid.max())) if valid.size else (0, 0)
    if vmin < 0:
        raise MaskFileError(
            path,
            expected="class indices >= 0",
            found=f"negative values (minimum {vmin})",
            hint="If a negative value marks voxels to ignore, pass it as --ignore-index.",
        )
    counts = _histogram(valid, vmax)
    if ignored:
        counts[0] -= ignored
        counts = {k: v for k, v in counts.items() if v}
    if len(counts) > MAX_DISTINCT_LABELS:
        raise MaskFileError(
            path,
            expected="a label volume of class indices",
            found=f"{len(counts)} distinct values ({vmin}..{vmax}), which looks like an image volume",
            hint="Point SOURCE at the label volumes (labelsTr), not the images (imagesTr).",
        )
    binary = {1: ENCODING_BINARY_01, 255: ENCODING_BINARY_0255, 65535: ENCODING_BINARY_065535}
    if vmax == 0:
        encoding = ENCODING_EMPTY
    elif set(counts) <= {0, vmax} and vmax in binary:
        encoding = binary[vmax]
        if vmax != 1:
            counts = {0 if k == 0 else 1: v for k, v in counts.items()}
            valid = (valid == vmax).view(np.uint8)
    else:
        encoding = ENCODING_LABELS
    dtype = label_dtype(max(counts, default=0), ignore_index if ignored else None)
    labels = valid.astype(dtype, copy=False)
    if ignored:
        labels[ignored_mask] = ignore_index
    return labels, encoding, counts, ignored


# Values counted per np.bincount call: it widens its input to 8 bytes a value, so a whole uint8 volume at once
# would cost 8x the volume (a chunk of 2**20 costs 8 MiB).
_COUNT_CHUNK = 2**20


def _histogram(values: np.ndarray, vmax: int) -> dict[int, int]:
    if vmax < 2**16:  # class indices: bincount in chunks, no sort
        counts = np.zeros(vmax + 1, dtype=np.int64)
        flat = values.reshape(-1)  # a view: the arrays here are contiguous (C, or F transposed)
        for start in range(0, flat.size, _COUNT_CHUNK):
            counts += np.bincount(flat[start : start + _COUNT_CHUNK], minlength=vmax + 1)
        return {int(v): int(counts[v]) for v in np.flatnonzero(counts)}
    unique, counts = np.unique(values, return_counts=True)
    return {int(v): int(c) for v, c in zip(unique, counts, strict=True)}


def _integral_floats(path: Path, array: np.ndarray) -> np.ndarray:
    """Float labels whose values are all whole numbers become int64; any other float is refused."""
    finite = np.isfinite(array)
    if not finite.all():
        raise MaskFileError(
            path,
            expected="integer class values (float labels are accepted when every value is a whole number)",
            found=f"{array.dtype} data with {int(array.size - np.count_nonzero(finite))} NaN/inf value(s)",
            hint="Save the labels as integers (e.g. np.uint8) after thresholding any probabilities.",
        )
    rounded = np.rint(array)
    fractional = rounded != array
    if fractional.any():
        example = float(array[fractional].flat[0])
        raise MaskFileError(
            path,
            expected="integer class values (float labels are accepted when every value is a whole number)",
            found=f"{array.dtype} data with {int(np.count_nonzero(fractional)):,} non-integer value(s), "
            f"e.g. {example:g}",
            hint="These look like probabilities or an interpolated (resampled) label; resample labels with "
            "nearest-neighbour interpolation and save them as integers.",
        )
    return rounded.astype(np.int64)


def _check_label_shape(path: Path, shape: tuple[int, ...], *, npy: bool = False) -> None:
    extra = [n for n in shape[3:] if n != 1]
    if len(shape) >= 3 and not extra and (not npy or len(shape) == 3):
        return
    if len(shape) > 3 and extra:
        found = f"a {len(shape)}-D volume of shape {shape} ({extra[0]} volumes along axis 4)"
        hint = (
            "A label must be one 3-D volume; a 4-D file is a time series or several channels. Split it, "
            "or point SOURCE at the labels rather than a multi-channel image."
        )
    else:
        found = f"an array of shape {shape}"
        hint = "Save one 3-D label volume per file; 2-D masks belong in a folder of 2-D masks."
    raise MaskFileError(path, expected="a 3-D label volume", found=found, hint=hint)


def _check_voxels(path: Path, shape: tuple[int, ...], max_voxels: int | None) -> None:
    voxels = int(np.prod(shape, dtype=np.int64)) if shape else 0
    if max_voxels is None or voxels <= max_voxels:
        return
    raise MaskFileError(
        path,
        expected=f"a volume of at most {max_voxels:,} voxels (--max-pixels)",
        found=f"{' x '.join(str(n) for n in shape)} = {voxels:,} voxels",
        hint=f"If it is a genuine label volume, raise the limit (--max-pixels {voxels}); otherwise leave the "
        "file out.",
    )


def _squeeze_to_3d(path: Path, array: np.ndarray) -> np.ndarray:
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        _check_label_shape(path, tuple(array.shape), npy=True)
    return array
