"""The data sets of the rules benchmark: three real sets at 64 px and controlled variants built from them.

Every set is a list of ``(image, mask)`` pairs at the training size (64 px by default), so the profile the
rules read and the tiles the network trains on are the same arrays. The variants move one property at a time:

- ``outline``: only a 2-px rim of each object stays foreground (thinness and imbalance up, object count same);
- ``grown``: objects dilated by 3 px (imbalance down, objects larger);
- ``shrunk``: each tile downscaled by 2 and repeated as a 2x2 mosaic of its flips (object size down by 2, the
  foreground share unchanged, no tile shared between training and validation);
- ``dropped``: a class relabelled background (multi-class to binary, imbalance up).

Real sets: ``examples/buildings`` (128-px quadrants of the 256-px tiles, resized by 2), ``dsb2018-nuclei``
(a centred 128-px crop, resized by 2) and ``msd-hippocampus`` (per volume the axial slice with the most
foreground, padded square, intensities stretched to 0-255 between the 1st and 99th percentile). The last two
are read from the folder named by LOSSADVISOR_DATA (or ``--data DIR``; see ``benchmarks/_data_root.py``) and
skipped with a note when absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks._data_root import missing_note, real_set

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "buildings"
OUTLINE_WIDTH = 2  # px of rim kept by the outline variant
GROW_PX = 3  # px added around each object by the grown variant


@dataclass(frozen=True)
class BenchSet:
    """One set of the benchmark: its row id, what it is, and its tiles at the training size."""

    set_id: str
    base: str
    variant: str
    images: list[np.ndarray]  # (S, S, C) uint8
    masks: list[np.ndarray]  # (S, S) int16 class indices


def _resize(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    img = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    if img.ndim == 2:
        img = img[:, :, None]
    msk = cv2.resize(mask.astype(np.int16), (size, size), interpolation=cv2.INTER_NEAREST)
    return img, msk.astype(np.int16)


def _evenly(items: list, count: int) -> list:
    if len(items) <= count:
        return items
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in picks]


def load_buildings(size: int, tiles: int, data: Path | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """128-px quadrants of the example's 256-px tiles, resized to ``size`` (bundled: ``data`` is not read)."""
    from lossadvisor.io import read_mask
    from lossadvisor.tune.data import pair_files, read_image

    quads = []
    for pair in pair_files(EXAMPLE / "images", EXAMPLE / "masks").pairs:
        image, mask = read_image(pair.image), read_mask(pair.mask).labels
        half_h, half_w = mask.shape[0] // 2, mask.shape[1] // 2
        for y in (0, half_h):
            for x in (0, half_w):
                quads.append((image[y : y + half_h, x : x + half_w], mask[y : y + half_h, x : x + half_w]))
    return [_resize(i, m, size) for i, m in _evenly(quads, tiles)]


