"""Recommendations for crafted profiles: expected first choices, parameters worked out by hand."""

from __future__ import annotations

import json
import math

import pytest
from crafted_profiles import DICE_TERM, TOP_CHOICE_TABLE, build_profile

from lossadvisor.errors import ConfigError, DataError
from lossadvisor.losses import get_spec
from lossadvisor.rules import DEFAULT_THRESHOLDS, PROFILE_RULES, Recommendation, recommend


def _losses(rec: Recommendation) -> list[str]:
    return [c.loss for c in rec.candidates]


@pytest.mark.parametrize(
    ("kwargs", "expected"), [row[1:] for row in TOP_CHOICE_TABLE], ids=[r[0] for r in TOP_CHOICE_TABLE]
)
def test_top_choice_table(kwargs: dict, expected: set[str]) -> None:
    rec = recommend(build_profile(**kwargs))
    assert rec.top.loss in expected
    assert 3 <= len(rec.candidates) <= 5
    assert [c.rank for c in rec.candidates] == list(range(1, len(rec.candidates) + 1))
    assert len(set(_losses(rec))) == len(rec.candidates)


@pytest.mark.parametrize(
    ("share", "level"),
    [
        (0.45, "none"),
        (0.4, "none"),
        (0.3, "moderate"),
        (0.15, "moderate"),
        (0.1, "moderate"),
        (0.08, "severe"),
        (0.03, "severe"),
        (0.004, "extreme"),
    ],  # fmt: skip
)
def test_imbalance_levels_at_the_documented_bounds(share: float, level: str) -> None:
    # 40 % and 10 % are the moderate and severe bounds themselves (strict "<"): still "none" and "moderate".
    assert recommend(build_profile((share,))).imbalance_level == level


def test_many_empty_masks_use_batch_dice_in_every_dice_candidate() -> None:
    rec = recommend(build_profile((0.03,), absent_shares=(0.3,)))
    dice_like = [c for c in rec.candidates if c.loss in DICE_TERM]
    assert dice_like, _losses(rec)
    assert all(c.params.get("batch_dice") is True for c in dice_like)
    trace = {t.rule: t for t in rec.trace}["rule_empty_masks"]
    assert trace.fired and trace.measured == pytest.approx(0.3) and trace.threshold == 0.10
    assert "undefined" in next(c for c in rec.candidates if c.loss == "dice_ce").rationale


def test_few_empty_masks_leave_batch_dice_to_the_default() -> None:
    rec = recommend(build_profile((0.03,), absent_shares=(0.02,)))
    assert all("batch_dice" not in c.params for c in rec.candidates)


def _weighted(rec: Recommendation):
    return next(c for c in rec.candidates if c.loss == "weighted_ce")


def test_pos_weight_is_the_inverse_frequency_ratio_for_recall_its_square_root_for_iou_and_dice() -> None:
    # Binary inverse-frequency weighting: pos_weight = f_background / f_foreground (recall); where IoU or Dice
    # is scored, the square roots of the inverse frequencies: pos_weight = sqrt(f_background / f_foreground).
    under, over = build_profile((0.18,)), build_profile((0.15,))  # 0.82 / 0.18 = 4.56; 0.85 / 0.15 = 5.67
    for profile, ratio in ((under, 0.82 / 0.18), (over, 0.85 / 0.15)):
        recall = _weighted(recommend(profile, objective="recall")).params["pos_weight"]
        assert recall == pytest.approx(ratio, rel=1e-3)
        for objective in ("iou", "dice"):
            weight = _weighted(recommend(profile, objective=objective)).params["pos_weight"]
            assert weight == pytest.approx(math.sqrt(ratio), rel=1e-3)


def test_square_root_weights_are_still_capped_for_iou() -> None:
    # 3 % foreground (kept moderate by a lower severe bound): sqrt(0.97 / 0.03) = 5.69, over the
    # max_class_weight_overlap cap of 5
    rare, moderate = build_profile((0.03,)), {"minority_share_severe": 0.02}
    assert _weighted(recommend(rare, thresholds=moderate)).params["pos_weight"] == 5.0
    lifted = recommend(rare, thresholds={**moderate, "max_class_weight_overlap": 6.0})
    assert _weighted(lifted).params["pos_weight"] == pytest.approx(math.sqrt(0.97 / 0.03), rel=1e-3)


