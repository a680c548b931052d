"""The rules engine: named rules over a dataset profile turned into a ranked, traceable loss recommendation.

It reads only the profile (the fingerprint of the masks) and writes a :class:`Recommendation`: 3 to 5
candidate losses with parameters computed from the profile and a learning-rate range, plain CE always among
them as the baseline, the search space for the tuner, and the trace of every rule (measured value,
threshold, fired or not, conclusion, reference). Thresholds are named defaults (:data:`DEFAULT_THRESHOLDS`)
a user can override.

Example:
    >>> from lossadvisor.profile import DatasetProfile
    >>> from lossadvisor.rules import format_recommendation, recommend
    >>> rec = recommend(DatasetProfile.load("reports/buildings/profile.json"))  # doctest: +SKIP
    >>> print(format_recommendation(rec))  # doctest: +SKIP
"""

from __future__ import annotations

from lossadvisor.rules._config import load_rules_config
from lossadvisor.rules._dice import rule_dice_family
from lossadvisor.rules._engine import PROFILE_RULES, recommend
from lossadvisor.rules._imbalance import rule_imbalance_level, rule_rare_classes
from lossadvisor.rules._objective import DEFAULT_OBJECTIVE, OBJECTIVES, check_objective, rule_objective
from lossadvisor.rules._render import format_recommendation
from lossadvisor.rules._schema import Candidate, ParamRange, Recommendation, RuleTrace, SearchSpaceEntry
from lossadvisor.rules._structure import (
    rule_empty_masks,
    rule_objects_lost_at_train_size,
    rule_thin_structures,
    rule_tiny_objects,
    training_size_advice,
)
from lossadvisor.rules._thresholds import DEFAULT_THRESHOLDS, THRESHOLD_SPECS, resolve_thresholds

__all__ = [
    "DEFAULT_OBJECTIVE",
    "DEFAULT_THRESHOLDS",
    "OBJECTIVES",
    "PROFILE_RULES",
    "THRESHOLD_SPECS",
    "Candidate",
    "ParamRange",
    "Recommendation",
    "RuleTrace",
    "SearchSpaceEntry",
    "check_objective",
    "format_recommendation",
    "load_rules_config",
    "recommend",
    "resolve_thresholds",
    "rule_dice_family",
    "rule_empty_masks",
    "rule_imbalance_level",
    "rule_objective",
    "rule_objects_lost_at_train_size",
    "rule_rare_classes",
    "rule_thin_structures",
    "rule_tiny_objects",
    "training_size_advice",
]
