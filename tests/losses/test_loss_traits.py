"""Loss traits come from the registry, and the rules and the tuner read them there (no name lists)."""

from __future__ import annotations

from lossadvisor.losses import BOUNDED_LR_TEST_NOTE, LOSSES
from lossadvisor.rules import _dice, _structure
from lossadvisor.tune.training import _lr_range


def test_traits_follow_family_and_parameters() -> None:
    # worked out from the registry by hand: the pure overlap losses are bounded, compounds are not
    assert {n for n, s in LOSSES.items() if s.bounded} == {
        "dice",
        "tversky",
        "focal_tversky",
        "generalized_dice",
        "lovasz",
    }
    assert {n for n, s in LOSSES.items() if s.compound} == {"dice_ce", "dice_focal", "unified_focal"}
    assert {n for n, s in LOSSES.items() if s.has_batch_dice} == {
        "dice",
        "tversky",
        "focal_tversky",
        "generalized_dice",
        "dice_ce",
        "dice_focal",
    }
    for name, spec in LOSSES.items():
        assert spec.has_overlap_term == (spec.bounded or spec.compound), name


def test_rules_and_tuner_read_the_registry() -> None:
    assert set(_structure.COMPOUND_LOSSES) == {n for n, s in LOSSES.items() if s.compound}
    assert all(_dice.is_dice_family(n) == s.has_overlap_term for n, s in LOSSES.items())
    # one copy of the bounded-loss note
    assert _dice.LR_RANGE_TEST_NOTE is BOUNDED_LR_TEST_NOTE and _lr_range.BOUNDED_NOTE is BOUNDED_LR_TEST_NOTE
    assert not hasattr(_lr_range, "BOUNDED_FAMILIES") and not hasattr(_dice, "BOUNDED_FAMILIES")
