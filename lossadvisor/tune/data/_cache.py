"""Decode the dataset once into ``cache/data_<key>.npz`` that every trial (and every re-run) reuses.

Decoding TIFF/PNG and resizing is the slow part of a small-data training loop; done once, a trial only slices
uint8 arrays in memory, which keeps data preparation far below 10% of trial time. The cache key hashes the
dataset fingerprint, the image files (names and sizes), the size/crop settings, the split seed and the
mask-reading options, so a change in any of them builds a new cache and an unchanged run reuses the file.

Two layouts:

* ``size`` (default): whole tiles resized to ``size x size`` (area interpolation for images, nearest for
  masks).
* ``crop``: tiles kept at native resolution; training draws random ``crop x crop`` windows, validation uses a
  grid of windows covering each validation tile. For large aerial tiles whose small objects would vanish when
  resized.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lossadvisor._atomic import write_npz
from lossadvisor._text import safe_text
from lossadvisor.errors import ConfigError, DataError, NoUsableDataError
from lossadvisor.tune.data._pairing import Pair, read_image
from lossadvisor.tune.data._split import (
    DEFAULT_FOLDS,
    DEFAULT_VAL_FRACTION,
    stratified_folds,
    stratified_split,
)

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1
MaskReader = Callable[[Path], np.ndarray]
# Floor of a channel's standard deviation: one grey level for uint8 images, a tiny value for float ones (whose
# scale is the user's), so a constant channel does not divide by zero.
_MIN_STD = {"u": 1.0, "f": 1e-6}


@dataclass
class TrainData:
    """The decoded dataset held in memory (uint8 images, integer masks) and how it was made."""

    train_images: list[np.ndarray]  # (H, W, C) each (uint8, or float32 for in-memory data); (size, size, C)
    train_masks: list[np.ndarray]  # (H, W) int16 class indices
    val_images: np.ndarray  # (n, S, S, C)
    val_masks: np.ndarray  # (n, S, S) int16
    train_names: list[str]
    val_names: list[str]  # one per validation window (the stem, with "@y,x" in crop mode)
    mean: np.ndarray  # (C,) per-channel mean of the training images (0-255 scale for uint8)
    std: np.ndarray  # (C,)
    scale: float  # training resolution / native resolution (1.0 in crop mode)
    mode: str  # "resize" or "crop"
    side: int  # size or crop
    skipped: list[str] = field(default_factory=list)  # "path: reason" of every pair that could not be read
    cache_path: Path | None = None
    loaded_from_cache: bool = False
    # volumes (mode "volume", lossadvisor.tune.data._volumes): the (D, H, W) training patch, and the voxel
    # size in mm of each validation volume; images and masks are then lists of whole volumes
    patch: tuple[int, ...] | None = None
    val_spacing: list[tuple[float, ...]] | None = None

    @property
    def channels(self) -> int:
        """Image channels the model gets (3 for image files; any number for in-memory data and volumes)."""
        first = self.val_images[0] if isinstance(self.val_images, list) else self.val_images
        return int(first.shape[-1])

    @property
    def spatial_dims(self) -> int:
        """2 for images, 3 for volumes."""
        return 3 if self.patch is not None else 2


def cache_key(pairs: list[Pair], *, fingerprint: str, settings: dict) -> str:
    """A short hash of everything that changes the decoded arrays."""
    files = (f"{p.stem}|{p.image.stat().st_size}|{p.mask.stat().st_size}" for p in pairs)
    return hash_key(fingerprint, settings, files)


def hash_key(fingerprint: str, settings: dict, files: Iterable[str]) -> str:
    """The cache key of the tile and the volume caches: a short hash of the cache format, the dataset
    fingerprint, the ``settings`` and one line per file (its name and sizes)."""
    h = hashlib.sha256()
    h.update(json.dumps({"v": CACHE_FORMAT_VERSION, "fp": fingerprint, **settings}, sort_keys=True).encode())
    for line in files:
        h.update(line.encode("utf-8", "surrogateescape"))  # a non-UTF-8 file name hashes to its own bytes
    return h.hexdigest()[:16]


def _resize(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    if image.shape[:2] == (size, size) and mask.shape == (size, size):  # already at the training size
        return (image if image.ndim == 3 else image[:, :, None]), mask.astype(np.int16)
    img = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    if img.ndim == 2:  # OpenCV drops a single channel
        img = img[:, :, None]
    msk = cv2.resize(mask.astype(np.int16), (size, size), interpolation=cv2.INTER_NEAREST)
    return img, msk


def _layout(size: int, crop: int | None) -> tuple[str, int]:
    """``("crop", crop)`` with a crop (native-resolution windows), else ``("resize", size)``."""
    return ("crop", int(crop)) if crop else ("resize", int(size))


def _grid_windows(height: int, width: int, crop: int) -> list[tuple[int, int]]:
    """Top-left corners of windows covering the tile; the last row/column is aligned to the far edge."""
    ys = list(range(0, height - crop + 1, crop))
    xs = list(range(0, width - crop + 1, crop))
    if ys[-1] + crop < height:
        ys.append(height - crop)
    if xs[-1] + crop < width:
        xs.append(width - crop)
    return [(y, x) for y in ys for x in xs]


@dataclass
class _Decoded:
    """The readable pairs, each tile already at the training size in resize mode (so at most one raw tile is
    held at a time), with what the split and the scale need from the raw masks."""

    images: list[np.ndarray]
    masks: list[np.ndarray]
    names: list[str]
    skipped: list[str]
    fractions: np.ndarray  # foreground fraction of each raw mask (the stratification)
    native_side: float  # median longest side of the raw masks (the resize scale)


def _decode(
    pairs: list[Pair], read_mask: MaskReader, *, mode: str, side: int, ignore_index: int | None
) -> _Decoded:
    """Read every pair (a failing one is skipped and listed); raises NoUsableDataError when none can be."""
    images, masks, names, skipped, fractions, sides = [], [], [], [], [], []
    for pair in pairs:
        try:
            image = read_image(pair.image)
            mask = np.asarray(read_mask(pair.mask))
        except (DataError, OSError, ValueError) as exc:
            skipped.append(safe_text(f"{pair.stem}: {exc}"))
            continue
        if mask.shape != image.shape[:2]:
            skipped.append(
                f"{safe_text(pair.stem)}: image is {image.shape[0]}x{image.shape[1]} but mask is "
                f"{mask.shape[0]}x{mask.shape[1]}; they must match pixel for pixel"
            )
            continue
        fractions.append(foreground_fraction(mask, ignore_index))
        sides.append(max(mask.shape))
        if mode == "resize":  # keep what training needs, not the raw tile (memory grows with the tiles)
            image, mask = _resize(image, mask, side)
        images.append(image)
        masks.append(mask.astype(np.int16))
        names.append(pair.stem)
    for line in skipped:
        logger.warning("Skipped %s", line)
    if not images:
        raise NoUsableDataError(f"None of the {len(pairs)} image/mask pairs could be read: {skipped[:3]}.")
    native = float(np.median(sides)) if sides else 0.0
    return _Decoded(images, masks, names, skipped, np.array(fractions), native)


def counted_foreground(mask: np.ndarray, ignore_index: int | None) -> np.ndarray:
    """The foreground that counts: pixels (voxels) labelled above 0 that are not ``ignore_index``. What the
    split stratifies on and what foreground-centred crops and patches are centred on."""
    return mask > 0 if ignore_index is None else (mask > 0) & (mask != ignore_index)


def foreground_fraction(mask: np.ndarray, ignore_index: int | None) -> float:
    """Share of the counted pixels (voxels), those not ``ignore_index``, that are foreground."""
    n = mask.size if ignore_index is None else int((mask != ignore_index).sum())
    return float(counted_foreground(mask, ignore_index).sum() / n) if n else 0.0


def build_train_data(
    pairs: list[Pair],
    *,
    read_mask: MaskReader,
    cache_dir: str | Path,
    fingerprint: str,
    size: int = 128,
    crop: int | None = None,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
    ignore_index: int | None = None,
    key_settings: dict | None = None,
    save: bool = True,
) -> TrainData:
    """Load the cached dataset for these settings, or decode, split, resize and cache it.

    Args:
        pairs: Image/mask pairs (from :func:`pair_files`).
        read_mask: Reads one mask file into class indices (``lossadvisor.io.read_mask`` with its options).
        cache_dir: Folder of the cache files (``<run>/cache``).
        fingerprint: The dataset fingerprint from the profile (part of the cache key).
        size: Side of the resized tiles (resize mode); must suit the U-Net depth (a multiple of 16 by
            default).
        crop: Side of random crops at native resolution; None for resize mode.
        val_fraction: Share of images held out for validation.
        seed: Split seed.
        ignore_index: Label value excluded from metrics and the stratification.
        key_settings: Extra settings that change the arrays (e.g. the class map), hashed into the key.
        save: Write the cache file now; ``False`` leaves it to :func:`save_cache` (``tune`` writes nothing
            to the run folder before the run is known to be valid).

    Raises:
        NoUsableDataError: Every pair failed to decode.
        ConfigError: ``crop`` larger than a tile.
    """
    if crop is not None and crop < 8:
        raise ConfigError(f"The 'crop' option must be at least 8 pixels; got {crop}.")
    if size < 8:
        raise ConfigError(f"The 'size' option must be at least 8 pixels; got {size}.")
    mode, side = _layout(size, crop)
    settings = {
        "mode": mode,
        "side": side,
        "val_fraction": val_fraction,
        "seed": seed,
        "ignore_index": ignore_index,
        **(key_settings or {}),
    }
    path = Path(cache_dir) / f"data_{cache_key(pairs, fingerprint=fingerprint, settings=settings)}.npz"
    if path.is_file():
        return _load(path)

    dec = _decode(pairs, read_mask, mode=mode, side=side, ignore_index=ignore_index)
    train_idx, val_idx = stratified_split(dec.fractions, val_fraction=val_fraction, seed=seed)
    data = assemble(
        dec.images,
        dec.masks,
        dec.names,
        train_idx=list(train_idx),
        val_idx=list(val_idx),
        mode=mode,
        side=side,
        skipped=dec.skipped,
        native_side=dec.native_side,
    )
    data.cache_path = path
    if save:
        save_cache(data)
    return data


def build_fold_data(
    pairs: list[Pair],
    *,
    read_mask: MaskReader,
    cache_dir: str | Path,
    fingerprint: str,
    size: int = 128,
    crop: int | None = None,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    ignore_index: int | None = None,
    key_settings: dict | None = None,
) -> list[TrainData]:
    """One :class:`TrainData` per fold of a stratified k-fold split (every tile validated once), cached like
    :func:`build_train_data` (``cache/data_<key>_fold<i>.npz``); the tiles are decoded once for all folds."""
    mode, side = _layout(size, crop)
    settings = {
        "mode": mode, "side": side, "folds": folds, "seed": seed, "ignore_index": ignore_index,
        **(key_settings or {}),
    }  # fmt: skip
    key = cache_key(pairs, fingerprint=fingerprint, settings=settings)
    paths = [Path(cache_dir) / f"data_{key}_fold{i}.npz" for i in range(folds)]
    if all(p.is_file() for p in paths):
        return [_load(p) for p in paths]
    dec = _decode(pairs, read_mask, mode=mode, side=side, ignore_index=ignore_index)
    out = []
    built = _folds(
        dec.images, dec.masks, dec.names, dec.skipped, folds, seed, mode, side, ignore_index,
        fractions=dec.fractions, native_side=dec.native_side,
    )  # fmt: skip
    for path, data in zip(paths, built, strict=True):
        data.cache_path = path
        save_cache(data)
        out.append(data)
    return out


def fold_data_from_memory(
    train,
    val=None,
    *,
    size: int = 128,
    crop: int | None = None,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    ignore_index: int | None = None,
) -> list[TrainData]:
    """The folds of in-memory data: ``train`` and ``val`` together, split into stratified folds (the
    confirmation validates every tile once, so the user's validation split is not kept apart)."""
    images, masks, names = list(train.images), list(train.labels), list(train.names)
    skipped = list(train.skipped)
    if val is not None:
        extra = list(val.images)
        if images and extra and images[0].dtype != extra[0].dtype:  # one dtype for both sides
            images = [im.astype(np.float32) for im in images]
            extra = [im.astype(np.float32) for im in extra]
        images += extra
        masks += list(val.labels)
        names += list(val.names)
        skipped += list(val.skipped)
    return _folds(images, masks, names, skipped, folds, seed, *_layout(size, crop), ignore_index)


def _folds(
    images, masks, names, skipped, folds, seed, mode, side, ignore_index, *, fractions=None, native_side=None
) -> list[TrainData]:
    if fractions is None:
        fractions = np.array([foreground_fraction(m, ignore_index) for m in masks])
    return [
        assemble(
            images, masks, names, train_idx=list(t), val_idx=list(v), mode=mode, side=side, skipped=skipped,
            native_side=native_side,
        )  # fmt: skip
        for t, v in stratified_folds(fractions, folds=folds, seed=seed)
    ]


def train_data_from_memory(
    train,
    val=None,
    *,
    size: int = 128,
    crop: int | None = None,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
    ignore_index: int | None = None,
) -> TrainData:
    """The :class:`TrainData` of in-memory data (:class:`~lossadvisor.tune.data._sources.InMemoryData`).

    With ``val`` the split is the user's; without it, ``train`` is split as folders are. Nothing is cached:
    the arrays are already decoded.
    """
    mode, side = _layout(size, crop)
    images, masks, names = list(train.images), list(train.labels), list(train.names)
    skipped = list(train.skipped)
    if val is None:
        frac = np.array([foreground_fraction(m, ignore_index) for m in masks])
        train_idx, val_idx = (list(i) for i in stratified_split(frac, val_fraction=val_fraction, seed=seed))
    else:
        if val.channels != train.channels:
            raise ConfigError(
                f"Validation images have {val.channels} channel(s) but training images have {train.channels}."
            )
        train_idx = list(range(len(images)))
        val_idx = list(range(len(images), len(images) + len(val.images)))
        if images[0].dtype != val.images[0].dtype:  # one dtype for both sides
            images = [im.astype(np.float32) for im in images]
            val_images = [im.astype(np.float32) for im in val.images]
        else:
            val_images = list(val.images)
        images += val_images
        masks += list(val.labels)
        names += list(val.names)
        skipped += list(val.skipped)
    return assemble(
        images, masks, names, train_idx=train_idx, val_idx=val_idx, mode=mode, side=side, skipped=skipped
    )


def assemble(
    images: list[np.ndarray],
    masks: list[np.ndarray],
    names: list[str],
    *,
    train_idx: list[int],
    val_idx: list[int],
    mode: str,
    side: int,
    skipped: list[str],
    native_side: float | None = None,
) -> TrainData:
    """Resize (or window, in crop mode) decoded tiles into the training and validation arrays.

    ``native_side``: the median longest side of the raw tiles, when ``masks`` were already resized.
    """
    if native_side is None:
        native_side = float(np.median([max(m.shape) for m in masks]))
    if mode == "crop":
        too_small = [names[i] for i, m in enumerate(masks) if min(m.shape) < side]
        if too_small:
            raise ConfigError(
                f"--crop {side} is larger than {len(too_small)} tile(s) (e.g. {too_small[0]}); choose a crop "
                f"no larger than the smallest tile side, or use --size to resize whole tiles."
            )
        train_images = [images[i] for i in train_idx]
        train_masks = [masks[i] for i in train_idx]
        val_images, val_masks, val_names = [], [], []
        for i in val_idx:
            for y, x in _grid_windows(*masks[i].shape, side):
                val_images.append(images[i][y : y + side, x : x + side])
                val_masks.append(masks[i][y : y + side, x : x + side])
                val_names.append(f"{names[i]}@{y},{x}")
        scale = 1.0
    else:
        resized = [_resize(img, msk, side) for img, msk in zip(images, masks, strict=True)]
        train_images = [resized[i][0] for i in train_idx]
        train_masks = [resized[i][1] for i in train_idx]
        val_images = [resized[i][0] for i in val_idx]
        val_masks = [resized[i][1] for i in val_idx]
        val_names = [names[i] for i in val_idx]
        scale = side / native_side
    mean, std = _channel_stats(train_images)
    return TrainData(
        train_images=train_images,
        train_masks=train_masks,
        val_images=np.stack(val_images),
        val_masks=np.stack(val_masks),
        train_names=[names[i] for i in train_idx],
        val_names=val_names,
        mean=mean,
        std=np.maximum(std, _MIN_STD.get(train_images[0].dtype.kind, 1.0)),
        scale=float(scale),
        mode=mode,
        side=side,
        skipped=skipped,
    )


def _channel_stats(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over all pixels, tile by tile (float64 sums), never one
    float64 copy of the whole set (8x the uint8 images: native-resolution crop mode held gigabytes)."""
    channels = images[0].shape[-1]
    total = np.zeros(channels)
    count = 0
    for img in images:
        flat = img.reshape(-1, channels)
        total += flat.sum(axis=0, dtype=np.float64)
        count += flat.shape[0]
    mean = total / count
    squares = np.zeros(channels)
    for img in images:
        centred = img.reshape(-1, channels).astype(np.float64) - mean
        squares += np.einsum("ij,ij->j", centred, centred)
    return mean, np.sqrt(squares / count)


def save_cache(data: TrainData) -> None:
    """Write ``data`` to its ``cache_path`` unless it was read from there."""
    if data.patch is not None:
        from lossadvisor.tune.data._volumes import save_volume_cache

        save_volume_cache(data)
        return
    if data.cache_path is not None and not data.loaded_from_cache and not data.cache_path.is_file():
        _save(data, data.cache_path)


def _save(data: TrainData, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"train_image_{i}": a for i, a in enumerate(data.train_images)}
    arrays |= {f"train_mask_{i}": a for i, a in enumerate(data.train_masks)}
    meta = {
        "train_names": data.train_names,
        "val_names": data.val_names,
        "scale": data.scale,
        "mode": data.mode,
        "side": data.side,
        "skipped": data.skipped,
    }
    write_npz(
        path,
        compressed=False,
        val_images=data.val_images,
        val_masks=data.val_masks,
        mean=data.mean,
        std=data.std,
        meta=np.array(json.dumps(meta)),
        **arrays,
    )  # atomic: an interrupted build never leaves a half cache


def _load(path: Path) -> TrainData:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        n = len(meta["train_names"])
        return TrainData(
            train_images=[z[f"train_image_{i}"] for i in range(n)],
            train_masks=[z[f"train_mask_{i}"] for i in range(n)],
            val_images=z["val_images"],
            val_masks=z["val_masks"],
            train_names=meta["train_names"],
            val_names=meta["val_names"],
            mean=z["mean"],
            std=z["std"],
            scale=float(meta["scale"]),
            mode=meta["mode"],
            side=int(meta["side"]),
            skipped=list(meta["skipped"]),
            cache_path=path,
            loaded_from_cache=True,
        )
