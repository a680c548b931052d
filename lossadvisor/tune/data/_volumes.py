"""Decode 3-D cases (image volumes + label volumes) once into the same :class:`TrainData` the 2-D tuner uses.

Volumes are trained at their native spacing: no resampling, so a voxel of the label file is a voxel of the
network's input and physical sizes (mm³) come from each case's own spacing. (nnU-Net resamples to the median
spacing; on a set with one spacing, as the MSD hippocampus at 1 mm isotropic, both are the same thing.)
Intensities are z-scored per case and channel (nnU-Net's normalisation for MRI, whose grey values have no
absolute scale), so the dataset mean and standard deviation the 2-D batch source applies are 0 and 1 here.

The layout differs from 2-D in three ways, all carried by :class:`TrainData` itself:

* ``mode`` is ``"volume"`` and ``patch`` the ``(D, H, W)`` training patch; ``side`` is its largest side;
* ``train_images`` / ``val_images`` are lists of ``(D, H, W, C)`` float32 volumes of varying shapes (not a
  stacked array), ``train_masks`` / ``val_masks`` lists of ``(D, H, W)`` int16 label volumes;
* ``val_spacing`` holds each validation case's voxel size in mm, for recall by physical object size.

One validation case is one volume (no windows), so the per-case counts the verdict resamples are per volume.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from lossadvisor._atomic import write_npz
from lossadvisor._text import safe_text
from lossadvisor.errors import ConfigError, DataError, NoUsableDataError
from lossadvisor.tune.data._cache import TrainData, foreground_fraction, hash_key
from lossadvisor.tune.data._split import (
    DEFAULT_FOLDS,
    DEFAULT_VAL_FRACTION,
    stratified_folds,
    stratified_split,
)

logger = logging.getLogger(__name__)

VOLUME_MODE = "volume"
PATCH_MULTIPLE = 16  # the compact 3-D U-Net halves every side four times
# Largest automatic patch side: a CPU trial of 2 x 64^3 voxels takes about 0.45 s per step on one core
# (`python -m benchmarks losses --dims 3`: compact 3-D U-Net step 439-513 ms), so larger patches would leave a
# 10-minute study a handful of steps.
MAX_AUTO_PATCH_SIDE = 64
# Smallest automatic side: the compact U-Net's four halvings leave 2 voxels of 32 (instance norm needs more
# than one voxel per channel at the bottleneck); smaller cases are zero-padded up to the patch.
MIN_AUTO_PATCH_SIDE = 2 * PATCH_MULTIPLE
MIN_CROP = 8  # the floor of --crop, as for tiles; a network that needs more says so in its model check
LabelReader = Callable[[Path], np.ndarray]


def default_patch(shapes: Sequence[Sequence[int]], *, multiple: int = PATCH_MULTIPLE) -> tuple[int, int, int]:
    """The training patch: the median case shape per axis, rounded down to ``multiple``, within 32..64.

    nnU-Net starts from the median shape too (then shrinks it to fit GPU memory); on a CPU the cap is time.

    Example:
        >>> default_patch([(35, 51, 35), (36, 50, 34), (37, 49, 36)])
        (32, 48, 32)
    """
    median = np.median(np.asarray(shapes, dtype=float), axis=0)
    return tuple(  # type: ignore[return-value]
        int(min(MAX_AUTO_PATCH_SIDE, max(MIN_AUTO_PATCH_SIDE, int(m) // multiple * multiple))) for m in median
    )


def crop_patch(crop: int | None) -> tuple[int, int, int] | None:
    """``--crop N`` on volumes: the ``N x N x N`` training patch (None without ``--crop``).

    Also the patch the profile measures its empty patches and small lesions at, so the 3-D rules reason about
    the patch that is trained.
    """
    if crop is None:
        return None
    if crop < MIN_CROP:
        raise ConfigError(f"The 'crop' option must be at least {MIN_CROP} voxels; got {crop}.")
    return (int(crop),) * 3


def patch_from_crop(
    crop: int | None, shapes: Sequence[Sequence[int]], profiled: Sequence[int] | None = None
) -> tuple[int, int, int]:
    """``--crop N`` on volumes: an ``N x N x N`` patch; otherwise the patch the profile measured its empty
    patches at (``profile.volume.patch_size``, the same rule), or :func:`default_patch` of the shapes."""
    cropped = crop_patch(crop)
    if cropped is not None:
        return cropped
    return tuple(int(p) for p in profiled) if profiled else default_patch(shapes)  # type: ignore[return-value]


def zscore(image: np.ndarray) -> np.ndarray:
    """``(D, H, W, C)`` float32, each channel standardised over the case (std floored at 1e-6)."""
    flat = image.reshape(-1, image.shape[-1]).astype(np.float64)
    mean, std = flat.mean(axis=0), np.maximum(flat.std(axis=0), 1e-6)
    return ((image - mean) / std).astype(np.float32)


def _case_key(pairs, *, fingerprint: str, settings: dict) -> str:
    files = (
        f"{pair.case}|" + "|".join(str(p.stat().st_size) for p in (pair.label, *pair.images))
        for pair in pairs
    )
    return hash_key(fingerprint, settings, files)


def decode_cases(pairs, read_label: LabelReader) -> tuple[list, list, list, list, list[str]]:
    """Read every case: ``(images, labels, spacings, names, skipped)``; a failing case is skipped, listed."""
    from lossadvisor.io import read_volume_image

    images, labels, spacings, names, skipped = [], [], [], [], []
    for pair in pairs:
        try:
            image = read_volume_image(pair.images)
            label = np.asarray(read_label(pair.label))
        except (DataError, OSError, ValueError) as exc:
            skipped.append(safe_text(f"{pair.case}: {exc}"))
            continue
        if tuple(label.shape) != tuple(image.shape):
            skipped.append(
                f"{safe_text(pair.case)}: image is {'x'.join(map(str, image.shape))} voxels but the label is "
                f"{'x'.join(map(str, label.shape))}; they must match voxel for voxel"
            )
            continue
        images.append(zscore(np.moveaxis(image.array, 0, -1)))
        labels.append(label.astype(np.int16))
        spacings.append(tuple(float(s) for s in image.spacing))
        names.append(pair.case)
    for line in skipped:
        logger.warning("Skipped %s", line)
    return images, labels, spacings, names, skipped


def assemble_volumes(
    images: list[np.ndarray],
    labels: list[np.ndarray],
    spacings: list[tuple[float, float, float]],
    names: list[str],
    *,
    train_idx: Sequence[int],
    val_idx: Sequence[int],
    patch: tuple[int, int, int],
    skipped: list[str],
) -> TrainData:
    """The :class:`TrainData` of one split (whole volumes on both sides; patches are drawn while training)."""
    channels = images[0].shape[-1]
    return TrainData(
        train_images=[images[i] for i in train_idx],
        train_masks=[labels[i] for i in train_idx],
        val_images=[images[i] for i in val_idx],  # type: ignore[arg-type]
        val_masks=[labels[i] for i in val_idx],  # type: ignore[arg-type]
        train_names=[names[i] for i in train_idx],
        val_names=[names[i] for i in val_idx],
        mean=np.zeros(channels),
        std=np.ones(channels),
        scale=1.0,
        mode=VOLUME_MODE,
        side=int(max(patch)),
        skipped=list(skipped),
        patch=tuple(int(p) for p in patch),  # type: ignore[arg-type]
        val_spacing=[spacings[i] for i in val_idx],
    )


def build_volume_train_data(
    pairs,
    *,
    read_label: LabelReader,
    cache_dir: str | Path,
    fingerprint: str,
    crop: int | None = None,
    patch: Sequence[int] | None = None,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
    ignore_index: int | None = None,
    key_settings: dict | None = None,
    save: bool = True,
) -> TrainData:
    """Load the cached search split of these cases, or decode and split them (stratified by foreground share).

    Args:
        pairs: :class:`~lossadvisor.io.VolumePair` cases (from :func:`~lossadvisor.io.pair_volumes`).
        read_label: Reads one label file into ``(D, H, W)`` class indices.
        crop: Patch side (an ``N^3`` patch); None: ``patch``, or :func:`default_patch` from the cases' shapes.
        patch: The profile's training patch ``(D, H, W)``, used when ``crop`` is None.
        Others: as :func:`~lossadvisor.tune.data.build_train_data`.

    Raises:
        NoUsableDataError: no case could be read.
    """
    settings = {"mode": VOLUME_MODE, "crop": crop, "patch": list(patch or ()), "val_fraction": val_fraction,
                "seed": seed,
                "ignore_index": ignore_index, **(key_settings or {})}  # fmt: skip
    path = Path(cache_dir) / f"data_{_case_key(pairs, fingerprint=fingerprint, settings=settings)}.npz"
    if path.is_file():
        return load_volume_cache(path)
    images, labels, spacings, names, skipped = _decode_or_fail(pairs, read_label)
    frac = np.array([foreground_fraction(m, ignore_index) for m in labels])
    train_idx, val_idx = stratified_split(frac, val_fraction=val_fraction, seed=seed)
    data = assemble_volumes(
        images, labels, spacings, names, train_idx=list(train_idx), val_idx=list(val_idx),
        patch=patch_from_crop(crop, [m.shape for m in labels], patch), skipped=skipped,
    )  # fmt: skip
    data.cache_path = path
    if save:
        save_volume_cache(data)
    return data


def build_volume_fold_data(
    pairs,
    *,
    read_label: LabelReader,
    cache_dir: str | Path,
    fingerprint: str,
    crop: int | None = None,
    patch: Sequence[int] | None = None,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    ignore_index: int | None = None,
    key_settings: dict | None = None,
) -> list[TrainData]:
    """One :class:`TrainData` per stratified fold (each case validated once), cached like the search split."""
    settings = {"mode": VOLUME_MODE, "crop": crop, "patch": list(patch or ()), "folds": folds, "seed": seed,
                "ignore_index": ignore_index, **(key_settings or {})}  # fmt: skip
    key = _case_key(pairs, fingerprint=fingerprint, settings=settings)
    paths = [Path(cache_dir) / f"data_{key}_fold{i}.npz" for i in range(folds)]
    if all(p.is_file() for p in paths):
        return [load_volume_cache(p) for p in paths]
    images, labels, spacings, names, skipped = _decode_or_fail(pairs, read_label)
    patch = patch_from_crop(crop, [m.shape for m in labels], patch)
    frac = np.array([foreground_fraction(m, ignore_index) for m in labels])
    out = []
    for path, (t, v) in zip(paths, stratified_folds(frac, folds=folds, seed=seed), strict=True):
        data = assemble_volumes(
            images, labels, spacings, names, train_idx=list(t), val_idx=list(v), patch=patch, skipped=skipped
        )
        data.cache_path = path
        save_volume_cache(data)
        out.append(data)
    return out


def _decode_or_fail(pairs, read_label: LabelReader):
    decoded = decode_cases(pairs, read_label)
    if not decoded[0]:
        raise NoUsableDataError(f"None of the {len(pairs)} volume cases could be read: {decoded[4][:3]}.")
    return decoded


def save_volume_cache(data: TrainData) -> None:
    """Write a volume split to its ``cache_path`` (atomically) unless it was read from there."""
    path = data.cache_path
    if path is None or data.loaded_from_cache or path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for side, imgs, masks in (("train", data.train_images, data.train_masks),
                              ("val", data.val_images, data.val_masks)):  # fmt: skip
        arrays |= {f"{side}_image_{i}": a for i, a in enumerate(imgs)}
        arrays |= {f"{side}_mask_{i}": a for i, a in enumerate(masks)}
    meta = {
        "train_names": data.train_names, "val_names": data.val_names, "mode": data.mode, "side": data.side,
        "patch": list(data.patch or ()), "val_spacing": [list(s) for s in data.val_spacing or []],
        "skipped": data.skipped,
    }  # fmt: skip
    write_npz(path, compressed=False, mean=data.mean, std=data.std, meta=np.array(json.dumps(meta)), **arrays)


def load_volume_cache(path: Path) -> TrainData:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        n_train, n_val = len(meta["train_names"]), len(meta["val_names"])
        return TrainData(
            train_images=[z[f"train_image_{i}"] for i in range(n_train)],
            train_masks=[z[f"train_mask_{i}"] for i in range(n_train)],
            val_images=[z[f"val_image_{i}"] for i in range(n_val)],  # type: ignore[arg-type]
            val_masks=[z[f"val_mask_{i}"] for i in range(n_val)],  # type: ignore[arg-type]
            train_names=meta["train_names"],
            val_names=meta["val_names"],
            mean=z["mean"],
            std=z["std"],
            scale=1.0,
            mode=meta["mode"],
            side=int(meta["side"]),
            skipped=list(meta["skipped"]),
            cache_path=path,
            loaded_from_cache=True,
            patch=tuple(meta["patch"]),  # type: ignore[arg-type]
            val_spacing=[tuple(s) for s in meta["val_spacing"]],
        )