def test_multiclass_weights_for_iou_are_square_roots_then_capped() -> None:
    # Median frequency balancing of (0.60, 0.35, 0.05), presence 1: w_c = median(f) / f_c = 0.35 / f_c,
    # i.e. (0.5833, 1, 7), normalised so that sum(f * w) = 1: sum = 0.35 + 0.35 + 0.35 = 1.05 -> / 1.05.
    profile = build_profile((0.35, 0.05), names=("road", "car"))
    bg, road, car = 0.35 / 0.60 / 1.05, 1.0 / 1.05, 7.0 / 1.05
    recall = _weighted(recommend(profile, objective="recall")).params["class_weights"]
    assert recall == pytest.approx((bg, road, car), rel=1e-3)
    # IoU: w_c proportional to 1 / sqrt(f_c): car / background = sqrt(0.60 / 0.05) = 3.46 (under the cap),
    # road / background = sqrt(0.60 / 0.35); the mean over pixels stays 1
    iou = _weighted(recommend(profile)).params["class_weights"]
    assert iou[2] / iou[0] == pytest.approx(math.sqrt(0.60 / 0.05), rel=1e-3)
    assert iou[1] / iou[0] == pytest.approx(math.sqrt(0.60 / 0.35), rel=1e-3)
    assert 0.60 * iou[0] + 0.35 * iou[1] + 0.05 * iou[2] == pytest.approx(1.0, abs=1e-3)
    # a rarer car (1 %, background 64 %): sqrt(64) = 8 times the background, capped at 5
    rarer = _weighted(recommend(build_profile((0.35, 0.01), names=("road", "car")))).params["class_weights"]
    assert rarer[2] / rarer[0] == pytest.approx(5.0, rel=1e-3)


def test_pos_weight_is_clipped_at_max_class_weight() -> None:
    profile = build_profile((0.05,))  # 19:1, just under the default clip of 20
    rec = recommend(
        profile, thresholds={"max_class_weight": 10.0, "minority_share_severe": 0.04}, objective="recall"
    )
    weighted = next(c for c in rec.candidates if c.loss == "weighted_ce")
    assert weighted.params["pos_weight"] == pytest.approx(10.0)


def test_multiclass_rare_classes_get_class_weights_and_generalized_dice() -> None:
    # car has 10 % (moderate: the severe bound is a strict "<") and road 40 %: 4 times car, the 4:1 bound
    rec = recommend(build_profile((0.4, 0.1), names=("road", "car")))
    assert rec.top.loss == "weighted_ce"
    weights = rec.top.params["class_weights"]
    assert len(weights) == 3
    # Median frequency balancing: the rarest class gets the largest weight, the common background the
    # smallest.
    assert weights[2] == max(weights) and weights[0] == min(weights)
    assert max(weights) <= DEFAULT_THRESHOLDS["max_class_weight"]
    assert "generalized_dice" in _losses(rec)
    trace = {t.rule: t for t in rec.trace}["rule_rare_classes"]
    assert trace.fired and trace.measured == pytest.approx(0.4 / 0.1, rel=1e-3)
    assert "'car'" in trace.conclusion


def test_severe_multiclass_rare_keeps_a_class_weighting_option() -> None:
    rec = recommend(build_profile((0.19, 0.01)))
    assert rec.top.loss == "tversky"  # the severe level's first (measured: within the noise of the best)
    assert {"weighted_ce", "generalized_dice"} & set(_losses(rec))


def test_tversky_beta_grows_with_the_log_of_the_ratio() -> None:
    # Ratio 0.97 / 0.03 = 32.3: beta = 0.5 + 0.1 * log10(32.3) = 0.651.
    rec = recommend(build_profile((0.03,)))
    tversky = next(c for c in rec.candidates if c.loss == "tversky")
    assert tversky.params["beta"] == pytest.approx(0.5 + 0.1 * math.log10(0.97 / 0.03), abs=0.005)