def load_nuclei(
    size: int, tiles: int, data: Path | None = None
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """A centred 128-px crop of each dsb2018-nuclei image, resized to ``size``; None without the set
    (``data``: the ``--data`` folder, else LOSSADVISOR_DATA's)."""
    from lossadvisor.io import read_mask
    from lossadvisor.tune.data import pair_files, read_image

    root = real_set("dsb2018-nuclei", data)
    if root is None:
        return None
    out = []
    for pair in _evenly(pair_files(root / "images", root / "masks").pairs, tiles):
        image, mask = read_image(pair.image), read_mask(pair.mask).labels
        side = min(128, *mask.shape)
        y, x = (mask.shape[0] - side) // 2, (mask.shape[1] - side) // 2
        out.append(_resize(image[y : y + side, x : x + side], mask[y : y + side, x : x + side], size))
    return out


def load_hippocampus(
    size: int, tiles: int, data: Path | None = None
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Per volume, the axial slice with the most foreground (3 classes); None when the set or nibabel is
    absent (``data``: the ``--data`` folder, else LOSSADVISOR_DATA's)."""
    root = real_set("msd-hippocampus", data)
    try:
        import nibabel
    except ImportError:
        return None
    if root is None:
        return None
    out = []
    for label_path in _evenly(sorted((root / "labels").glob("*.nii.gz")), tiles):
        volume = np.asarray(nibabel.load(root / "images" / label_path.name).get_fdata(), dtype=np.float32)
        labels = np.rint(np.asarray(nibabel.load(label_path).get_fdata())).astype(np.int16)
        k = int(np.argmax((labels > 0).sum(axis=(0, 1))))
        image, mask = volume[:, :, k], labels[:, :, k]
        low, high = np.percentile(volume, (1, 99))
        image = (np.clip((image - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8)
        side = max(mask.shape)
        pad = ((0, side - mask.shape[0]), (0, side - mask.shape[1]))
        out.append(_resize(np.pad(image, pad)[:, :, None], np.pad(mask, pad), size))
    return out


def outline(mask: np.ndarray) -> np.ndarray:
    """Each object's rim, :data:`OUTLINE_WIDTH` px wide, keeping its class."""
    import cv2

    kernel = np.ones((3, 3), np.uint8)
    out = np.zeros_like(mask)
    for cls in np.unique(mask[mask > 0]):
        region = (mask == cls).astype(np.uint8)
        inner = cv2.erode(region, kernel, iterations=OUTLINE_WIDTH, borderType=cv2.BORDER_REPLICATE)
        out[(region > 0) & (inner == 0)] = cls
    return out


def grown(mask: np.ndarray) -> np.ndarray:
    """Objects dilated by :data:`GROW_PX` px (binary masks; the class is 1)."""
    import cv2

    region = cv2.dilate((mask > 0).astype(np.uint8), np.ones((3, 3), np.uint8), iterations=GROW_PX)
    return region.astype(np.int16)


def shrunk(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tile at half size, as a 2x2 mosaic of its flips: objects half as large, same foreground share."""
    side = mask.shape[0]
    small_img, small_mask = _resize(image, mask, side // 2)
    rows_img = [
        np.concatenate([small_img, small_img[:, ::-1]], axis=1),
        np.concatenate([small_img[::-1], small_img[::-1, ::-1]], axis=1),
    ]
    rows_mask = [
        np.concatenate([small_mask, small_mask[:, ::-1]], axis=1),
        np.concatenate([small_mask[::-1], small_mask[::-1, ::-1]], axis=1),
    ]
    return np.ascontiguousarray(np.concatenate(rows_img)), np.ascontiguousarray(np.concatenate(rows_mask))


def dropped(mask: np.ndarray, cls: int = 2) -> np.ndarray:
    """Class ``cls`` relabelled background (the structure stays in the image, unlabelled)."""
    return np.where(mask == cls, 0, mask).astype(np.int16)


MaskVariant = Callable[[np.ndarray], np.ndarray]
VARIANTS: dict[str, MaskVariant] = {"outline": outline, "grown": grown, "dropped": dropped}
LOADERS = {"buildings": load_buildings, "nuclei": load_nuclei, "hippocampus": load_hippocampus}
# base set -> its folder in the real datasets' folder (LOSSADVISOR_DATA)
REAL_SETS = {"nuclei": "dsb2018-nuclei", "hippocampus": "msd-hippocampus"}
# Every set id the benchmark knows, in the order it runs them by default (most informative first).
SET_IDS = (
    "buildings", "nuclei", "hippocampus", "buildings-outline", "nuclei-shrunk", "buildings-grown",
    "hippocampus-dropped", "nuclei-outline", "buildings-shrunk", "nuclei-grown",
)  # fmt: skip


def build_set(set_id: str, *, size: int, tiles: int, data: Path | None = None) -> BenchSet | None:
    """The tiles of ``set_id`` (``base`` or ``base-variant``); None when its base set is not available
    (:func:`unavailable_note` says why). ``data``: the ``--data`` folder, else LOSSADVISOR_DATA's."""
    base, _, variant = set_id.partition("-")
    if base not in LOADERS:
        raise ValueError(f"Unknown set {set_id!r}; known: {', '.join(SET_IDS)}.")
    pairs = LOADERS[base](size, tiles, data)
    if pairs is None:
        return None
    if variant == "shrunk":
        pairs = [shrunk(i, m) for i, m in pairs]
    elif variant:
        if variant not in VARIANTS:
            raise ValueError(
                f"Unknown variant {variant!r} of {set_id!r}; known: shrunk, {', '.join(VARIANTS)}."
            )
        pairs = [(i, VARIANTS[variant](m)) for i, m in pairs]
    images = [np.ascontiguousarray(i) for i, _ in pairs]
    masks = [np.ascontiguousarray(m).astype(np.int16) for _, m in pairs]
    return BenchSet(set_id, base, variant or "base", images, masks)


def unavailable_note(set_id: str, data: Path | None = None) -> str:
    """The one line printed when :func:`build_set` returns None for ``set_id``: which real set is missing and
    where it was looked for (or that nibabel, which reads the hippocampus volumes, is not installed)."""
    real = REAL_SETS.get(set_id.partition("-")[0])
    if real is not None and real_set(real, data) is None:
        return missing_note(real, data, instead=f"{set_id} skipped")
    return f"  ({set_id}: nibabel is not installed: skipped)"
