"""Training patches and sliding-window validation for volumes: the 3-D :class:`BatchSource`.

Patches: every batch draws random ``(D, H, W)`` patches from the training volumes, and every third patch is
centred on a random foreground voxel (nnU-Net oversamples foreground in a third of its patches,
``oversample_foreground_percent = 0.33``), so that patches of empty background do not swamp small lesions.
Augmentation is a random flip along each axis (nnU-Net's mirroring); no rotation, whose interpolation would
blur anisotropic voxels.

Validation: each whole volume is predicted by a sliding window of the training patch with half-patch overlap,
the windows' logits blended with a Gaussian importance map (centre voxels count more than edge voxels, as in
nnU-Net and MONAI's ``sliding_window_inference(mode="gaussian")``). One volume is one validation case, so the
verdict pairs runs over the same volumes.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from lossadvisor.tune.data import TrainData, counted_foreground
from lossadvisor.tune.training._lesion_views import sample_views, stack_slices

FOREGROUND_EVERY = 3  # every third patch centred on foreground: nnU-Net's 0.33
FOREGROUND_SAMPLE = 10_000  # foreground voxels kept per volume to centre patches on (nnU-Net keeps 10 000)
WINDOW_OVERLAP = 0.5
GAUSSIAN_SIGMA_SCALE = 0.125  # sigma = 1/8 of the patch side, nnU-Net's and MONAI's default
WINDOW_BATCH = 4  # windows per forward pass during validation


def _pad_to(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-pad the first three axes of ``array`` at their far end up to ``shape`` (never crops)."""
    pad = [(0, max(0, s - n)) for n, s in zip(array.shape[:3], shape, strict=True)]
    if not any(after for _, after in pad):
        return array
    return np.pad(array, pad + [(0, 0)] * (array.ndim - 3))