def test_tiny_objects_favour_ce_in_the_mix_and_warn() -> None:
    plain = recommend(build_profile((0.03,)))
    tiny = recommend(build_profile((0.03,), tiny_share=0.5))
    assert {c.loss: c for c in plain.candidates}["dice_ce"].params["mix"] == 0.5
    assert {c.loss: c for c in tiny.candidates}["dice_ce"].params["mix"] < 0.5
    assert any("8x8 px" in w for w in tiny.warnings)
    # Pure Dice drops behind the compounds it had ranked above.
    assert _losses(tiny).index("dice_ce") < _losses(tiny).index("dice") if "dice" in _losses(tiny) else True


def test_objects_lost_at_the_training_size_suggest_a_measured_larger_size() -> None:
    profile = build_profile((0.15,), scale=[(128, 0.3, 0.25), (256, 0.02, 0.5)])
    rec = recommend(profile)
    trace = {t.rule: t for t in rec.trace}["rule_objects_lost_at_train_size"]
    assert trace.fired and trace.measured == pytest.approx(0.3)
    assert "128 px" in trace.measured_name
    assert any("train at 256 px" in w.lower() for w in rec.warnings)


def test_objects_lost_at_the_training_size_estimate_a_size_from_diameters() -> None:
    # Diameter 8 px at native 512 px (factor 0.25 at 128): an 8 px object needs a factor of 4/8 = 0.5, i.e.
    # 256 px.
    profile = build_profile((0.15,), diameter=8.0, scale=[(128, 0.9, 0.25)])
    assert any("about 256 px" in w for w in recommend(profile).warnings)
    # Objects of 4 px at native size cannot be saved by any resize: crop instead.
    small = build_profile((0.15,), diameter=3.0, scale=[(128, 0.9, 0.25)])
    assert any("native-resolution crops" in w for w in recommend(small).warnings)


def test_thin_structures_nudge_tversky_up_and_lovasz_down_with_the_topology_note() -> None:
    # measured on 2-px rims: Tversky the best IoU or within the noise of it, Lovász the worst of eight
    thick, thin = recommend(build_profile((0.03,))), recommend(build_profile((0.03,), boundary_share=0.8))
    assert _losses(thin).index("tversky") <= _losses(thick).index("tversky")
    assert "lovasz" not in _losses(thin)
    rule = {t.rule: t for t in thin.trace}["rule_thin_structures"]
    assert rule.fired and "Lovász worst" in rule.conclusion
    assert any("clDice" in w for w in thin.warnings)


def test_every_loss_gets_the_same_lr_range_by_default_and_dice_keeps_its_note() -> None:
    rec = recommend(build_profile((0.03,)))
    assert {c.lr_range for c in rec.candidates} == {(1e-4, 3e-2)}  # one range, the documented default
    assert {e.lr_range for e in rec.search_space} == {(1e-4, 3e-2)}
    for c in rec.candidates:
        if get_spec(c.loss).family == "distribution":
            assert c.lr_note == ""
        else:
            # the LR-finder note belongs to bounded losses only: a compound's CE term makes the finder stop
            assert ("LR range test" in c.lr_note) == (get_spec(c.loss).family == "region")
    trace = next(t for t in rec.trace if t.rule == "rule_dice_family")
    assert "the same LR range [0.0001, 0.03] as every other loss" in trace.conclusion
    assert "dice_ce" in _losses(rec)


def test_a_rules_config_can_still_give_dice_family_losses_another_range() -> None:
    rec = recommend(build_profile((0.03,)), thresholds={"lr_region_high": 1e-3})
    ranges = {get_spec(c.loss).family == "distribution": c.lr_range for c in rec.candidates}
    assert ranges == {True: (1e-4, 3e-2), False: (1e-4, 1e-3)}
    trace = next(t for t in rec.trace if t.rule == "rule_dice_family")
    assert "as set by the rules config" in trace.conclusion


