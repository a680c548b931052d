"""The report's sample slices of a volume: through the largest and the smallest lesion of each class, cut
across the through-plane axis, captioned with the lesion's size in voxels and mm³, its centre, the slice
index and the axis. Every expected slice and size below is counted by hand from the synthetic lesions."""

from __future__ import annotations

import numpy as np

from lossadvisor.tune.data import TrainData
from lossadvisor.tune.training import lesion_slices, sample_views, stack_slices
from lossadvisor.tune.training._lesion_views import MAX_SAMPLE_SLICES


def test_binary_volume_shows_the_largest_and_the_smallest_of_three_lesions():
    m = np.zeros((12, 10, 10), np.int16)
    m[2:5, 2:7, 2:7] = 1  # 75 voxels, 25 on each of slices 2, 3, 4 ...
    m[4, 7, 2:7] = 1  # ... and 5 more on slice 4: 80 voxels, most on slice 4; box D 2-4, H 2-7, W 2-6
    m[8:10, 7:9, 7:9] = 1  # 8 voxels: neither the largest nor the smallest
    m[9, 1, 1] = 1  # 1 voxel on slice 9
    assert lesion_slices(m, (2.0, 1.0, 1.0)) == [  # D is the through-plane axis; a voxel is 2 mm³
        (0, 4, "largest of 3 lesions: 80 voxels, 160 mm³, centre (3, 4, 4)"),
        (0, 9, "smallest of 3 lesions: 1 voxel, 2 mm³, centre (9, 1, 1)"),
    ]
    without_spacing = lesion_slices(m)
    assert [v[:2] for v in without_spacing] == [(0, 4), (0, 9)]
    assert "mm³" not in without_spacing[0][2] and "80 voxels" in without_spacing[0][2]


def test_each_class_gets_its_largest_and_smallest_lesion_cut_across_the_coarse_axis():
    """Spacing 1 x 1 x 4 mm: W is the through-plane axis, so the slices are m[:, :, k]; a voxel is 4 mm³."""
    m = np.zeros((8, 8, 10), np.int16)
    m[1:4, 1:4, 2:4] = 1  # class 1: 18 voxels, 9 on each of W slices 2 and 3 (the first: 2)
    m[6, 6, 8] = 1  # class 1: 1 voxel on W slice 8
    m[5:7, 1:3, 5] = 2  # class 2: 4 voxels on W slice 5, its only lesion
    views = lesion_slices(m, (1.0, 1.0, 4.0))
    assert views == [
        (2, 2, "class 1, largest of 2 lesions: 18 voxels, 72 mm³, centre (2, 2, 2)"),
        (2, 8, "class 1, smallest of 2 lesions: 1 voxel, 4 mm³, centre (6, 6, 8)"),
        (2, 5, "class 2, the only lesion: 4 voxels, 16 mm³, centre (5, 1, 5)"),
    ]
    shown = stack_slices({0: m}, [_view(0, axis, k) for axis, k, _ in views])
    assert shown.shape == (3, 8, 8)  # (D, H) slices
    assert [int((s == c).sum()) for s, c in zip(shown, (1, 1, 2), strict=True)] == [9, 1, 4]


def test_lesions_on_one_slice_share_it_and_an_empty_volume_shows_its_middle():
    m = np.zeros((4, 6, 6), np.int16)
    m[0:2, 0:2, 0:2] = 1  # 8 voxels, 4 on each of slices 0 and 1
    m[0, 4, 4] = 2  # 1 voxel on slice 0
    shared = (
        "class 1, the only lesion: 8 voxels, centre (0, 0, 0); "
        "class 2, the only lesion: 1 voxel, centre (0, 4, 4)"
    )
    assert lesion_slices(m) == [(0, 0, shared)]
    assert lesion_slices(np.zeros((6, 4, 4), np.int16)) == [(0, 3, "no lesion, middle slice")]
    coarse_w = lesion_slices(np.zeros((6, 4, 9), np.int16), (1.0, 1.0, 3.0))
    assert coarse_w == [(2, 4, "no lesion, middle slice")]  # cut across W, the coarse axis


def test_two_classes_that_touch_are_two_lesions_as_object_recall_counts_them():
    touching = np.zeros((8, 6, 6), np.int16)
    touching[0:5, 1:4, 1:4] = 1  # 45 voxels, 9 on each of slices 0..4 (hippocampus head ...)
    touching[5:7, 1:3, 1:3] = 2  # ... and tail: 8 voxels on slices 5, 6
    assert lesion_slices(touching, (1.0, 1.0, 1.0)) == [
        (0, 0, "class 1, the only lesion: 45 voxels, 45 mm³, centre (2, 2, 2)"),
        (0, 5, "class 2, the only lesion: 8 voxels, 8 mm³, centre (5, 1, 1)"),
    ]


def test_sample_views_caption_the_case_slice_and_axis_of_the_first_sample_volumes():
    small_and_large = np.zeros((6, 5, 5), np.int16)
    small_and_large[1:4, 1:4, 1:4] = 1  # 27 voxels, slices 1-3 (the first: 1)
    small_and_large[5, 4, 4] = 1  # 1 voxel, slice 5
    one = np.zeros((6, 5, 5), np.int16)
    one[2, 2, 2] = 1
    masks = [one, small_and_large, np.zeros((6, 5, 5), np.int16), one]
    data = _train_data(masks, spacing=[(2.0, 0.5, 0.5)] * 4)  # a voxel is 0.5 mm³
    views = sample_views(data, [1, 0, 2, 3])  # the first three: cases 1, 0 and 2
    assert [v.caption for v in views] == [
        "case1 · slice 1 of D · largest of 2 lesions: 27 voxels, 14 mm³, centre (2, 2, 2)",
        "case1 · slice 5 of D · smallest of 2 lesions: 1 voxel, 0.5 mm³, centre (5, 4, 4)",
        "case0 · slice 2 of D · the only lesion: 1 voxel, 0.5 mm³, centre (2, 2, 2)",
        "case2 · slice 3 of D · no lesion, middle slice",
    ]
    stacked = stack_slices({v.volume: data.val_masks[v.volume] for v in views}, views)
    assert [int(s.sum()) for s in stacked] == [9, 1, 1, 0]  # the lesion voxels on each shown slice


def test_sample_views_stop_at_the_slice_budget():
    m = np.zeros((20, 8, 8), np.int16)
    for cls in (1, 2, 3):  # three classes, each with a 2-voxel and a 1-voxel lesion: six slices a volume
        m[6 * cls - 6, 0, 0:2] = cls
        m[6 * cls - 3, 5, 5] = cls
    data = _train_data([m, m, m], spacing=None)
    assert len(sample_views(data, [0, 1, 2])) == MAX_SAMPLE_SLICES == 12


def _view(volume: int, axis: int, index: int):
    from lossadvisor.tune.training import SliceView

    return SliceView(volume, axis, index, "")


def _train_data(masks: list[np.ndarray], spacing) -> TrainData:
    return TrainData(
        train_images=[], train_masks=[], val_images=[m[..., None].astype(np.float32) for m in masks],
        val_masks=masks, train_names=[], val_names=[f"case{i}" for i in range(len(masks))],
        mean=np.zeros(1), std=np.ones(1), scale=1.0, mode="volume", side=8, patch=(8, 8, 8),
        val_spacing=spacing,
    )  # fmt: skip
