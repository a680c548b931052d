from __future__ import annotations

import numpy as np
import pytest

from lossadvisor.tune import SegmentationTally, collapse_kind
from lossadvisor.tune.training._metrics import ObjectRecallTally, scaled_size_buckets


def test_iou_and_dice_by_hand():
    target = np.array([[[1, 1, 0, 0], [1, 1, 0, 0]]])
    pred = np.array([[[1, 0, 0, 0], [1, 1, 1, 0]]])
    tally = SegmentationTally(2)
    tally.add(pred, target)
    iou, dice, per_class, _ = tally.scores()
    # foreground: intersection 3, prediction 4, label 4 -> IoU 3/5, Dice 6/8
    assert iou == pytest.approx(3 / 5)
    assert dice == pytest.approx(6 / 8)
    assert per_class[0] == pytest.approx(3 / 5)  # background: 3 / (4 + 4 - 3)
    assert tally.foreground_shares() == (0.5, 0.5)


def test_ignored_pixels_take_no_part():
    target = np.array([[[1, 255], [0, 0]]])
    pred = np.array([[[1, 1], [1, 0]]])
    tally = SegmentationTally(2)
    tally.add(pred, target, ignore_index=255)
    assert tally.pixels == 3
    assert tally.scores()[0] == pytest.approx(1 / 2)  # intersection 1, union 2


def test_multiclass_mean_skips_classes_absent_everywhere():
    target = np.array([[[1, 1, 0, 0]]])
    pred = np.array([[[1, 0, 0, 0]]])
    tally = SegmentationTally(3)  # class 2 never appears: excluded from the mean, not scored 0
    tally.add(pred, target)
    assert tally.scores()[0] == pytest.approx(0.5)


def test_empty_truth_and_empty_prediction_score_one():
    tally = SegmentationTally(2)
    tally.add(np.zeros((1, 4, 4), int), np.zeros((1, 4, 4), int))
    assert tally.scores()[:2] == (1.0, 1.0)


@pytest.mark.parametrize(
    ("pred_share", "true_share", "expected"),
    [
        (0.0, 0.2, "background"),  # nothing predicted
        (0.001, 0.2, "background"),  # 0.5% of the true share
        (0.003, 0.2, "none"),  # 1.5% of the true share: sparse but alive
        (1.0, 0.2, "foreground"),
        (0.96, 0.2, "foreground"),
        (0.5, 0.2, "none"),
        (0.0, 0.0, "none"),  # nothing to find, nothing predicted
        (1.0, 1.0, "none"),  # everything is foreground and predicted so
    ],
)
def test_collapse_kind(pred_share, true_share, expected):
    assert collapse_kind(pred_share, true_share) == expected


def test_collapse_on_constructed_predictions():
    target = np.zeros((2, 8, 8), int)
    target[:, 2:5, 2:5] = 1  # 9 of 64 pixels per tile
    for pred, expected in (
        (np.zeros_like(target), "background"),
        (np.ones_like(target), "foreground"),
        (target.copy(), "none"),
    ):
        tally = SegmentationTally(2)
        tally.add(pred, target)
        assert collapse_kind(*tally.foreground_shares()) == expected


def test_object_recall_by_bucket_by_hand():
    target = np.zeros((64, 64), int)
    target[0:4, 0:4] = 1  # 16 px: tiny (< 64)
    target[10:20, 10:20] = 1  # 100 px: small (64..1024)
    target[30:62, 30:62] = 1  # 1024 px: medium (1024..9216)
    pred = np.zeros_like(target)
    pred[0:4, 0:2] = 1  # 8 of 16 pixels: exactly half -> found
    pred[10:14, 10:20] = 1  # 40 of 100 -> missed
    pred[30:62, 30:62] = 1
    tally = ObjectRecallTally(scale=1.0)
    tally.add(pred, target, num_classes=2)
    assert tally.recall() == {"tiny": 1.0, "small": 0.0, "medium": 1.0, "large": None}


def test_buckets_scale_with_the_area():
    # Tiles resized by 0.5: a native 64 px^2 bound becomes 16 px^2 at the training resolution.
    buckets = dict((name, (lo, hi)) for name, lo, hi in scaled_size_buckets(0.5))
    assert buckets["tiny"] == (0.0, 16.0)
    assert buckets["small"] == (16.0, 256.0)
