"""Training batches from the in-memory cache: shuffled order, random crops (a share of them around
foreground), flips and 90-degree turns.

Augmentation is the dihedral group of the square (8 flips/turns): aerial and microscopy tiles have no
preferred orientation, so it multiplies a small training set without changing what a pixel means.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from lossadvisor.tune.data import TrainData, counted_foreground
from lossadvisor.tune.training._recipe import forced_foreground, foreground_window


class BatchSource:
    """Draws training batches and serves validation batches as normalised float tensors.

    Args:
        data: The decoded dataset.
        batch_size: Training batch size.
        device: Torch device for the tensors.
        rng: NumPy generator for order, crops and augmentation (seeded per run for repeatability).
        augment: Random flips and 90-degree turns.
        foreground_share: In crop mode, the share of each batch's crops centred on a random foreground pixel
            of their tile (:func:`~._recipe.forced_foreground` of the batch; tiles without foreground get a
            uniform crop); the rest are uniform. 0 (uniform crops only) reproduces the older recipe.
        ignore_index: Label value that is not foreground (never a crop's centre).
    """

    def __init__(
        self,
        data: TrainData,
        *,
        batch_size: int,
        device: str,
        rng: np.random.Generator,
        augment: bool = True,
        foreground_share: float = 0.0,
        ignore_index: int | None = None,
    ) -> None:
        import torch

        self.data = data
        self.batch_size = batch_size
        self.device = device
        self.rng = rng
        self.augment = augment
        self._mean = torch.tensor(data.mean, dtype=torch.float32).view(1, -1, 1, 1)
        self._std = torch.tensor(data.std, dtype=torch.float32).view(1, -1, 1, 1)
        self._order: list[int] = []
        self._forced = forced_foreground(batch_size, foreground_share) if data.mode == "crop" else 0
        self._fg: list[np.ndarray] = []
        if self._forced:
            self._fg = [np.flatnonzero(counted_foreground(m, ignore_index)) for m in data.train_masks]
        if data.mode == "resize":
            self._images = np.stack(data.train_images)
            self._masks = np.stack(data.train_masks)

    @property
    def n_train(self) -> int:
        return len(self.data.train_images)

    def _next_indices(self) -> list[int]:
        picked = []
        while len(picked) < self.batch_size:
            if not self._order:
                self._order = self.rng.permutation(self.n_train).tolist()
            picked.append(self._order.pop())
        return picked

    def _crop(self, i: int, *, foreground: bool = False) -> tuple[np.ndarray, np.ndarray]:
        img, msk = self.data.train_images[i], self.data.train_masks[i]
        side = self.data.side
        if foreground and len(self._fg[i]):
            y, x = foreground_window(self._fg[i], msk.shape, side, self.rng)
        else:
            y = int(self.rng.integers(0, img.shape[0] - side + 1))
            x = int(self.rng.integers(0, img.shape[1] - side + 1))
        return img[y : y + side, x : x + side], msk[y : y + side, x : x + side]

    def normalise(self, images: np.ndarray):
        """``(n, H, W, C)`` -> ``(n, C, H, W)`` float32 on the device, standardised per channel."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
        return ((x - self._mean) / self._std).to(self.device)

    def train_batch(self):
        """One augmented batch: ``(x, y)`` with x ``(B, C, S, S)`` float32 and y ``(B, S, S)`` int64."""
        import torch

        idx = self._next_indices()
        if self.data.mode == "resize":
            images, masks = self._images[idx], self._masks[idx]
        else:
            first_forced = len(idx) - self._forced  # the batch's last samples, as in nnU-Net
            crops = [self._crop(i, foreground=k >= first_forced) for k, i in enumerate(idx)]
            images = np.stack([c[0] for c in crops])
            masks = np.stack([c[1] for c in crops])
        if self.augment:
            turns = self.rng.integers(0, 4, size=len(idx))
            flips = self.rng.random(len(idx)) < 0.5
            images = np.stack([np.rot90(im, k, axes=(0, 1)) for im, k in zip(images, turns, strict=True)])
            masks = np.stack([np.rot90(m, k, axes=(0, 1)) for m, k in zip(masks, turns, strict=True)])
            images[flips] = images[flips][:, :, ::-1]
            masks[flips] = masks[flips][:, :, ::-1]
        y = torch.from_numpy(np.ascontiguousarray(masks).astype(np.int64)).to(self.device)
        return self.normalise(images), y

    def predictions(self, model, autocast) -> Iterator[tuple[np.ndarray, np.ndarray, list]]:
        """Per validation batch: ``(predicted classes, masks, spacings)`` (no spacing for tiles: ``None``)."""
        import torch

        from lossadvisor.tune.training._train import predict_classes

        with torch.no_grad():
            for x, masks in self.val_batches():
                with autocast():
                    logits = model(x)
                yield predict_classes(logits.float()), masks, [None] * len(masks)

    def predict_samples(self, model, indices: list[int], autocast) -> np.ndarray:
        """Predicted classes ``(n, S, S)`` int16 of the validation tiles ``indices``."""
        import torch

        from lossadvisor.tune.training._train import predict_classes

        with torch.no_grad(), autocast():
            logits = model(self.normalise(self.data.val_images[indices]))
        return predict_classes(logits.float()).astype(np.int16)

    def val_batches(self, batch_size: int = 16) -> Iterator[tuple[object, np.ndarray]]:
        """Validation batches in order: ``(x tensor, masks ndarray)``."""
        for start in range(0, len(self.data.val_images), batch_size):
            stop = start + batch_size
            yield self.normalise(self.data.val_images[start:stop]), self.data.val_masks[start:stop]


def make_batch_source(
    data: TrainData,
    *,
    batch_size: int,
    device: str,
    rng: np.random.Generator,
    augment: bool = True,
    ignore_index: int | None = None,
    foreground_share: float = 0.0,
):
    """The batch source of ``data``: :class:`BatchSource` for tiles (``foreground_share`` of the crops centred
    on foreground in crop mode), the patch source for volumes."""
    if data.patch is not None:
        from lossadvisor.tune.training._volume_batches import VolumeBatchSource

        return VolumeBatchSource(
            data, batch_size=batch_size, device=device, rng=rng, augment=augment, ignore_index=ignore_index
        )
    return BatchSource(
        data, batch_size=batch_size, device=device, rng=rng, augment=augment,
        foreground_share=foreground_share, ignore_index=ignore_index,
    )  # fmt: skip
