"""Give meaning to decoded values: class indices, the binary encodings (0/1, 0/255, bool), class maps, ignore.

Without a class map the values are the class indices, except for the binary encodings, which are recognised
per file: booleans, 0/1, and 0/255 (0/65535 for 16-bit), all read as background 0 / foreground 1. A pixel
equal to ``ignore_index`` (a raw value, e.g. 255 for boundary pixels) keeps that value in the output and is
counted apart. Colour-coded masks need a class map; an RGB file without one is rejected, with a message that
tells a photo (thousands of colours) from a colour-coded mask (a few colours).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from lossadvisor.io._classmap import ClassMap, Key
from lossadvisor.io._decode import RawMask
from lossadvisor.io._errors import MaskFileError

ENCODING_BOOLEAN = "boolean"
ENCODING_BINARY_01 = "binary 0/1"
ENCODING_BINARY_0255 = "binary 0/255"
ENCODING_BINARY_065535 = "binary 0/65535"
ENCODING_EMPTY = "empty"  # all background: any encoding could have written it
ENCODING_LABELS = "label values"
ENCODING_PALETTE = "palette"
ENCODING_RGB_MAP = "rgb class map"
ENCODING_VALUE_MAP = "value class map"
# (labels, encoding, pixel count per class index (ignored pixels excluded), ignored pixel count)
Interpreted = tuple[np.ndarray, str, dict[int, int], int]
BINARY_ENCODINGS = frozenset(
    {ENCODING_BOOLEAN, ENCODING_BINARY_01, ENCODING_BINARY_0255, ENCODING_BINARY_065535}
)

# An RGB file with more distinct colours than this is taken for a photo rather than a colour-coded mask.
MAX_CODED_COLOURS = 64
# A grey file with more distinct values than this is taken for a photo: label masks of even the large
# benchmarks (ADE20K, 150 classes) hold far fewer classes in one image.
MAX_DISTINCT_LABELS = 100
# Written on pixels a class map marks "ignore"/"void" when no --ignore-index is given (the PyTorch/VOC habit).
DEFAULT_IGNORE_INDEX = 255
# How many unexpected values or colours a message lists.
_SHOWN = 3
# float32 holds integer counts exactly up to 2**24: cv2.calcHist is run on chunks no larger than that.
_EXACT_FLOAT32_COUNT = 2**24


def histogram(labels: np.ndarray) -> dict[int, int]:
    """Pixel count of every value present in an integer array (fast path for uint8)."""
    if labels.dtype == np.uint8:
        rows = max(1, _EXACT_FLOAT32_COUNT // max(1, labels.shape[1]))
        counts = np.zeros(256, dtype=np.int64)
        for start in range(0, labels.shape[0], rows):
            chunk = np.ascontiguousarray(labels[start : start + rows])
            counts += cv2.calcHist([chunk], [0], None, [256], [0, 256]).ravel().astype(np.int64)
        nonzero = np.flatnonzero(counts)
        return {int(v): int(counts[v]) for v in nonzero}
    values, counts = np.unique(labels, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


def label_dtype(max_value: int, ignore_index: int | None) -> np.dtype:
    """The smallest integer dtype that holds every class index and the ignore value."""
    low = min(0, ignore_index if ignore_index is not None else 0)
    high = max(max_value, ignore_index if ignore_index is not None else 0)
    if low >= 0 and high <= 255:
        return np.dtype(np.uint8)
    if low >= 0 and high <= 65535:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


def interpret(
    path: Path, raw: RawMask, *, class_map: ClassMap | None, ignore_index: int | None
) -> Interpreted:
    """Turn a decoded mask into class indices.

    Returns:
        (labels, encoding, pixel count per class index (ignored pixels excluded), ignored pixel count).
    """
    if class_map is not None:
        return _with_class_map(path, raw, class_map, ignore_index)
    if raw.layout == "rgb":
        raise _rgb_without_map(path, raw.array)
    array = raw.array
    if raw.layout == "bool":
        # astype, not view: Pillow's 1-bit images ("1") store True as the byte 255, which a view keeps.
        labels = array.astype(np.uint8)
        fg = int(cv2.countNonZero(labels))
        encoding = ENCODING_BOOLEAN if fg else ENCODING_EMPTY
        return labels, encoding, _binary_counts(labels.size, fg), 0
    ignored_mask = None
    ignored = 0
    if ignore_index is not None:
        ignored_mask = array == ignore_index
        ignored = int(np.count_nonzero(ignored_mask))
    valid = array
    if ignored:
        valid = array.copy()
        valid[ignored_mask] = 0
    vmin, vmax = int(valid.min()), int(valid.max())
    if vmin < 0:
        raise MaskFileError(
            path,
            expected="class indices >= 0",
            found=f"negative values (minimum {vmin})",
            hint="If a negative value marks pixels to ignore, pass it as --ignore-index.",
        )
    if raw.layout == "palette":
        counts = histogram(valid) if not ignored else _subtract(histogram(valid), 0, ignored)
        return _finish(
            array, counts, ENCODING_PALETTE if vmax else ENCODING_EMPTY, ignored_mask, ignore_index
        )
    if vmax == 0:
        counts = {0: array.size - ignored} if array.size > ignored else {}
        return _finish(array, counts, ENCODING_EMPTY, ignored_mask, ignore_index)
    fg = int(np.count_nonzero(valid))
    at_max = int(np.count_nonzero(valid == vmax))
    binary_code = {1: ENCODING_BINARY_01, 255: ENCODING_BINARY_0255, 65535: ENCODING_BINARY_065535}.get(vmax)
    if fg == at_max and binary_code is not None:
        labels = (valid == vmax).view(np.uint8) if vmax != 1 else valid
        return _finish(
            labels, _binary_counts(array.size - ignored, fg), binary_code, ignored_mask, ignore_index
        )
    counts = histogram(valid)
    if len(counts) > MAX_DISTINCT_LABELS:
        raise MaskFileError(
            path,
            expected="a mask of class indices",
            found=f"{len(counts)} distinct grey values ({vmin}..{vmax}), which looks like a grey photo",
            hint="Point SOURCE at the masks, not the images; grey-coded classes need --class-map FILE.",
        )
    if ignored:
        counts = _subtract(counts, 0, ignored)
    return _finish(valid, counts, ENCODING_LABELS, ignored_mask, ignore_index)


def _binary_counts(counted: int, fg: int) -> dict[int, int]:
    return {0: counted - fg, 1: fg} if fg else {0: counted}


def _subtract(counts: dict[int, int], value: int, amount: int) -> dict[int, int]:
    counts = dict(counts)
    counts[value] -= amount  # ignored pixels were set to 0 before counting
    if counts[value] == 0:
        del counts[value]
    return counts


def _finish(
    labels: np.ndarray,
    counts: dict[int, int],
    encoding: str,
    ignored_mask: np.ndarray | None,
    ignore_index: int | None,
) -> Interpreted:
    """Cast to the smallest dtype and put ``ignore_index`` back on the ignored pixels."""
    ignored = int(np.count_nonzero(ignored_mask)) if ignored_mask is not None else 0
    dtype = label_dtype(max(counts, default=0), ignore_index if ignored else None)
    out = labels.astype(dtype, copy=False)
    if ignored:
        if not out.flags.writeable:  # the decoder's own buffer (e.g. NumPy's view of a Pillow image)
            out = out.copy()
        out[ignored_mask] = ignore_index
    return out, encoding, counts, ignored


def _rgb_without_map(path: Path, rgb: np.ndarray) -> MaskFileError:
    colours, counts = _colours(rgb)
    if len(colours) > MAX_CODED_COLOURS:
        return MaskFileError(
            path,
            expected="a mask (one channel, or RGB colour-coded with --class-map)",
            found=f"an RGB image with {len(colours):,} distinct colours, which looks like a photo",
            hint="Point SOURCE at the masks, not the images; colour-coded masks need --class-map FILE.",
        )
    ordered = tuple(tuple(int(v) for v in c) for c in colours[np.argsort(-counts)])
    top = ", ".join(str(c) for c in ordered[:_SHOWN])
    return MaskFileError(
        path,
        expected="a single-channel mask, or a class map for colour-coded masks",
        found=f"an RGB mask with {len(colours)} colours (e.g. {top})",
        hint="Pass --class-map FILE mapping each colour to a class name (JSON or CSV).",
        colours=ordered,
    )


def _colours(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    packed = _pack(rgb)
    values, counts = np.unique(packed, return_counts=True)
    return np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=1), counts


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32, copy=False)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _pack_key(key: Key) -> int:
    return (key[0] << 16) | (key[1] << 8) | key[2]


_UNKNOWN = -1
_IGNORED = -2
# Rows of a class-mapped mask are looked up in bands of about this many pixels (int64 keys: 32 MiB a band).
_MAP_BAND_PIXELS = 4 * 2**20


def _with_class_map(path: Path, raw: RawMask, cmap: ClassMap, ignore_index: int | None) -> Interpreted:
    """Map colours or values through the class map; unknown ones are an error that names them.

    Works in row bands of about ``_MAP_BAND_PIXELS``: the packed colour keys and the class look-up are int64
    (8 bytes per pixel), so a 20000x20000 colour mask mapped in one piece would need several times its own
    size; band by band, only the output labels are mask-sized.
    """
    keys_of, table, describe = _keys_and_table(path, raw, cmap)
    if ignore_index is not None and raw.layout != "rgb":
        table[ignore_index] = _IGNORED  # a raw value marked as ignored wins over the map
    table_keys = np.array(sorted(table), dtype=np.int64)
    table_vals = np.array([table[k] for k in sorted(table)], dtype=np.int64)
    ignore_out = ignore_index if ignore_index is not None else DEFAULT_IGNORE_INDEX
    may_ignore = bool(np.any(table_vals == _IGNORED))
    height, width = raw.array.shape[:2]
    labels = np.empty((height, width), label_dtype(cmap.num_classes - 1, ignore_out if may_ignore else None))
    counts = np.zeros(cmap.num_classes, dtype=np.int64)
    ignored = 0
    bad_values: list[np.ndarray] = []
    bad_counts: list[np.ndarray] = []
    luts: dict[np.dtype, np.ndarray] = {}
    rows = max(1, _MAP_BAND_PIXELS // max(1, width))
    for top in range(0, height, rows):
        keys = keys_of(top, top + rows)
        if keys.dtype in (np.uint8, np.uint16):  # small value range: a look-up table
            lut = luts.get(keys.dtype)
            if lut is None:
                lut = np.full(np.iinfo(keys.dtype).max + 1, _UNKNOWN, dtype=np.int64)
                inside = (table_keys >= 0) & (table_keys < len(lut))
                lut[table_keys[inside]] = table_vals[inside]
                luts[keys.dtype] = lut
            cls = lut[keys]
        else:
            pos = np.minimum(np.searchsorted(table_keys, keys), len(table_keys) - 1)
            cls = np.where(table_keys[pos] == keys, table_vals[pos], _UNKNOWN)
        bad = cls == _UNKNOWN
        if bad.any():
            values, n = np.unique(keys[bad], return_counts=True)
            bad_values.append(values.astype(np.int64))
            bad_counts.append(n)
            continue
        ignored_mask = cls == _IGNORED
        n_ignored = int(np.count_nonzero(ignored_mask))
        ignored += n_ignored
        counts += np.bincount(cls[~ignored_mask] if n_ignored else cls.ravel(), minlength=cmap.num_classes)
        out = labels[top : top + rows]
        if n_ignored:
            cls[ignored_mask] = ignore_out
        out[...] = cls
    if bad_values:
        values, inverse = np.unique(np.concatenate(bad_values), return_inverse=True)
        totals = np.bincount(inverse, weights=np.concatenate(bad_counts)).astype(np.int64)
        order = np.argsort(-totals)[:_SHOWN]
        shown = ", ".join(f"{describe(int(values[k]))} ({int(totals[k]):,} px)" for k in order)
        more = f" and {len(values) - _SHOWN} more" if len(values) > _SHOWN else ""
        raise MaskFileError(
            path,
            expected=f"only the declared classes ({cmap.describe_keys()})",
            found=f"values outside them: {shown}{more}",
            hint=f"Add them to the class map {cmap.source}, or fix the mask.",
        )
    narrow = label_dtype(cmap.num_classes - 1, ignore_out if ignored else None)
    if labels.dtype != narrow:  # a wide ignore value (e.g. -1) was allowed for but never used
        labels = labels.astype(narrow)
    class_counts = {i: int(c) for i, c in enumerate(counts) if c}
    encoding = ENCODING_RGB_MAP if cmap.kind == "rgb" else ENCODING_VALUE_MAP
    return labels, encoding, class_counts, ignored


def _keys_and_table(
    path: Path, raw: RawMask, cmap: ClassMap
) -> tuple[Callable[[int, int], np.ndarray], dict[int, int], Callable[[int], str]]:
    """How to compute the keys of a band of rows (``keys_of(top, bottom)``), the key -> class table, and
    how to print a key."""
    array = raw.array
    if cmap.kind == "value":
        if raw.layout == "rgb":
            raise MaskFileError(
                path,
                expected="a single-channel mask (the class map lists pixel values)",
                found="an RGB mask with several colours",
                hint='Give a class map of colours instead, e.g. {"building": [255, 0, 0]}.',
            )
        table = {k[0]: i for k, i in cmap.entries} | {k[0]: _IGNORED for k in cmap.ignore_keys}
        if array.dtype in (np.uint8, np.uint16):
            return (lambda a, b: array[a:b]), table, str
        return (lambda a, b: array[a:b].astype(np.int64)), table, str
    table = {_pack_key(k): i for k, i in cmap.entries} | {_pack_key(k): _IGNORED for k in cmap.ignore_keys}
    if raw.layout == "rgb":
        keys_of = lambda a, b: _pack(array[a:b]).astype(np.int64)  # noqa: E731
    elif raw.layout == "palette":
        pal = raw.palette.astype(np.int64)
        colour_of = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
        keys_of = lambda a, b: colour_of[np.minimum(array[a:b], len(colour_of) - 1)]  # noqa: E731
    elif all(k[0] == k[1] == k[2] for k, _ in cmap.entries):
        keys_of = lambda a, b: array[a:b].astype(np.int64) * 0x010101  # noqa: E731  # v is (v, v, v)
    else:
        raise MaskFileError(
            path,
            expected="an RGB colour-coded mask (the class map lists colours)",
            found="a single-channel mask",
            hint='Give a class map of pixel values instead, e.g. {"0": "background", "255": "building"}.',
        )
    return keys_of, table, lambda k: str(((k >> 16) & 255, (k >> 8) & 255, k & 255))
