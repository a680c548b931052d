"""Training data that are not two folders paired by stem: a ``torch.utils.data.Dataset`` or a pair of arrays.

For multi-band GeoTIFF stacks, HDF5 files or arrays built in a notebook. Everything is read once into memory,
as the file cache does for folders, so every trial slices arrays and never calls the Dataset again.

Layouts accepted:

* a pair ``(images, masks)``: images ``(N, H, W)`` or ``(N, H, W, C)``, masks ``(N, H, W)`` (NumPy arrays,
  or lists of per-image arrays when sizes differ);
* a ``Dataset`` (anything with ``__len__`` and ``__getitem__``) whose items are ``(image, mask, ...)`` or a
  dict with ``"image"`` and ``"mask"`` (or ``"label"``) keys. A torch tensor image is ``(C, H, W)`` (torch's
  layout), a NumPy image ``(H, W)`` or ``(H, W, C)``.

Masks are interpreted as mask files are (0/1, 0/255 and booleans are binary; other values class indices).
Images keep their channels (1, 3, or a multi-band stack) and their values: uint8 stays uint8, anything else
becomes float32; each channel is standardised with the training mean and standard deviation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from lossadvisor.errors import ConfigError, DataError, NoUsableDataError
from lossadvisor.io import MaskFileError, mask_from_array

logger = logging.getLogger(__name__)

MASK_KEYS = ("mask", "label", "labels", "target")
IMAGE_KEYS = ("image", "img", "input")


@dataclass
class InMemoryData:
    """Images ``(H, W, C)``, masks as given (NumPy) and labels (class indices), with a name per item."""

    images: list[np.ndarray]
    raw_masks: list[np.ndarray]
    labels: list[np.ndarray]
    names: list[str]
    skipped: list[str] = field(default_factory=list)  # "name: reason" of every item that could not be used

    @property
    def channels(self) -> int:
        return int(self.images[0].shape[-1])


def is_in_memory(data) -> bool:
    """True for a Dataset-like object or an ``(images, masks)`` pair, False for a path."""
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        return False
    return isinstance(data, tuple) or (hasattr(data, "__getitem__") and hasattr(data, "__len__"))


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _image_hwc(value, *, torch_layout: bool) -> np.ndarray:
    array = _numpy(value)
    if array.ndim == 2:
        array = array[:, :, None]
    elif array.ndim == 3 and torch_layout:
        array = np.moveaxis(array, 0, -1)
    if array.ndim != 3:
        raise ValueError(
            f"image of shape {array.shape}; expected (H, W) or (H, W, C) ((C, H, W) for tensors)"
        )
    if array.dtype.kind not in "biuf":
        raise ValueError(f"image of dtype {array.dtype}; expected numbers")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError("image holds NaN or infinite values")
    return np.ascontiguousarray(array)


def _item_pair(item, index: int) -> tuple[object, object]:
    if isinstance(item, dict):
        image = next((item[k] for k in IMAGE_KEYS if k in item), None)
        mask = next((item[k] for k in MASK_KEYS if k in item), None)
        if image is None or mask is None:
            raise ConfigError(
                f"Dataset item {index} is a dict with keys {sorted(item)}; expected an image under one of "
                f"{IMAGE_KEYS} and a mask under one of {MASK_KEYS}."
            )
        return image, mask
    if isinstance(item, (tuple, list)) and len(item) >= 2:
        return item[0], item[1]
    raise ConfigError(
        f"Dataset item {index} is a {type(item).__name__}; expected (image, mask) or a dict with 'image' and "
        f"'mask'."
    )


def _items(data, role: str):
    """Yield ``(name, image (H, W, C), raw mask)``; a pair of arrays or a Dataset."""
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ConfigError(
                f"The {role!r} data of tune must be a Dataset or a pair (images, masks); got a tuple of "
                f"{len(data)} items."
            )
        images, masks = data
        if len(images) != len(masks):
            raise ConfigError(
                f"The {role!r} data of tune has {len(images)} images but {len(masks)} masks; they must pair "
                f"one to one."
            )
        for i in range(len(images)):
            yield f"{role}[{i}]", images[i], masks[i], False
        return
    for i in range(len(data)):
        name = f"{role}[{i}]"
        try:
            item = data[i]
        except Exception as exc:  # whatever the Dataset raises for one item: skip it, list it
            yield name, exc, None, False
            continue
        image, mask = _item_pair(item, i)
        yield name, image, mask, hasattr(image, "detach")


def collect(data, *, role: str, class_map=None, ignore_index: int | None = None) -> InMemoryData:
    """Read a Dataset or an ``(images, masks)`` pair into memory; unusable items are skipped and listed.

    Raises:
        ConfigError: The data are not a Dataset or a pair, or images disagree in channel count.
        NoUsableDataError: No item could be used.
    """
    if not is_in_memory(data):
        raise ConfigError(
            f"The {role!r} data of tune must be a torch.utils.data.Dataset or a pair (images, masks); got "
            f"{type(data).__name__}."
        )
    out = InMemoryData(images=[], raw_masks=[], labels=[], names=[])
    for name, image, mask, torch_layout in _items(data, role):
        try:
            if isinstance(image, Exception):
                raise ValueError(f"reading it raised {type(image).__name__}: {image}")
            hwc = _image_hwc(image, torch_layout=torch_layout)
            raw = _numpy(mask)
            if raw.ndim == 3 and raw.shape[0] == 1 and torch_layout:
                raw = raw[0]  # a (1, H, W) tensor mask
            labels = mask_from_array(raw, name=name, class_map=class_map, ignore_index=ignore_index).labels
        except MaskFileError as exc:
            out.skipped.append(f"{name}: {exc.reason}")
            continue
        except (ValueError, TypeError, DataError) as exc:
            out.skipped.append(f"{name}: {exc}")
            continue
        if labels.shape != hwc.shape[:2]:
            out.skipped.append(
                f"{name}: image is {hwc.shape[0]}x{hwc.shape[1]} but mask is {labels.shape[0]}x"
                f"{labels.shape[1]}; they must match pixel for pixel"
            )
            continue
        if out.images and hwc.shape[-1] != out.channels:
            raise ConfigError(
                f"{name} has {hwc.shape[-1]} channel(s) but earlier images have {out.channels}; every image "
                f"must have the same channels."
            )
        out.images.append(hwc)
        out.raw_masks.append(raw)
        out.labels.append(labels.astype(np.int16))
        out.names.append(name)
    for line in out.skipped:
        logger.warning("Skipped %s", line)
    if not out.images:
        first = out.skipped[0] if out.skipped else "it is empty"
        raise NoUsableDataError(f"No item of the {role!r} data could be used: {first}.")
    if any(im.dtype != np.uint8 for im in out.images):  # one dtype for the whole set
        out.images = [im.astype(np.float32) for im in out.images]
    return out
