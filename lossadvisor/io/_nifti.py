"""NIfTI files at the byte level: open, read the header alone, decode the voxels into one array, and turn
the header's zooms and affine into spacing and axis codes in the arrays' ``(D, H, W)`` = ``(k, j, i)`` order.

nibabel is imported inside the functions, so 2-D users and ``--help`` never load it. Every failure becomes a
:class:`~lossadvisor.io.MaskFileError` naming the file, with nibabel's own text stripped of the full path
(``profile.json`` is shared; the skipped list already names the file).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lossadvisor.io._errors import MaskFileError

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


def check_readable(path: Path) -> None:
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


def load_nifti(path: Path):
    import nibabel  # imported here: 2-D users never pay for it

    try:
        try:  # NIfTI-1 directly: nibabel.load first sniffs the file against every format it knows (slower)
            return nibabel.Nifti1Image.from_filename(path)
        except Exception:
            return nibabel.load(path)  # NIfTI-2, or the error that says what the file is
    except Exception as exc:  # nibabel raises ImageFileError, EOFError, OSError, zlib errors ...
        raise MaskFileError(
            path,
            expected="a readable NIfTI file",
            found=f"a file whose header cannot be read ({type(exc).__name__}: {_without_path(exc, path)})",
            hint="The file is truncated, corrupt or not NIfTI; re-export it or remove it from the dataset.",
        ) from exc


def decode_volume(path: Path, load):
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


# Bytes read from a volume file per call (a gzip stream buffers one request: 4 MiB at most).
_READ_CHUNK = 4 * 2**20


def read_dataobj(img) -> np.ndarray:
    """The stored values of a NIfTI, read straight into one array (``np.asanyarray(img.dataobj)`` holds the
    decompressed bytes and a copy: twice the volume). Scaled data (slope / intercept) go through nibabel."""
    proxy = img.dataobj
    slope, inter = getattr(proxy, "slope", 1.0), getattr(proxy, "inter", 0.0)
    if not hasattr(proxy, "offset") or (slope, inter) != (1.0, 0.0) or getattr(proxy, "order", "F") != "F":
        return np.asanyarray(proxy)
    import nibabel

    out = np.empty(proxy.shape, dtype=proxy.dtype, order="F")
    view = memoryview(out.T).cast("B")  # out.T is C-contiguous, with the file's byte order
    with nibabel.openers.ImageOpener(proxy.file_like) as stream:
        stream.seek(proxy.offset)
        got = 0
        while got < len(view):  # in chunks: GzipFile.readinto reads a whole request into a bytes object first
            n = stream.readinto(view[got : got + _READ_CHUNK])
            if not n:
                raise EOFError(f"the file ends after {got:,} of {len(view):,} bytes of voxel data")
            got += n
    return out


def _without_path(exc: Exception, path: Path) -> str:
    """The exception's text with the file's full path replaced by its name (profile.json is shared, and the
    skipped list already names the file)."""
    text = str(exc)
    for form in {os.fspath(path), os.fspath(path.absolute())}:
        text = text.replace(form, path.name)
    return text


def array_order(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A NIfTI shape ``(i, j, k, ...)`` in array order ``(k, j, i, ...)``."""
    if len(shape) < 3:
        return shape
    return (shape[2], shape[1], shape[0], *shape[3:])


def nifti1_header(path: Path):
    """The NIfTI-1 header alone (348 bytes, a quarter of the time of opening the image), or None when the
    file is not a readable NIfTI-1 (the caller then asks nibabel, which names the problem)."""
    import gzip

    import nibabel

    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as stream:
            return nibabel.Nifti1Header.from_fileobj(stream, check=True)
    except Exception:
        return None


def nifti_spacing(img) -> tuple[tuple[float, float, float], bool]:
    """Voxel size in mm in array order ``(k, j, i)``; (1, 1, 1) and False when the header has none."""
    return header_spacing(img.header)


def header_spacing(header) -> tuple[tuple[float, float, float], bool]:
    zooms = [float(z) for z in header.get_zooms()[:3]]
    zooms += [0.0] * (3 - len(zooms))
    if not all(np.isfinite(z) and z > 0 for z in zooms):
        return (UNKNOWN_SPACING_MM,) * 3, False
    return (zooms[2], zooms[1], zooms[0]), True


def axis_codes(affine: np.ndarray) -> str:
    """Axis codes of the array axes ``(k, j, i)`` ("" when the affine has no direction, e.g. all zeros)."""
    import nibabel

    try:
        codes = nibabel.aff2axcodes(affine)
    except Exception:  # a singular or non-finite affine
        return ""
    if any(c is None for c in codes):
        return ""
    return "".join(reversed(codes))
