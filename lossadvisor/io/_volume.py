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

# File name endings of NIfTI volumes (".nii.gz" has Path.suffix ".gz", so compare the name's end).
NIFTI_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii")
NPY_SUFFIX = ".npy"
FORMAT_NIFTI = "NIfTI"
FORMAT_NPY = "NPY"
# Spacing recorded for a volume whose file carries none (a .npy, or a NIfTI with zero pixdims), in mm.
UNKNOWN_SPACING_MM = 1.0


def nifti_suffix(path: str | os.PathLike[str]) -> str | None:
    """ ".nii.gz" or ".nii" when ``path`` names a NIfTI file (any case), else None."""
    name = os.fspath(path).lower()
    return next((s for s in NIFTI_SUFFIXES if name.endswith(s)), None)


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
    _check_readable(path)
    if nifti_suffix(path):
        img = _load_nifti(path)
        raw_shape = tuple(int(n) for n in img.shape)
        spacing, _ = _nifti_spacing(img)
        return VolumeHeader(path, _array_order(raw_shape), spacing, FORMAT_NIFTI)
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
    _check_readable(path)
    if nifti_suffix(path):
        img = _load_nifti(path)
        raw_shape = tuple(int(n) for n in img.shape)
        _check_label_shape(path, raw_shape)
        _check_voxels(path, raw_shape, max_voxels)
        array = _decode(path, lambda: np.asanyarray(img.dataobj))
        spacing, known = _nifti_spacing(img)
        affine = np.asarray(img.affine, dtype=np.float64)
        orientation = _orientation(affine)
        fmt = FORMAT_NIFTI
    elif os.fspath(path).lower().endswith(NPY_SUFFIX):
        shape = npy_shape(path) or ()
        _check_label_shape(path, shape, npy=True)
        _check_voxels(path, shape, max_voxels)
        array = _decode(path, lambda: np.load(path, allow_pickle=False))
        spacing, known, affine, orientation, fmt = (UNKNOWN_SPACING_MM,) * 3, False, None, "", FORMAT_NPY
    else:
        raise MaskFileError(
            path,
            expected="a label volume (.nii, .nii.gz or a 3-D .npy)",
            found=f"a file ending in {path.suffix or '(no extension)'}",
            hint="Convert the volume to NIfTI (e.g. with nibabel or SimpleITK).",
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
    _check_readable(path)
    if nifti_suffix(path):
        img = _load_nifti(path)
        shape = tuple(int(n) for n in img.shape)
        if len(shape) not in (3, 4) and not (len(shape) == 5 and shape[3] == 1):
            raise MaskFileError(
                path,
                expected="a 3-D image volume, or 4-D with channels last",
                found=f"a {len(shape)}-D NIfTI of shape {shape}",
                hint="Save one volume (or one volume per channel) per file.",
            )
        data = _decode(path, lambda: np.asarray(img.dataobj, dtype=np.float32))
        data = data.reshape(shape[:3] + (-1,))  # (i, j, k, C), a 5-D (i, j, k, 1, C) included
        array = np.ascontiguousarray(data.transpose(3, 2, 1, 0))  # (C, k, j, i)
        spacing, _ = _nifti_spacing(img)
        affine = np.asarray(img.affine, dtype=np.float64)
        return array, (spacing, _orientation(affine), affine, FORMAT_NIFTI)
    if os.fspath(path).lower().endswith(NPY_SUFFIX):
        data = _decode(path, lambda: np.load(path, allow_pickle=False))
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


def _histogram(values: np.ndarray, vmax: int) -> dict[int, int]:
    if vmax < 2**16:  # class indices: one bincount pass, no sort
        counts = np.bincount(values.ravel(), minlength=1)
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


def _check_readable(path: Path) -> None:
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise MaskFileError(
            path,
            expected="a volume file",
            found=f"a path that cannot be opened ({exc.strerror})",
            hint="Check that the file exists and is readable, or remove it from the dataset.",
        ) from exc
    if size == 0:
        raise MaskFileError(
            path,
            expected="a volume file",
            found="an empty file (0 bytes)",
            hint="The export or copy failed; re-export the volume or remove the file.",
        )


def _load_nifti(path: Path):
    import nibabel  # imported here: 2-D users never pay for it

    try:
        return nibabel.load(path)
    except Exception as exc:  # nibabel raises ImageFileError, EOFError, OSError, zlib errors ...
        raise MaskFileError(
            path,
            expected="a readable NIfTI file",
            found=f"a file whose header cannot be read ({type(exc).__name__}: {_without_path(exc, path)})",
            hint="The file is truncated, corrupt or not NIfTI; re-export it or remove it from the dataset.",
        ) from exc


def _decode(path: Path, load):
    try:
        return load()
    except MemoryError as exc:
        raise MaskFileError(
            path,
            expected="a volume that fits in memory",
            found="not enough memory to decode it",
            hint="Use fewer --workers so each has more memory, or leave the file out.",
        ) from exc
    except Exception as exc:  # a truncated gzip: EOFError / zlib.error / OSError; a short .npy: ValueError
        kind = "NIfTI" if nifti_suffix(path) else "NPY"
        raise MaskFileError(
            path,
            expected=f"a readable {kind} volume",
            found=f"a file whose voxels cannot be decoded ({type(exc).__name__}: {_without_path(exc, path)})",
            hint="The file is truncated or corrupt (an interrupted download or copy?); re-export it or "
            "remove it from the dataset.",
        ) from exc


def _without_path(exc: Exception, path: Path) -> str:
    """The exception's text with the file's full path replaced by its name (profile.json is shared, and the
    skipped list already names the file)."""
    text = str(exc)
    for form in {os.fspath(path), os.fspath(path.absolute())}:
        text = text.replace(form, path.name)
    return text


def _array_order(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A NIfTI shape ``(i, j, k, ...)`` in array order ``(k, j, i, ...)``."""
    if len(shape) < 3:
        return shape
    return (shape[2], shape[1], shape[0], *shape[3:])


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


def _nifti_spacing(img) -> tuple[tuple[float, float, float], bool]:
    """Voxel size in mm in array order ``(k, j, i)``; (1, 1, 1) and False when the header has none."""
    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    zooms += [0.0] * (3 - len(zooms))
    if not all(np.isfinite(z) and z > 0 for z in zooms):
        return (UNKNOWN_SPACING_MM,) * 3, False
    return (zooms[2], zooms[1], zooms[0]), True


def _orientation(affine: np.ndarray) -> str:
    """Axis codes of the array axes ``(k, j, i)`` ("" when the affine has no direction, e.g. all zeros)."""
    import nibabel

    try:
        codes = nibabel.aff2axcodes(affine)
    except Exception:  # a singular or non-finite affine
        return ""
    if any(c is None for c in codes):
        return ""
    return "".join(reversed(codes))
