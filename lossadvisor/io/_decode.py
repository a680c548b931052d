"""Decode one mask file into an array, before any meaning is given to its values.

PNG, BMP and GIF go through Pillow, TIFF / GeoTIFF through tifffile, ``.npy`` through NumPy (never
unpickling). The result is either a single-channel array (grey values, palette indices or booleans) or an RGB
array; an RGB(A) file whose three channels are equal (a grey mask saved as colour, common in exported
datasets) comes back as grey. Everything that goes wrong becomes a
:class:`~lossadvisor.io.MaskFileError` naming the file, with advice that fits what went wrong (a permission,
a size over ``--max-pixels``, a truncated file, too little memory).

Size: Pillow refuses images over ~179 MPix as possible decompression bombs, but 20000x20000 aerial or slide
masks are ordinary. lossadvisor lifts Pillow's guard for masks deliberately and applies its own limit,
``max_pixels`` (``--max-pixels``, default 1e9: 1 GB decoded at one byte per pixel), checked from the header
before any pixel is decoded. Large images are copied out of Pillow in row bands, so decoding peaks at about
twice the decoded mask instead of three times.
"""

from __future__ import annotations

import errno
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lossadvisor.io._discover import LOSSY_SUFFIXES, VOLUME_NAME_SUFFIXES
from lossadvisor.io._errors import MaskFileError, display_path

_TIFF_SUFFIXES = frozenset({".tif", ".tiff"})
# The default --max-pixels: 1e9 pixels is 1 GB decoded at one byte per pixel (a 31623 x 31623 mask).
DEFAULT_MAX_PIXELS = 1_000_000_000
# Images above this many pixels are copied out of Pillow in bands of about this many pixels.
_BAND_PIXELS = 16 * 2**20
_PILLOW_GUARD = threading.Lock()  # Image.MAX_IMAGE_PIXELS is process-wide: lift it for one open at a time
_PIL_MODES = {"1", "L", "P", "I", "I;16", "I;16B", "I;16L", "LA", "RGB", "RGBA", "RGBX"}


@dataclass(frozen=True, eq=False)
class RawMask:
    """A decoded mask whose values have not been interpreted yet.

    Attributes:
        array: (H, W) for grey / palette / bool, (H, W, 3) for colour.
        layout: "grey", "palette", "bool" or "rgb".
        palette: (N, 3) uint8 colours of a palette image, else None.
        file_format: e.g. "PNG", "TIFF", "NPY".
        grey_from_rgb: True when an RGB(A) file with R = G = B was read as grey.
    """

    array: np.ndarray
    layout: str
    palette: np.ndarray | None
    file_format: str
    grey_from_rgb: bool = False