def test_ignore_index_is_passed_to_every_candidate() -> None:
    rec = recommend(build_profile((0.15,), ignore_index=255))
    assert all(c.params.get("ignore_index") == 255 for c in rec.candidates)


def test_a_class_that_never_occurs_is_warned_about() -> None:
    rec = recommend(build_profile((0.45, 0.0), names=("road", "car")))
    assert any("'car' never occurs" in w for w in rec.warnings)
    assert rec.imbalance_level == "none"  # 0.55 : 0.45 among the classes that occur


def test_all_empty_masks_is_a_data_error() -> None:
    with pytest.raises(DataError, match="Only one class occurs.*nothing to segment"):
        recommend(build_profile((0.0,)))


def test_profile_argument_is_type_checked() -> None:
    with pytest.raises(TypeError, match="'profile' argument of recommend must be a DatasetProfile.*Got dict"):
        recommend({"dataset_name": "x"})  # type: ignore[arg-type]


def test_json_round_trip_equals_the_original(tmp_path) -> None:
    rec = recommend(build_profile((0.35, 0.05), absent_shares=(0.2, 0.6), scale=[(128, 0.3, 0.5)]))
    assert Recommendation.from_dict(json.loads(rec.to_json())) == rec
    assert Recommendation.load(rec.save(tmp_path / "recommendation.json")) == rec


def test_recommendation_records_the_profile_and_thresholds() -> None:
    profile = build_profile((0.15,))
    rec = recommend(profile, thresholds={"empty_mask_share": 0.2})
    assert rec.profile_fingerprint == profile.fingerprint and rec.dataset_name == "crafted"
    assert rec.thresholds == {**DEFAULT_THRESHOLDS, "empty_mask_share": 0.2}
    assert len(rec.trace) == len(PROFILE_RULES) + 2  # and the objective rule, and the Dice-family rule
    assert rec.objective == "iou"


def test_multiclass_empty_masks_use_the_most_often_absent_class() -> None:
    # 'car' is missing from 60 % of images: per-image Dice of 'car' is undefined there, whatever 'road' does.
    rec = recommend(build_profile((0.3, 0.1), names=("road", "car"), absent_shares=(0.0, 0.6)))
    trace = {t.rule: t for t in rec.trace}["rule_empty_masks"]
    assert trace.fired and trace.measured == pytest.approx(0.6)
    assert trace.measured_name == "absent_share ('car')"


def test_skipped_files_are_warned_about() -> None:
    rec = recommend(build_profile((0.15,), images=40, skipped=3))
    assert rec.warnings[0].startswith("3 of 43 mask files were skipped while profiling")


def test_an_unscored_rare_background_does_not_set_the_imbalance_level() -> None:
    # The land-cover case of issue 9: "unlabeled" background holds 0.5% of the pixels, the five scored classes
    # 9.5% to 40.5%. The rarest scored class has 9.5% against the largest 40.5%: ratio 4.26, share 9.5%
    # -> moderate by the documented bounds (share < 20% and ratio >= 4), not extreme (0.5% < 1%, 81:1).
    rec = recommend(build_profile((0.405, 0.2, 0.15, 0.145, 0.095), names=("a", "b", "c", "d", "e")))
    assert rec.imbalance_level == "moderate"
    trace = next(t for t in rec.trace if t.rule == "rule_imbalance_level")
    assert "'e', the rarest scored class" in trace.measured_name
    assert trace.measured == pytest.approx(0.095)
    assert "'background' is rarer (0.50%)" in trace.conclusion
    weights = next(c for c in rec.candidates if c.loss == "weighted_ce").params["class_weights"]
    assert weights[0] <= 1.0  # the unscored background is never up-weighted
    assert weights[5] == max(weights)  # the rarest scored class gets the largest weight


