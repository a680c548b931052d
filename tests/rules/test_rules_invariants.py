"""Invariants over many crafted profiles: monotone in imbalance, a baseline always, every rule traced."""

from __future__ import annotations

import itertools

import pytest
from crafted_profiles import LADDER, TOP_CHOICE_TABLE, build_profile

from lossadvisor.losses import get_spec
from lossadvisor.rules import PROFILE_RULES, recommend

# Minority shares from balanced to one pixel in 20 000, on a log-ish grid that crosses every level bound.
SHARES = (0.5, 0.3, 0.21, 0.2, 0.19, 0.1, 0.051, 0.05, 0.049, 0.02, 0.011, 0.01, 0.009, 0.002, 0.00005)
# Other rules switched on and off, so monotonicity holds whatever else the data show.
CONTEXTS = {
    "plain": {},
    "empty": {"absent_shares": (0.4,)},
    "tiny": {"tiny_share": 0.6},
    "thin": {"boundary_share": 0.9},
    "lost": {"scale": [(128, 0.5, 0.25)], "diameter": 6.0},
    "all": {"absent_shares": (0.4,), "tiny_share": 0.6, "boundary_share": 0.9, "scale": [(128, 0.5, 0.25)]},
}
ALL_RULES = [f.__name__ for f in PROFILE_RULES] + ["rule_objective", "rule_dice_family"]

# Crafted profiles that should make each rule fire (a rule that never fires on anything is dead code).
FIRING = {
    "rule_imbalance_level": {"fg_shares": (0.1,)},
    "rule_rare_classes": {"fg_shares": (0.35, 0.05)},
    "rule_empty_masks": {"absent_shares": (0.5,)},
    "rule_tiny_objects": {"tiny_share": 0.5},
    "rule_objects_lost_at_train_size": {"scale": [(128, 0.4, 0.25)]},
    "rule_thin_structures": {"boundary_share": 0.7},
    "rule_objective": {"fg_shares": (0.1,)},  # fires on --objective recall with imbalance (OBJECTIVE_FOR)
    "rule_dice_family": {},
}
OBJECTIVE_FOR = {"rule_objective": "recall"}


def _profiles() -> list:
    rows = [kwargs for _, kwargs, _ in TOP_CHOICE_TABLE] + list(FIRING.values())
    rows += [
        {"fg_shares": (s,), **ctx} for s, ctx in itertools.product((0.4, 0.1, 0.03, 0.004), CONTEXTS.values())
    ]
    return [build_profile(**kwargs) for kwargs in rows]


@pytest.mark.parametrize("context", list(CONTEXTS), ids=list(CONTEXTS))
def test_more_imbalance_never_moves_the_top_choice_back_toward_ce(context: str) -> None:
    steps = [LADDER[recommend(build_profile((s,), **CONTEXTS[context])).top.loss] for s in SHARES]
    assert steps == sorted(steps), dict(zip(SHARES, steps, strict=False))
    assert steps[0] == 0 and steps[-1] == 3  # the sweep spans plain CE to extreme-imbalance losses


def test_more_imbalance_never_moves_a_multiclass_top_choice_back_toward_ce() -> None:
    # Two foreground classes, the second one getting rarer; the first keeps 30 %.
    steps = [LADDER[recommend(build_profile((0.3, s))).top.loss] for s in (0.3, 0.15, 0.04, 0.009, 0.001)]
    assert steps == sorted(steps)


def test_ce_rank_never_improves_as_imbalance_grows() -> None:
    ranks = [
        next(c.rank for c in recommend(build_profile((s,))).candidates if c.loss == "ce") for s in SHARES
    ]
    assert ranks == sorted(ranks)


def test_every_recommendation_has_the_ce_baseline_and_a_full_trace() -> None:
    for profile in _profiles():
        rec = recommend(profile)
        baselines = [c for c in rec.candidates if c.is_baseline]
        assert [c.loss for c in baselines] == ["ce"] and baselines[0].params.get("ignore_index") is None
        assert 3 <= len(rec.candidates) <= 5
        assert [t.rule for t in rec.trace] == ALL_RULES
        for t in rec.trace:
            assert t.reference.strip() and t.question.strip() and t.conclusion.strip(), t
            assert t.comparison.strip(), t


@pytest.mark.parametrize("rule", ALL_RULES)
def test_every_rule_fires_on_some_crafted_profile(rule: str) -> None:
    rec = recommend(build_profile(**FIRING[rule]), objective=OBJECTIVE_FOR.get(rule, "iou"))
    assert {t.rule: t for t in rec.trace}[rule].fired


def test_fired_rules_leave_their_measure_and_threshold() -> None:
    for profile in _profiles():
        for t in recommend(profile).trace:
            if t.fired:
                assert t.measured is not None and t.threshold is not None, t


def test_search_space_lies_inside_the_registry_ranges() -> None:
    for profile in _profiles():
        rec = recommend(profile)
        assert [e.loss for e in rec.search_space] == [c.loss for c in rec.candidates]
        for entry, candidate in zip(rec.search_space, rec.candidates, strict=False):
            spec = get_spec(entry.loss)
            assert entry.lr_range == candidate.lr_range and entry.lr_range[0] < entry.lr_range[1]
            spec.validate(entry.fixed_params)  # raises on an unknown name or an out-of-domain value
            spec.validate(candidate.params)
            tuned = {r.name for r in entry.tunable}
            assert tuned == {p.name for p in spec.tunable_params}
            assert not tuned & set(entry.fixed_params)
            for r in entry.tunable:
                p = spec.param(r.name)
                assert p.low <= r.low < r.high <= p.high, (entry.loss, r)
                assert r.log == p.log
                if r.name in candidate.params:  # the computed starting point lies inside the searched range
                    assert r.low <= candidate.params[r.name] <= r.high, (entry.loss, r, candidate.params)
