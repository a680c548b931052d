"""``read_mask``: one file in, class indices out. The one entry point the profiler and the tuner share."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lossadvisor.errors import ConfigError
from lossadvisor.io._classmap import ClassMap, load_class_map
from lossadvisor.io._decode import DEFAULT_MAX_PIXELS, RawMask, decode_mask_file, to_layout
from lossadvisor.io._labels import DEFAULT_IGNORE_INDEX, interpret

# Largest pixel value an ignore index can name (int32 class arrays).
_IGNORE_LIMIT = 2**31 - 1


@dataclass(frozen=True, eq=False)
class MaskData:
    """A mask read from disk.

    Attributes:
        path: the file.
        labels: (H, W) class indices (uint8, or uint16 / int32 when a value needs it): 0 is the background;
            binary encodings are 0/1; ignored pixels hold ``ignore_index``.
        encoding: how the file stored the classes: "boolean", "binary 0/1", "binary 0/255", "binary 0/65535",
            "empty" (all background), "label values", "palette", "rgb class map" or "value class map".
        pixel_counts: pixels per class index present (ignored pixels excluded).
        ignored_pixels: pixels equal to the ignore index (or mapped to "ignore" by the class map).
        ignore_index: the value ignored pixels hold in ``labels`` (None when nothing is ignored).
        file_format: "PNG", "TIFF", "GeoTIFF", "NPY", ...
        grey_from_rgb: the file was RGB(A) with R = G = B and was read as grey.
        class_names: names by class index when a class map was given, else None.
        palette_colours: for a palette mask read by index (no class map), the RGB colour of each index
            present, so that files whose palettes disagree can be caught (an index must mean one colour).
    """

    path: Path
    labels: np.ndarray
    encoding: str
    pixel_counts: dict[int, int]
    ignored_pixels: int
    ignore_index: int | None
    file_format: str
    grey_from_rgb: bool = False
    class_names: tuple[str, ...] | None = None
    palette_colours: dict[int, tuple[int, int, int]] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape  # type: ignore[return-value]

    @property
    def foreground_pixels(self) -> int:
        return sum(c for i, c in self.pixel_counts.items() if i != 0)


def resolve_class_map(class_map: ClassMap | str | os.PathLike[str] | None) -> ClassMap | None:
    """Accept a :class:`ClassMap`, a path to one, or None."""
    if class_map is None or isinstance(class_map, ClassMap):
        return class_map
    if isinstance(class_map, (str, os.PathLike)):
        return load_class_map(class_map)
    raise ConfigError(
        f"class_map must be a ClassMap, a path to a JSON/CSV class map, or None; "
        f"got {type(class_map).__name__}."
    )


def check_ignore_index(ignore_index: int | None, class_map: ClassMap | None) -> None:
    """Validate ``ignore_index`` before any file is read."""
    if ignore_index is None:
        return
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise ConfigError(
            f"ignore_index must be an integer pixel value (e.g. 255) or None; got {ignore_index!r}."
        )
    if abs(int(ignore_index)) > _IGNORE_LIMIT:
        raise ConfigError(f"ignore_index must fit in 32 bits; got {ignore_index}.")
    if class_map is not None and 0 <= ignore_index < class_map.num_classes:
        raise ConfigError(
            f"ignore_index {ignore_index} is also a class index of the class map ({class_map.num_classes} "
            f"classes: 0..{class_map.num_classes - 1}); choose a value outside them, e.g. 255."
        )


def check_max_pixels(max_pixels: int | None) -> None:
    """Validate ``max_pixels`` (the ``--max-pixels`` option) before any file is read."""
    if max_pixels is None:
        return
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise ConfigError(
            f"max_pixels (--max-pixels) must be a positive number of pixels or None; got {max_pixels!r}."
        )


def read_mask(
    path: str | os.PathLike[str],
    *,
    class_map: ClassMap | str | os.PathLike[str] | None = None,
    ignore_index: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> MaskData:
    """Read one segmentation mask as class indices.

    Binary masks stored as booleans, 0/1 or 0/255 all come back as 0/1; grey masks saved as RGB(A) with
    R = G = B are read as grey; other grey values are class indices as they are. Colour-coded masks (RGB, or a
    palette whose colours carry the classes) need ``class_map``; indices then follow the class map (background
    0). Use ``MaskData.labels`` as a training target: ``torch.from_numpy(m.labels.astype("int64"))``.

    Args:
        path: a PNG (8/16-bit grey, palette, RGB/RGBA), TIFF/GeoTIFF, BMP, GIF or ``.npy`` file.
        class_map: a :class:`ClassMap` or the path of a JSON/CSV class map (see :mod:`lossadvisor.io`).
        ignore_index: a raw pixel value to exclude (e.g. 255 for VOC-style boundaries). Those pixels keep this
            value in ``labels`` and are not counted in ``pixel_counts``.
        max_pixels: the largest mask read (height x width), checked before decoding; default 1e9. Pillow's
            own decompression-bomb limit (~179 MPix) does not apply to masks. None: no limit.

    Returns:
        A :class:`MaskData`.

    Raises:
        MaskFileError: the file is unreadable, empty, corrupt, larger than ``max_pixels``, a photo, or holds
            values the class map does not declare (the message names the file, what was expected, what was
            found and what to do).
        ConfigError: ``class_map`` or ``ignore_index`` is invalid.

    Example:
        >>> m = read_mask("examples/buildings/masks/austin1_0.tif")
        >>> m.encoding, m.labels.shape, sorted(m.pixel_counts)
        ('binary 0/255', (256, 256), [0, 1])
    """
    cmap = resolve_class_map(class_map)
    check_ignore_index(ignore_index, cmap)
    check_max_pixels(max_pixels)
    path = Path(path)
    return _mask_data(path, decode_mask_file(path, max_pixels=max_pixels), cmap, ignore_index)


def _mask_data(path: Path, raw: RawMask, cmap: ClassMap | None, ignore_index: int | None) -> MaskData:
    """Interpret decoded values into a :class:`MaskData`: one place for files and in-memory arrays alike."""
    labels, encoding, counts, ignored = interpret(path, raw, class_map=cmap, ignore_index=ignore_index)
    return MaskData(
        path=path,
        labels=labels,
        encoding=encoding,
        pixel_counts=counts,
        ignored_pixels=ignored,
        ignore_index=(
            ignore_index if ignore_index is not None else (DEFAULT_IGNORE_INDEX if ignored else None)
        ),
        file_format=raw.file_format,
        grey_from_rgb=raw.grey_from_rgb,
        class_names=cmap.names if cmap is not None else None,
        palette_colours=_palette_colours(raw, counts) if cmap is None else None,
    )


def _palette_colours(raw, counts: dict[int, int]) -> dict[int, tuple[int, int, int]] | None:
    if raw.layout != "palette" or raw.palette is None:
        return None
    palette = raw.palette
    return {i: tuple(int(v) for v in palette[i]) for i in counts if 0 <= i < len(palette)}


ARRAY_FORMAT = "array"


def mask_from_array(
    array: np.ndarray,
    *,
    name: str,
    class_map: ClassMap | str | os.PathLike[str] | None = None,
    ignore_index: int | None = None,
) -> MaskData:
    """Interpret an in-memory mask exactly as :func:`read_mask` interprets a file with the same values.

    For masks that are not files (an HDF5 stack, a ``torch.utils.data.Dataset``): 0/1, 0/255 and boolean
    masks come back as 0/1, other values as class indices, colours through ``class_map``.

    Args:
        array: ``(H, W)`` integer or boolean values (or ``(H, W, 3)`` colours with a class map); a torch
            tensor is accepted too.
        name: What error messages and the skipped list call it (e.g. "train[12]").
        class_map: As for :func:`read_mask`.
        ignore_index: As for :func:`read_mask`.

    Raises:
        MaskFileError: The values cannot be a mask (floats, negatives, a photo); the message names ``name``.

    Example:
        >>> m = mask_from_array(np.array([[0, 255], [255, 0]], dtype=np.uint8), name="a")
        >>> m.encoding, m.labels.tolist()
        ('binary 0/255', [[0, 1], [1, 0]])
    """
    cmap = resolve_class_map(class_map)
    check_ignore_index(ignore_index, cmap)
    path = Path(name)
    if hasattr(array, "detach"):  # a torch tensor, without importing torch here
        array = array.detach().cpu().numpy()
    return _mask_data(path, to_layout(path, np.asarray(array), None, ARRAY_FORMAT), cmap, ignore_index)