# (minority share just above, just below) each imbalance bound, and the first choice on each side per
# objective: recall keeps weighted CE from the moderate bound down to the extreme one.
BOUND_SIDES = [
    ("minority_share_moderate", 0.41, 0.39, {"iou": ("ce", "weighted_ce"), "recall": ("ce", "weighted_ce")}),
    (
        "minority_share_severe",
        0.101,
        0.099,
        {"iou": ("weighted_ce", "tversky"), "recall": ("weighted_ce",) * 2},
    ),
    (
        "minority_share_extreme",
        0.011,
        0.009,
        {"iou": ("tversky", "focal_tversky"), "recall": ("weighted_ce", "focal_tversky")},
    ),
]


@pytest.mark.parametrize(("bound", "above", "below", "firsts"), BOUND_SIDES, ids=[b[0] for b in BOUND_SIDES])
def test_the_first_choice_on_each_side_of_every_imbalance_bound(bound, above, below, firsts) -> None:
    assert above > DEFAULT_THRESHOLDS[bound] > below
    for objective, (first_above, first_below) in {**firsts, "dice": firsts["iou"]}.items():
        assert recommend(build_profile((above,)), objective=objective).top.loss == first_above, objective
        assert recommend(build_profile((below,)), objective=objective).top.loss == first_below, objective


@pytest.mark.parametrize(
    ("kwargs", "threshold", "value_above", "value_below"),
    [
        ({"fg_shares": (0.03,), "tiny_share": 0.0}, "tiny_object_share", 0.21, 0.19),
        ({"fg_shares": (0.03,), "absent_shares": (0.0,)}, "empty_mask_share", 0.11, 0.09),
        ({"fg_shares": (0.4,), "boundary_share": 0.1}, "thin_boundary_share", 0.51, 0.49),
    ],
)
def test_each_structure_threshold_changes_the_ranking_only_past_its_bound(
    kwargs, threshold, value_above, value_below
) -> None:
    key = {"tiny_object_share": "tiny_share", "empty_mask_share": "absent_shares",
           "thin_boundary_share": "boundary_share"}[threshold]  # fmt: skip

    def advice(value):
        args = dict(kwargs, **{key: (value,) if key == "absent_shares" else value})
        return [(c.loss, c.params) for c in recommend(build_profile(**args)).candidates]

    assert value_above > DEFAULT_THRESHOLDS[threshold] > value_below
    assert advice(value_below) == advice(0.0)
    assert advice(value_above) != advice(value_below)


def test_recall_puts_weighted_ce_first_only_where_the_evidence_measured_it() -> None:
    # balanced: no rare class to weigh; extreme: the level's recall-leaning losses stand (not measured here)
    assert recommend(build_profile((0.4,)), objective="recall").top.loss == "ce"
    assert recommend(build_profile((0.004,)), objective="recall").top.loss in {
        "focal_tversky",
        "unified_focal",
    }
    rec = recommend(build_profile((0.03,)), objective="recall")  # severe: Tversky first for IoU
    assert rec.top.loss == "weighted_ce" and rec.objective == "recall"
    assert "tversky" in [c.loss for c in rec.candidates]
    assert {t.rule: t for t in rec.trace}["rule_objective"].fired
    assert not {t.rule: t for t in recommend(build_profile((0.03,))).trace}["rule_objective"].fired


def test_an_unknown_objective_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="Unknown objective 'recal'. Did you mean 'recall'"):
        recommend(build_profile((0.15,)), objective="recal")


def test_most_objects_tiny_puts_dice_ce_first_only_past_its_bound() -> None:
    bound = DEFAULT_THRESHOLDS["tiny_object_share_dominant"]
    assert DEFAULT_THRESHOLDS["tiny_object_share"] < 0.61 < bound < 0.63
    below, above = (recommend(build_profile((0.15,), tiny_share=s)) for s in (0.61, 0.63))
    assert below.top.loss == "weighted_ce" and above.top.loss == "dice_ce"
    trace = {t.rule: t for t in above.trace}["rule_tiny_objects"]
    assert "Dice + CE goes first" in trace.conclusion
    assert "docs/EVIDENCE.md rows buildings-shrunk" in above.top.rationale
    # the tiny-objects rule still favours more CE in the mix on both sides
    assert above.top.params["mix"] == next(c for c in below.candidates if c.loss == "dice_ce").params["mix"]
