"""The 3-D rules on crafted volume profiles, on each side of every new threshold."""

from __future__ import annotations

import dataclasses

import pytest
from crafted_profiles import build_profile, constant

from lossadvisor.profile._schema import DatasetProfile, VolumeStats
from lossadvisor.rules import DEFAULT_THRESHOLDS, recommend
from lossadvisor.rules._engine import PROFILE_RULES_3D
from lossadvisor.rules._structure import rule_thin_structures
from lossadvisor.rules._volume import (
    rule_anisotropy,
    rule_empty_patches,
    rule_objects_few_voxels_across,
    rule_small_lesions_in_patch,
)


def volume_profile(
    *,
    spacing=(1.0, 1.0, 1.0),
    empty_patches: float = 0.0,
    small_in_patch: float = 0.0,
    below_4vox: float = 0.0,
    slices: float = 10.0,
    surface: float = 0.3,
    fg_shares=(0.03,),
) -> DatasetProfile:
    base = build_profile(fg_shares, boundary_share=surface)
    classes = tuple(
        dataclasses.replace(c, objects=dataclasses.replace(c.objects, slices=constant(slices)))
        if c.objects is not None
        else c
        for c in base.classes
    )
    ratio = max(spacing) / min(spacing)
    voxel = spacing[0] * spacing[1] * spacing[2]
    volume = VolumeStats(
        depth=constant(40), spacing_mm=tuple(constant(s) for s in spacing), median_spacing_mm=spacing,
        anisotropy=ratio, anisotropy_per_volume=constant(ratio), slice_axis=spacing.index(max(spacing)),
        spacing_known=True, orientations={"SAR": 100}, voxel_volume_mm3=constant(voxel),
        foreground_slice_share=constant(0.5), patch_size=(32, 64, 64), patch_source="default",
        empty_patch_share=constant(empty_patches), small_in_patch_share=small_in_patch,
        share_objects_below_voxels={"2vox": below_4vox / 2, "4vox": below_4vox},
    )  # fmt: skip
    return dataclasses.replace(base, classes=classes, dimensionality=3, connectivity=26, volume=volume)


T = dict(DEFAULT_THRESHOLDS)


@pytest.mark.parametrize(
    ("rule", "low", "high"),
    [
        (rule_small_lesions_in_patch, {"small_in_patch": 0.19}, {"small_in_patch": 0.2}),
        (rule_empty_patches, {"empty_patches": 0.24}, {"empty_patches": 0.25}),
        (rule_objects_few_voxels_across, {"below_4vox": 0.09}, {"below_4vox": 0.1}),
        (rule_anisotropy, {"spacing": (3.0, 1.0, 1.0)}, {"spacing": (3.1, 1.0, 1.0)}),
        (rule_thin_structures, {"surface": 0.64}, {"surface": 0.65}),
    ],
)
def test_each_3d_rule_fires_at_its_threshold_and_not_below(rule, low, high):
    assert not rule(volume_profile(**low), T).fired
    assert rule(volume_profile(**high), T).fired


def test_3d_rules_are_not_applicable_to_2d_profiles():
    flat = build_profile((0.03,))
    for rule in (
        rule_small_lesions_in_patch,
        rule_empty_patches,
        rule_objects_few_voxels_across,
        rule_anisotropy,
    ):
        trace = rule(flat, T).trace
        assert trace.comparison == "not applicable" and "2-D profile" in trace.conclusion


def test_thin_structures_use_the_3d_threshold_on_volumes():
    # 0.55 is thin for 2-D tiles (>= 0.5) but a compact 3-D organ reaches it: not thin in 3-D.
    assert rule_thin_structures(build_profile((0.03,), boundary_share=0.55), T).fired
    assert not rule_thin_structures(volume_profile(surface=0.55), T).fired


def test_anisotropy_advises_2d_slices_when_objects_span_few_slices():
    thin = rule_anisotropy(volume_profile(spacing=(5.0, 0.8, 0.8), slices=2), T)
    assert (
        thin.fired and "2-D in-plane slices" in thin.trace.conclusion and "along D" in thin.trace.conclusion
    )
    deep = rule_anisotropy(volume_profile(spacing=(5.0, 0.8, 0.8), slices=12), T)
    assert deep.fired and "in-plane patches" in deep.trace.conclusion
    assert not thin.scores and not deep.scores  # patch shape advice, no loss moved


def test_small_lesions_keep_a_dice_term_and_batch_dice():
    out = rule_small_lesions_in_patch(volume_profile(small_in_patch=0.5), T)
    assert out.batch_dice and out.scores["ce"] < 0 and out.scores["dice_ce"] > 0
    assert "nnU-Net" in out.warnings[0]


def test_empty_patches_count_nnunet_oversampling():
    out = rule_empty_patches(volume_profile(empty_patches=0.6), T)
    # a third of patches forced onto foreground leaves 2/3 of 60 % = 40 % empty
    assert "40% would still be empty" in out.warnings[0] and out.batch_dice


def test_recommendation_on_volumes_traces_every_3d_rule_and_the_framework_defaults():
    rec = recommend(volume_profile(small_in_patch=0.5, empty_patches=0.6))
    rules = [t.rule for t in rec.trace]
    assert rules[: len(PROFILE_RULES_3D)] == [f.__name__ for f in PROFILE_RULES_3D]
    assert rules[-1] == "rule_framework_defaults"
    assert "ce" in [c.loss for c in rec.candidates]  # the baseline stays
    assert rec.top.loss in ("dice_ce", "dice_focal", "unified_focal")
    assert rec.top.params.get("batch_dice") is True
    defaults = rec.trace[-1]
    assert defaults.fired == (rec.top.loss != "dice_ce")
    assert "nnU-Net" in defaults.reference and "Auto3DSeg" in defaults.reference


def test_framework_trace_names_the_rules_when_the_advice_differs():
    # extreme imbalance: the level starts from a loss built for it, not Dice + CE
    rec = recommend(volume_profile(fg_shares=(0.004,)))
    defaults = rec.trace[-1]
    assert rec.top.loss != "dice_ce" and defaults.fired
    assert (
        "rule_imbalance_level" in defaults.conclusion
        and "not the frameworks' Dice + CE" in defaults.conclusion
    )


def test_severe_volumes_keep_dice_ce_first_where_2d_tiles_get_tversky():
    # the evidence rows that put Tversky first at severe imbalance are 2-D tiles: volumes keep nnU-Net's
    assert recommend(build_profile((0.03,))).top.loss == "tversky"
    rec = recommend(volume_profile())
    assert rec.imbalance_level == "severe" and rec.top.loss == "dice_ce"
    assert "Isensee et al. 2021" in rec.top.rationale
