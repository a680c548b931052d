"""Decode one mask file into an array, before any meaning is given to its values.

PNG, BMP and GIF go through Pillow, TIFF / GeoTIFF through tifffile, ``.npy`` through NumPy (never
unpickling). The result is either a single-channel array (grey values, palette indices or booleans) or an RGB
array; an RGB(A) file whose three channels are equal (a grey mask saved as colour, common in exported
datasets) comes back as grey. Everything that goes wrong becomes a
:class:`~lossadvisor.io.MaskFileError` naming the file.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lossadvisor.io._discover import LOSSY_SUFFIXES
from lossadvisor.io._errors import MaskFileError

_TIFF_SUFFIXES = frozenset({".tif", ".tiff"})
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


def decode_mask_file(path: Path) -> RawMask:
    """Decode ``path``; raise :class:`MaskFileError` for anything that is not a readable 2-D mask."""
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix in LOSSY_SUFFIXES:
        raise MaskFileError(
            path,
            expected="a lossless mask (PNG, TIFF, NPY)",
            found="a JPEG file",
            hint="JPEG compression invents new values along every edge; re-export the masks as PNG.",
        )
    try:
        if suffix == ".npy":
            array, palette, fmt = _read_npy(path), None, "NPY"
        elif suffix in _TIFF_SUFFIXES:
            try:
                array, palette, fmt = _read_tiff(path)
            except ValueError as exc:
                if "imagecodecs" not in str(exc):
                    raise
                # tifffile decodes LZW / Deflate / JPEG tiles only with the optional imagecodecs package;
                # Pillow reads the common compressions natively, so it takes over for those files.
                array, palette, fmt = _read_pillow(path)
        else:
            array, palette, fmt = _read_pillow(path)
    except MaskFileError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # decoders raise anything on a corrupt file (OSError, ValueError, struct.error)
        kind = "TIFF" if suffix in _TIFF_SUFFIXES else suffix.lstrip(".").upper() or "image"
        raise MaskFileError(
            path,
            expected=f"a readable {kind} file",
            found=f"a file that cannot be decoded ({type(exc).__name__}: {exc})",
            hint="The file is truncated or corrupt; re-export it or remove it from the dataset.",
        ) from exc
    return _to_layout(path, array, palette, fmt)


def _check_file(path: Path) -> None:
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            found = "a symbolic-link loop (the link points back to itself)"
        elif exc.errno == errno.ENOENT and os.path.islink(path):
            found = f"a broken symbolic link to {os.readlink(path)}"
        else:
            found = f"a path that cannot be opened ({exc.strerror})"
        raise MaskFileError(
            path, expected="a mask file", found=found, hint="Fix or remove the link."
        ) from exc
    if st.st_size == 0:
        raise MaskFileError(
            path,
            expected="a mask image",
            found="an empty file (0 bytes)",
            hint="The export or copy failed; re-export the mask or remove the file.",
        )


def _read_npy(path: Path) -> np.ndarray:
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


def _read_tiff(path: Path) -> tuple[np.ndarray, np.ndarray | None, str]:
    import tifffile  # imported here: only TIFF datasets pay for it

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        page = series.pages[0] if series.pages else tif.pages[0]
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


def _read_pillow(path: Path) -> tuple[np.ndarray, np.ndarray | None, str]:
    from PIL import Image

    with Image.open(path) as image:
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
        array = np.asarray(image)
        palette = None
        if image.mode == "P":
            flat = image.getpalette("RGB") or []
            palette = np.asarray(flat, dtype=np.uint8).reshape(-1, 3)
    return array, palette, fmt


def _to_layout(path: Path, array: np.ndarray, palette: np.ndarray | None, fmt: str) -> RawMask:
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
