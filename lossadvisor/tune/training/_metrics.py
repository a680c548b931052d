"""Validation metrics of one trial: foreground IoU / Dice, collapse, and object recall by size.

IoU and Dice are accumulated over the whole validation set (intersection and union summed over tiles, the
convention of the Inria aerial benchmark, Maggiori et al. 2017), so a tile without foreground neither scores a
meaningless 0/0 nor dominates the mean. Multi-class scores are the mean over foreground classes present in the
labels or the predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lossadvisor.profile._schema import SIZE_BUCKET_BOUNDS_PX
from lossadvisor.runfolder import SIZE_BUCKET_BOUNDS_MM3

# Collapse: in the first epochs the model predicts all background, or all foreground.
# Background collapse: the model predicts under 1% of the foreground pixels the labels hold.
COLLAPSE_BACKGROUND_RATIO = 0.01
# Foreground collapse: at least 95% of the validation pixels predicted foreground while the labels hold fewer.
COLLAPSE_FOREGROUND_SHARE = 0.95
# An object counts as found when at least half of its pixels are predicted as its class (the usual 0.5
# overlap criterion of detection recall, Everingham et al. 2010, "The PASCAL VOC challenge").
OBJECT_FOUND_OVERLAP = 0.5
COLLAPSE_KINDS = ("none", "background", "foreground")
# The metrics a run can be scored by (``--objective``): foreground IoU (the default), Dice, or pixel recall,
# each pooled over the validation tiles and averaged over the foreground classes.
SCORED_METRICS = ("iou", "dice", "recall")
DEFAULT_METRIC = "iou"


def foreground_score(counts: np.ndarray, metric: str = DEFAULT_METRIC) -> np.ndarray:
    """The scored metric from pooled counts ``(..., 3, C)`` (intersection, predicted, labelled per class).

    IoU and Dice average the foreground classes present in labels or predictions, recall those present in the
    labels; with none of them the score is 1.0 (predicting nothing where there is nothing is right).

    Example:
        >>> counts = np.array([[5, 3], [5, 6], [5, 4]])  # class 1: 3 hit, 6 predicted, 4 labelled
        >>> [round(float(foreground_score(counts, m)), 3) for m in SCORED_METRICS]
        [0.429, 0.6, 0.75]
    """
    if metric not in SCORED_METRICS:
        raise ValueError(f"metric must be one of {', '.join(SCORED_METRICS)}; got {metric!r}")
    counts = np.asarray(counts, dtype=float)
    inter, pred, lab = counts[..., 0, 1:], counts[..., 1, 1:], counts[..., 2, 1:]
    if metric == "recall":
        present, denominator = lab > 0, lab
    else:
        present = (pred + lab) > 0
        denominator = pred + lab - inter if metric == "iou" else (pred + lab) / 2.0
    values = np.where(present, inter / np.where(present, denominator, 1.0), 0.0)
    n = present.sum(axis=-1)
    return np.where(n > 0, values.sum(axis=-1) / np.maximum(n, 1), 1.0)


@dataclass
class SegmentationTally:
    """Running per-class pixel counts over a validation pass (class 0 is background)."""

    num_classes: int  # including background; 2 for binary

    def __post_init__(self) -> None:
        self.intersection = np.zeros(self.num_classes, dtype=np.int64)
        self.predicted = np.zeros(self.num_classes, dtype=np.int64)
        self.labelled = np.zeros(self.num_classes, dtype=np.int64)
        self.pixels = 0

    def add(self, pred: np.ndarray, target: np.ndarray, *, ignore_index: int | None = None) -> None:
        """Count one batch of class-index predictions against class-index targets (same shape)."""
        valid = np.ones(target.shape, dtype=bool) if ignore_index is None else target != ignore_index
        p = pred[valid].astype(np.int64)
        t = target[valid].astype(np.int64)
        k = self.num_classes
        self.predicted += np.bincount(p, minlength=k)[:k]
        self.labelled += np.bincount(t, minlength=k)[:k]
        self.intersection += np.bincount(t[p == t], minlength=k)[:k]
        self.pixels += int(valid.sum())

    def scores(self) -> tuple[float, float, list[float], list[float]]:
        """(foreground IoU, foreground Dice, IoU per class, Dice per class); absent classes are NaN per class.

        When no foreground class appears in labels or predictions the foreground scores are 1.0: predicting
        nothing where there is nothing is right.
        """
        inter = self.intersection.astype(float)
        total = (self.predicted + self.labelled).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(total > 0, inter / (total - inter), np.nan)
            dice = np.where(total > 0, 2 * inter / total, np.nan)
        fg_iou, fg_dice = iou[1:], dice[1:]
        present = ~np.isnan(fg_iou)
        if not present.any():
            return 1.0, 1.0, iou.tolist(), dice.tolist()
        return float(fg_iou[present].mean()), float(fg_dice[present].mean()), iou.tolist(), dice.tolist()

    def score(self, metric: str = DEFAULT_METRIC) -> float:
        """The scored metric (:func:`foreground_score`) of the counts so far."""
        counts = np.stack([self.intersection, self.predicted, self.labelled])
        return float(foreground_score(counts, metric))

    def foreground_shares(self) -> tuple[float, float]:
        """(predicted foreground share, labelled foreground share) of the counted pixels."""
        if self.pixels == 0:
            return 0.0, 0.0
        return float(self.predicted[1:].sum() / self.pixels), float(self.labelled[1:].sum() / self.pixels)


def collapse_kind(pred_fg_share: float, true_fg_share: float) -> str:
    """Name the collapse of a validation pass: "none", "background" or "foreground".

    Example:
        >>> collapse_kind(0.0, 0.12)
        'background'
        >>> collapse_kind(0.99, 0.12)
        'foreground'
        >>> collapse_kind(0.10, 0.12)
        'none'
    """
    if true_fg_share > 0 and pred_fg_share < COLLAPSE_BACKGROUND_RATIO * true_fg_share:
        return "background"
    if pred_fg_share >= COLLAPSE_FOREGROUND_SHARE and true_fg_share < COLLAPSE_FOREGROUND_SHARE:
        return "foreground"
    return "none"


def scaled_size_buckets(scale: float) -> tuple[tuple[str, float, float], ...]:
    """The profile's size buckets (native pixels) expressed in pixels at the training resolution.

    An object of native area A covers about ``A * scale**2`` pixels once its tile is resized by ``scale``, so
    the bucket bounds scale by the same factor and an object keeps its bucket whatever the training size.
    """
    return tuple((name, lo * scale**2, hi * scale**2) for name, lo, hi in SIZE_BUCKET_BOUNDS_PX)


@dataclass
class ObjectRecallTally:
    """Found / total ground-truth objects per size bucket, over the validation set.

    Tiles are bucketed by area in pixels (scaled to the training resolution); volumes (``physical``) by
    volume in mm³ (:data:`SIZE_BUCKET_BOUNDS_MM3`, objects labelled with 26-connectivity).
    """

    scale: float = 1.0  # training resolution / native resolution
    physical: bool = False  # volumes: buckets in mm³

    def __post_init__(self) -> None:
        self.buckets = SIZE_BUCKET_BOUNDS_MM3 if self.physical else scaled_size_buckets(self.scale)
        self.found = {name: 0 for name, _, _ in self.buckets}
        self.total = {name: 0 for name, _, _ in self.buckets}

    @classmethod
    def for_data(cls, data) -> ObjectRecallTally:
        """The tally of a :class:`~lossadvisor.tune.data.TrainData`: pixel buckets, or mm³ for volumes."""
        return cls(scale=data.scale, physical=data.patch is not None)

    def add(
        self,
        pred: np.ndarray,
        target: np.ndarray,
        *,
        num_classes: int,
        connectivity: int = 8,
        spacing: tuple[float, ...] | None = None,
    ) -> None:
        """Count the objects of one tile (2-D) or volume (3-D, ``spacing`` in mm), for every class."""
        if target.ndim == 3:
            self._add_volume(pred, target, num_classes=num_classes, spacing=spacing or (1.0, 1.0, 1.0))
            return
        import cv2

        for cls in range(1, num_classes):
            truth = (target == cls).astype(np.uint8)
            if not truth.any():
                continue
            n, labels = cv2.connectedComponents(truth, connectivity=connectivity)
            if n <= 1:
                continue
            hit = (pred == cls) & (truth > 0)
            areas = np.bincount(labels.ravel(), minlength=n)
            hits = np.bincount(labels[hit], minlength=n)
            for label in range(1, n):
                area = areas[label]
                for name, lo, hi in self.buckets:
                    if lo <= area < hi:
                        self.total[name] += 1
                        self.found[name] += int(hits[label] >= OBJECT_FOUND_OVERLAP * area)
                        break

    def _add_volume(
        self, pred: np.ndarray, target: np.ndarray, *, num_classes: int, spacing: tuple[float, ...]
    ) -> None:
        from scipy import ndimage

        voxel_mm3 = float(np.prod(spacing))
        structure = np.ones((3, 3, 3), dtype=bool)  # 26-connectivity, the profile's default in 3-D
        for cls in range(1, num_classes):
            truth = target == cls
            if not truth.any():
                continue
            labels, n = ndimage.label(truth, structure=structure)
            voxels = np.bincount(labels.ravel(), minlength=n + 1)
            hits = np.bincount(labels[(pred == cls) & truth], minlength=n + 1)
            for label in range(1, n + 1):
                volume = voxels[label] * voxel_mm3
                name = next(name for name, lo, hi in self.buckets if lo <= volume < hi)
                self.total[name] += 1
                self.found[name] += int(hits[label] >= OBJECT_FOUND_OVERLAP * voxels[label])

    def recall(self) -> dict[str, float | None]:
        """Recall per bucket; None where the validation set has no object of that size."""
        return {k: (self.found[k] / self.total[k] if self.total[k] else None) for k in self.total}