def decode_mask_file(path: Path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> RawMask:
    """Decode ``path``; raise :class:`MaskFileError` for anything that is not a readable 2-D mask.

    ``max_pixels`` (None: no limit) is checked from the file's header, before decoding.
    """
    _check_file(path)
    suffix = path.suffix.lower()
    if path.name.lower().endswith(VOLUME_NAME_SUFFIXES):
        raise MaskFileError(
            path,
            expected="a 2-D mask (the other files here are 2-D masks)",
            found="a 3-D NIfTI volume",
            hint="Profile label volumes in a folder of their own; they are recognised without a flag.",
        )
    if suffix in LOSSY_SUFFIXES:
        raise MaskFileError(
            path,
            expected="a lossless mask (PNG, TIFF, NPY)",
            found="a JPEG file",
            hint="JPEG compression invents new values along every edge; re-export the masks as PNG.",
        )
    try:
        if suffix == ".npy":
            array, palette, fmt = _read_npy(path, max_pixels), None, "NPY"
        elif suffix in _TIFF_SUFFIXES:
            try:
                array, palette, fmt = _read_tiff(path, max_pixels)
            except ValueError as exc:
                if "imagecodecs" not in str(exc):
                    raise
                # tifffile decodes LZW / Deflate / JPEG tiles only with the optional imagecodecs package;
                # Pillow reads the common compressions natively, so it takes over for those files.
                array, palette, fmt = _read_pillow(path, max_pixels)
        else:
            array, palette, fmt = _read_pillow(path, max_pixels)
    except MaskFileError:
        raise
    except PermissionError as exc:
        raise MaskFileError(
            path,
            expected="a mask file this user may read",
            found=f"a file that cannot be opened ({exc.strerror or 'permission denied'})",
            hint="Give read permission (e.g. chmod a+r on the file) or run as a user who can read it.",
        ) from exc
    except MemoryError as exc:
        raise MaskFileError(
            path,
            expected="a mask that fits in memory",
            found="not enough memory to decode it",
            hint="Use fewer --workers so each has more memory, or leave the file out.",
        ) from exc
    except OSError as exc:
        if exc.errno is not None and exc.strerror:  # an I/O error from the system, not from a decoder
            raise MaskFileError(
                path,
                expected="a readable mask file",
                found=f"a read error ({exc.strerror})",
                hint="Check the disk or network share the file is on, then run again.",
            ) from exc
        raise _corrupt(path, suffix, exc) from exc
    except Exception as exc:  # decoders raise anything on a corrupt file (OSError, ValueError, struct.error)
        raise _corrupt(path, suffix, exc) from exc
    return to_layout(path, array, palette, fmt)


def _corrupt(path: Path, suffix: str, exc: Exception) -> MaskFileError:
    kind = "TIFF" if suffix in _TIFF_SUFFIXES else suffix.lstrip(".").upper() or "image"
    return MaskFileError(
        path,
        expected=f"a readable {kind} file",
        found=f"a file that cannot be decoded ({type(exc).__name__}: {exc})",
        hint="The file is truncated or corrupt; re-export it or remove it from the dataset.",
    )


def check_pixels(path: Path, height: int, width: int, max_pixels: int | None) -> None:
    """Refuse a mask larger than ``max_pixels`` before it is decoded, naming the option that allows it."""
    pixels = int(height) * int(width)
    if max_pixels is None or pixels <= max_pixels:
        return
    raise MaskFileError(
        path,
        expected=f"a mask of at most {max_pixels:,} pixels (--max-pixels)",
        found=f"{width} x {height} = {pixels:,} pixels",
        hint=f"If it is a genuine mask, raise the limit (--max-pixels {pixels}); profiling needs about "
        f"{3 * pixels / 2**30:.1f} GiB per worker for it. Otherwise leave the file out.",
    )


def _check_file(path: Path) -> None:
    try:
        st = os.stat(path)
    except OSError as exc:
        hint = "Fix or remove the link."
        if exc.errno == errno.ELOOP:
            found = "a symbolic-link loop (the link points back to itself)"
        elif exc.errno == errno.ENOENT and os.path.islink(path):
            found = f"a broken symbolic link to {display_path(os.readlink(path))}"
        elif exc.errno in (errno.EACCES, errno.EPERM):
            found = f"a path this user may not open ({exc.strerror})"
            hint = "Give read permission on the file and its folders, or run as a user who can read them."
        else:
            found = f"a path that cannot be opened ({exc.strerror})"
            hint = (
                "Check that the file still exists and its disk is reachable, or remove it from the dataset."
            )
        raise MaskFileError(path, expected="a mask file", found=found, hint=hint) from exc
    if st.st_size == 0:
        raise MaskFileError(
            path,
            expected="a mask image",
            found="an empty file (0 bytes)",
            hint="The export or copy failed; re-export the mask or remove the file.",
        )


def _read_npy(path: Path, max_pixels: int | None) -> np.ndarray:
    with open(path, "rb") as f:  # noqa: PTH123
        try:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape = read_header(f)[0]
        except ValueError:
            shape = ()  # np.load below reports what is wrong with the file
    if len(shape) >= 2:
        check_pixels(path, shape[0], shape[1], max_pixels)
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise MaskFileError(
                path,
                expected="a numeric .npy array",
                found="an object array (pickled data)",
                hint="Save the mask with np.save(path, mask.astype(np.uint8)).",
            ) from exc
        raise


def _read_tiff(path: Path, max_pixels: int | None) -> tuple[np.ndarray, np.ndarray | None, str]:
    import tifffile  # imported here: only TIFF datasets pay for it

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        page = series.pages[0] if series.pages else tif.pages[0]
        shape = [n for n in series.shape if n not in (1, 3, 4)] or list(series.shape)
        if len(shape) >= 2:
            check_pixels(path, *sorted(shape)[-2:], max_pixels)
        array = series.asarray()
        palette = None
        if page is not None and getattr(page, "photometric", None) == tifffile.PHOTOMETRIC.PALETTE:
            colormap = np.asarray(page.colormap)  # (3, N) uint16
            palette = (
                (colormap.T >> 8).astype(np.uint8) if colormap.max() > 255 else colormap.T.astype(np.uint8)
            )
        fmt = "GeoTIFF" if any(tag.name.startswith("GeoKey") for tag in page.tags) else "TIFF"
    array = np.squeeze(array) if array.ndim > 2 and 1 in array.shape[:-2] else array
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[2] not in (3, 4):  # planar (C, H, W)
        array = np.moveaxis(array, 0, -1)
    return array, palette, fmt


def open_pillow(path: Path):
    """``Image.open`` with Pillow's decompression-bomb guard lifted: --max-pixels is the limit for masks."""
    from PIL import Image

    with _PILLOW_GUARD, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _pillow_array(image) -> np.ndarray:
    """The pixels of a loaded Pillow image; large images are copied in row bands (peak ~2x, not ~3x)."""
    width, height = image.size
    if width * height <= _BAND_PIXELS:
        return np.asarray(image)
    rows = max(1, _BAND_PIXELS // max(1, width))
    first = np.asarray(image.crop((0, 0, width, min(rows, height))))
    out = np.empty((height, *first.shape[1:]), dtype=first.dtype)
    out[: first.shape[0]] = first
    for top in range(first.shape[0], height, rows):
        out[top : top + rows] = np.asarray(image.crop((0, top, width, min(top + rows, height))))
    return out


def _read_pillow(path: Path, max_pixels: int | None) -> tuple[np.ndarray, np.ndarray | None, str]:
    with open_pillow(path) as image:
        check_pixels(path, image.height, image.width, max_pixels)
        fmt = image.format or path.suffix.lstrip(".").upper()
        if image.mode not in _PIL_MODES:
            raise MaskFileError(
                path,
                expected="a grey, palette or RGB mask",
                found=f"a {fmt} image in mode {image.mode}",
                hint="Save the mask as 8-bit grey (mode L) or as a palette PNG.",
            )
        if getattr(image, "n_frames", 1) > 1:
            raise MaskFileError(
                path,
                expected="one 2-D mask",
                found=f"an animation of {image.n_frames} frames",
                hint="Save one mask per file.",
            )
        image.load()
        array = _pillow_array(image)
        palette = None
        if image.mode == "P":
            flat = image.getpalette("RGB") or []
            palette = np.asarray(flat, dtype=np.uint8).reshape(-1, 3)
    return array, palette, fmt


def to_layout(path: Path, array: np.ndarray, palette: np.ndarray | None, fmt: str) -> RawMask:
    if array.dtype.kind == "f":
        nan = int(np.isnan(array).sum())
        found = f"{array.dtype} data" + (
            f" with {nan} NaN value(s)" if nan else f" (values like {array.flat[0]!r})"
        )
        raise MaskFileError(
            path,
            expected="integer or boolean class values",
            found=found,
            hint="Masks hold class indices; save them as integers (mask.astype(np.uint8)) "
            "after thresholding any probabilities.",
        )
    if array.dtype.kind not in "biu":
        raise MaskFileError(
            path,
            expected="integer or boolean class values",
            found=f"{array.dtype} data",
            hint="Save the mask as an integer array.",
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[2] == 2:  # grey + alpha: the alpha channel carries no class
        array = array[..., 0]
    if array.ndim == 2:
        layout = "bool" if array.dtype == np.bool_ else ("palette" if palette is not None else "grey")
        return RawMask(array, layout, palette, fmt)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        rgb = array[..., :3]
        red = rgb[..., 0]
        if np.array_equal(red, rgb[..., 1]) and np.array_equal(red, rgb[..., 2]):
            return RawMask(np.ascontiguousarray(red), "grey", None, fmt, grey_from_rgb=True)
        return RawMask(rgb, "rgb", None, fmt)
    raise MaskFileError(
        path,
        expected="one 2-D mask (H, W) or a colour mask (H, W, 3)",
        found=f"an array of shape {array.shape}",
        hint="Save one mask per file; stacks and volumes are not supported.",
    )