class VolumeBatchSource:
    """Draws 3-D training patches and predicts whole validation volumes; the interface of ``BatchSource``.

    Args:
        data: The decoded volumes (``data.mode == "volume"``).
        batch_size: Patches per training batch.
        device: Torch device for the tensors.
        rng: NumPy generator for the volume order, patch positions and flips.
        augment: Random flips along each axis.
    """

    def __init__(
        self,
        data: TrainData,
        *,
        batch_size: int,
        device: str,
        rng: np.random.Generator,
        augment: bool = True,
        ignore_index: int | None = None,
    ) -> None:
        self.data = data
        self.ignore_index = ignore_index
        self.batch_size = batch_size
        self.device = device
        self.rng = rng
        self.augment = augment
        self.patch: tuple[int, int, int] = tuple(data.patch)  # type: ignore[arg-type, assignment]
        self._order: list[int] = []
        self._drawn = 0
        self._images = [_pad_to(im, self.patch) for im in data.train_images]
        self._masks = [_pad_to(m, self.patch) for m in data.train_masks]
        self._foreground = [self._foreground_voxels(m) for m in self._masks]

    def _foreground_voxels(self, mask: np.ndarray) -> np.ndarray:
        """Coordinates of (at most :data:`FOREGROUND_SAMPLE`) counted foreground voxels of one volume."""
        coords = np.argwhere(counted_foreground(mask, self.ignore_index))
        if len(coords) > FOREGROUND_SAMPLE:
            coords = coords[self.rng.choice(len(coords), FOREGROUND_SAMPLE, replace=False)]
        return coords

    @property
    def n_train(self) -> int:
        return len(self.data.train_images)

    def _next_volume(self) -> int:
        if not self._order:
            self._order = self.rng.permutation(self.n_train).tolist()
        return self._order.pop()

    def _corner(self, i: int, centre_on_foreground: bool) -> tuple[int, ...]:
        shape = self._masks[i].shape
        fg = self._foreground[i]
        if centre_on_foreground and len(fg):
            centre = fg[int(self.rng.integers(len(fg)))]
            return tuple(
                int(np.clip(c - p // 2, 0, n - p)) for c, p, n in zip(centre, self.patch, shape, strict=True)
            )
        return tuple(int(self.rng.integers(0, n - p + 1)) for p, n in zip(self.patch, shape, strict=True))

    def train_batch(self):
        """One batch: ``(x, y)`` with x ``(B, C, D, H, W)`` float32 and y ``(B, D, H, W)`` int64."""
        import torch

        images, masks = [], []
        for _ in range(self.batch_size):
            i = self._next_volume()
            self._drawn += 1
            z, y, x = self._corner(i, self._drawn % FOREGROUND_EVERY == 0)
            d, h, w = self.patch
            img = self._images[i][z : z + d, y : y + h, x : x + w]
            msk = self._masks[i][z : z + d, y : y + h, x : x + w]
            if self.augment:
                for axis in range(3):
                    if self.rng.random() < 0.5:
                        img, msk = np.flip(img, axis), np.flip(msk, axis)
            images.append(img)
            masks.append(msk)
        x = torch.from_numpy(np.ascontiguousarray(np.stack(images))).permute(0, 4, 1, 2, 3).float()
        y = torch.from_numpy(np.ascontiguousarray(np.stack(masks)).astype(np.int64))
        return x.to(self.device), y.to(self.device)

    def predict_volume(self, model, index: int, autocast):
        """Logits ``(C, D, H, W)`` (float32 tensor) of validation volume ``index`` by sliding window."""
        import torch

        image = torch.from_numpy(np.ascontiguousarray(self.data.val_images[index])).permute(3, 0, 1, 2)
        return sliding_window(model, image.float(), self.patch, device=self.device, autocast=autocast)

    def predictions(self, model, autocast) -> Iterator[tuple[np.ndarray, np.ndarray, list]]:
        """Per validation volume: ``(pred (1, D, H, W), mask (1, D, H, W), [spacing])``."""
        from lossadvisor.tune.training._train import predict_classes

        spacing = self.data.val_spacing or [None] * len(self.data.val_masks)
        for i, mask in enumerate(self.data.val_masks):
            logits = self.predict_volume(model, i, autocast)
            yield predict_classes(logits[None]), mask[None], [spacing[i]]

    def predict_samples(self, model, indices: list[int], autocast) -> np.ndarray:
        """Predicted classes ``(n, H, W)`` int16 on the :func:`sample_views` slices of ``indices``."""
        from lossadvisor.tune.training._train import predict_classes

        views = sample_views(self.data, indices)
        predicted = {
            i: predict_classes(self.predict_volume(model, i, autocast)[None])[0].astype(np.int16)
            for i in dict.fromkeys(v.volume for v in views)
        }
        return stack_slices(predicted, views)


def gaussian_importance(patch: tuple[int, ...]) -> np.ndarray:
    """A separable Gaussian over the patch, peak 1, sigma = patch side / 8, floored at 1e-3 (never zero)."""
    weights = np.ones(patch, dtype=np.float32)
    for axis, side in enumerate(patch):
        centre, sigma = (side - 1) / 2.0, max(side * GAUSSIAN_SIGMA_SCALE, 1e-6)
        profile = np.exp(-0.5 * ((np.arange(side) - centre) / sigma) ** 2).astype(np.float32)
        shape = [1] * len(patch)
        shape[axis] = side
        weights = weights * profile.reshape(shape)
    return np.maximum(weights / weights.max(), 1e-3)


def window_starts(size: int, window: int, overlap: float = WINDOW_OVERLAP) -> list[int]:
    """Window starts along one axis, ``window * (1 - overlap)`` apart, the last one flush with the end.

    Example:
        >>> window_starts(50, 32)
        [0, 16, 18]
        >>> window_starts(32, 32)
        [0]
    """
    if size <= window:
        return [0]
    step = max(1, int(window * (1.0 - overlap)))
    starts = list(range(0, size - window + 1, step))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def sliding_window(model, image, patch: tuple[int, ...], *, device: str, autocast, batch: int = WINDOW_BATCH):
    """Gaussian-blended logits ``(K, D, H, W)`` of ``image`` ``(C, D, H, W)`` over windows of ``patch``.

    A volume smaller than the patch along an axis is zero-padded at the far end for the forward pass and the
    padding cropped off again.
    """
    import torch

    channels, *shape = image.shape
    padded_shape = [max(n, p) for n, p in zip(shape, patch, strict=True)]
    if padded_shape != list(shape):
        pads = []
        for n, p in zip(reversed(shape), reversed(padded_shape), strict=True):
            pads += [0, p - n]
        image = torch.nn.functional.pad(image, pads)
    corners = [
        (z, y, x)
        for z in window_starts(padded_shape[0], patch[0])
        for y in window_starts(padded_shape[1], patch[1])
        for x in window_starts(padded_shape[2], patch[2])
    ]
    weight = torch.from_numpy(gaussian_importance(tuple(patch))).to(device)
    total = None
    norm = torch.zeros(padded_shape, device=device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(corners), batch):
            chunk = corners[start : start + batch]
            windows = torch.stack(
                [image[:, z : z + patch[0], y : y + patch[1], x : x + patch[2]] for z, y, x in chunk]
            ).to(device)
            with autocast():
                logits = model(windows)
            logits = logits.float()
            if total is None:
                total = torch.zeros((logits.shape[1], *padded_shape), device=device)
            for (z, y, x), out in zip(chunk, logits, strict=True):
                total[:, z : z + patch[0], y : y + patch[1], x : x + patch[2]] += out * weight
                norm[z : z + patch[0], y : y + patch[1], x : x + patch[2]] += weight
    if was_training:
        model.train()
    d, h, w = shape
    return (total / norm)[:, :d, :h, :w].cpu()
