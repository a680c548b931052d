"""Pair images with masks by file stem, and read an image as RGB uint8.

A file without its partner is never dropped silently: :class:`Pairing` lists it, the tuner logs a warning and
records it in ``run.json``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lossadvisor._text import display_path, safe_text
from lossadvisor.errors import DataError, NoUsableDataError
from lossadvisor.io._decode import open_pillow

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})
MASK_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".bmp", ".npy", ".gif"})
# Percentiles that map a 16-bit or float image to 0-255 (robust to a few saturated pixels).
STRETCH_PERCENTILES = (0.5, 99.5)


@dataclass(frozen=True)
class Pair:
    """One training example: the shared stem and both paths."""

    stem: str
    image: Path
    mask: Path


@dataclass
class Pairing:
    """The result of matching two folders."""

    pairs: list[Pair]
    unpaired_images: list[str] = field(default_factory=list)
    unpaired_masks: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)  # "a.png, a.jpg" per stem with two files in one folder
    unreadable: list[str] = field(default_factory=list)  # links that lead nowhere (a loop, a missing target)

    def problems(self) -> list[str]:
        """One line per file left out, for logs and ``run.json`` (names made printable)."""
        lines = [f"{p}: image without a mask of the same stem" for p in self.unpaired_images]
        lines += [f"{p}: mask without an image of the same stem" for p in self.unpaired_masks]
        lines += list(self.ambiguous)
        lines += list(self.unreadable)
        return lines


def _by_stem(
    folder: Path, suffixes: frozenset[str], what: str, unreadable: list[str] | None = None
) -> tuple[dict[str, Path], dict[str, list]]:
    """Files by stem, and the stems held by several files (e.g. ``a.png`` and ``a.jpg``); a link that leads
    nowhere (a loop, a missing target) is listed in ``unreadable``, never dropped in silence."""
    if not folder.is_dir():
        raise DataError(
            f"The {what} folder {display_path(folder)} does not exist or is not a folder. Pass --{what} DIR "
            f"(default: ./{what})."
        )
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in suffixes:
            continue
        if path.is_file():
            groups[path.stem].append(path)
        elif path.is_symlink() and unreadable is not None:
            unreadable.append(f"{display_path(path)}: {_dead_link(path)}; fix or remove the link")
    unique = {stem: paths[0] for stem, paths in groups.items() if len(paths) == 1}
    duplicates = {stem: paths for stem, paths in groups.items() if len(paths) > 1}
    return unique, duplicates


def _dead_link(path: Path) -> str:
    import errno
    import os

    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic-link loop (the link points back to itself)"
        return f"a broken symbolic link to {display_path(os.readlink(path))}"
    return "a link to something that is not a file"


def _duplicate_line(stem: str, paths: list[Path], what: str, partner: Path | None) -> str:
    names = ", ".join(display_path(p) for p in paths)
    left = (
        f"; its {'mask' if what == 'images' else 'image'} {display_path(partner)} is left out too"
        if partner
        else ""
    )
    return (
        f"{names}: duplicate {what} (one stem, {len(paths)} files); it is unclear which one to pair{left}. "
        "Rename or remove all but one."
    )


def pair_files(images: str | Path, masks: str | Path) -> Pairing:
    """Match ``images/`` and ``masks/`` by file stem (``a.jpg`` with ``a.png``).

    Args:
        images: Folder of images (PNG, JPEG, TIFF, BMP; grey or RGB).
        masks: Folder of masks (PNG, TIFF, BMP, NPY).

    Returns:
        The pairs sorted by stem, and every file left out with the reason.

    Raises:
        DataError: A folder is missing.
        NoUsableDataError: No image has a mask.
    """
    unreadable: list[str] = []
    image_by_stem, dup_i = _by_stem(Path(images), IMAGE_SUFFIXES, "images", unreadable)
    mask_by_stem, dup_m = _by_stem(Path(masks), MASK_SUFFIXES, "masks", unreadable)
    common = sorted(set(image_by_stem) & set(mask_by_stem))
    # A file whose partner's stem is duplicated is reported with the duplicates, not as "without a partner".
    ambiguous = [_duplicate_line(s, p, "images", mask_by_stem.get(s)) for s, p in sorted(dup_i.items())]
    ambiguous += [_duplicate_line(s, p, "masks", image_by_stem.get(s)) for s, p in sorted(dup_m.items())]
    lonely_images = set(image_by_stem) - set(mask_by_stem) - set(dup_m)
    lonely_masks = set(mask_by_stem) - set(image_by_stem) - set(dup_i)
    pairing = Pairing(
        pairs=[Pair(s, image_by_stem[s], mask_by_stem[s]) for s in common],
        unpaired_images=[display_path(image_by_stem[s]) for s in sorted(lonely_images)],
        unpaired_masks=[display_path(mask_by_stem[s]) for s in sorted(lonely_masks)],
        unreadable=unreadable,
        ambiguous=ambiguous,
    )
    if not pairing.pairs:
        raise NoUsableDataError(
            f"No image in {display_path(images)} has a mask with the same file stem in {display_path(masks)} "
            f"({len(image_by_stem)} images, {len(mask_by_stem)} masks). Images and masks are paired by name "
            f"without extension, e.g. images/tile_01.jpg with masks/tile_01.png."
        )
    for line in pairing.problems():
        logger.warning("Left out %s", line)
    return pairing


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    lo, hi = np.percentile(array, STRETCH_PERCENTILES)
    if hi <= lo:
        return np.zeros(array.shape, dtype=np.uint8)
    scaled = (array.astype(np.float64) - lo) / (hi - lo) * 255.0
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _reason(exc: BaseException) -> str:
    """The error without the file's path (already named): a permission error says so."""
    if isinstance(exc, PermissionError):
        return "permission denied; give read permission or run as a user who can read it"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return safe_text(str(exc))


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as ``(H, W, 3)`` uint8: grey is repeated, alpha dropped, 16-bit and float stretched.

    Raises:
        DataError: The file cannot be decoded or has an unusable shape.
    """
    from PIL import UnidentifiedImageError

    path = Path(path)
    try:
        with open_pillow(path) as img:  # Pillow's bomb guard lifted, as for masks
            if img.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "1"):
                img = img.convert("RGB")
            array = np.asarray(img)
    except (UnidentifiedImageError, OSError, ValueError) as pil_error:
        if path.suffix.lower() not in (".tif", ".tiff"):
            raise DataError(f"Cannot decode image {display_path(path)}: {_reason(pil_error)}.") from pil_error
        import tifffile

        try:
            array = tifffile.imread(path)
        except Exception as exc:  # tifffile raises many kinds for a bad file
            raise DataError(f"Cannot decode image {display_path(path)}: {_reason(exc)}.") from exc
        if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[2] not in (3, 4):
            array = np.moveaxis(array, 0, -1)  # band-first GeoTIFF
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] < 1:
        raise DataError(
            f"Image {display_path(path)} has shape {array.shape}; expected (H, W) grey or (H, W, 3) colour."
        )
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 2:  # grey + alpha
        array = np.repeat(array[..., :1], 3, axis=2)
    elif array.shape[2] > 3:
        array = array[..., :3]
    if 0 in array.shape:
        raise DataError(f"Image {display_path(path)} is empty (shape {array.shape}).")
    _refuse_non_finite(path, array)
    return np.ascontiguousarray(_to_uint8(array))


def _refuse_non_finite(path: Path, array: np.ndarray) -> None:
    """A float image with NaN or infinite pixels cannot be stretched to 0-255 (its min/max are NaN, and the
    cast makes the whole tile black): the tile is skipped and listed, never trained on in silence."""
    if array.dtype.kind != "f":
        return
    finite = np.isfinite(array)
    if finite.all():
        return
    nan = int(np.isnan(array).sum())
    inf = int(array.size - finite.sum()) - nan
    found = " and ".join(f"{n} {what}" for n, what in ((nan, "NaN"), (inf, "infinite")) if n)
    raise DataError(
        f"Image {display_path(path)} holds {found} value(s) ({array.dtype}), which have no brightness; "
        f"replace them (e.g. with np.nan_to_num) or leave the file out. The tile was skipped."
    )
