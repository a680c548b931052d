"""The planner: run every rule over a profile, rank the losses they favour, and write the recommendation.

Like nnU-Net's experiment planner it reads only the fingerprint (the :class:`DatasetProfile`), never the
masks, and every decision is a named rule in ``_imbalance.py``, ``_structure.py`` or ``_dice.py`` that leaves
a trace, whether it fired or not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lossadvisor._version import __version__
from lossadvisor.losses import LOSSES, get_spec
from lossadvisor.profile._schema import DatasetProfile
from lossadvisor.rules._config import load_rules_config
from lossadvisor.rules._dice import LR_RANGE_TEST_NOTE, lr_range_for, rule_dice_family
from lossadvisor.rules._imbalance import (
    imbalance_level,
    level_choices,
    measure_imbalance,
    rule_imbalance_level,
    rule_rare_classes,
)
from lossadvisor.rules._objective import CAPPED_WEIGHTS, DEFAULT_OBJECTIVE, check_objective, rule_objective
from lossadvisor.rules._outcome import RuleOutcome
from lossadvisor.rules._params import ParamContext, candidate_params, tunable_ranges
from lossadvisor.rules._schema import Candidate, Recommendation, SearchSpaceEntry
from lossadvisor.rules._structure import (
    rule_empty_masks,
    rule_objects_lost_at_train_size,
    rule_thin_structures,
    rule_tiny_objects,
)
from lossadvisor.rules._thresholds import resolve_thresholds
from lossadvisor.rules._volume import (
    framework_defaults_trace,
    rule_anisotropy,
    rule_empty_patches,
    rule_objects_few_voxels_across,
    rule_small_lesions_in_patch,
)

# The rules over the profile, in the order they are traced. rule_dice_family runs after the ranking.
PROFILE_RULES = (
    rule_imbalance_level,
    rule_rare_classes,
    rule_empty_masks,
    rule_tiny_objects,
    rule_objects_lost_at_train_size,
    rule_thin_structures,
)
# The rules over a profile of 3-D label volumes: the same questions asked per volume and per training patch
# (objects few voxels across replaces the 2-D resize check; volumes are trained at native spacing).
PROFILE_RULES_3D = (
    rule_imbalance_level,
    rule_rare_classes,
    rule_empty_masks,
    rule_tiny_objects,
    rule_objects_few_voxels_across,
    rule_small_lesions_in_patch,
    rule_empty_patches,
    rule_anisotropy,
    rule_thin_structures,
)
BASELINE = "ce"  # always a candidate: the baseline every other loss must beat in tuning
# 3 to 5 candidates: enough for the tuner to compare families, few enough to give each a real budget.
MIN_CANDIDATES = 3
MAX_CANDIDATES = 5
BASELINE_RATIONALE = "Plain cross-entropy: the baseline every other candidate must beat when tuned."


def recommend(
    profile: DatasetProfile,
    *,
    thresholds: Mapping[str, Any] | None = None,
    config: str | Path | None = None,
    objective: str = DEFAULT_OBJECTIVE,
) -> Recommendation:
    """Rank candidate losses for a dataset profile, with parameters, LR ranges, a search space and a trace.

    Args:
        profile: the dataset fingerprint from :func:`lossadvisor.profile_masks` (or ``DatasetProfile.load``).
        thresholds: overrides of :data:`DEFAULT_THRESHOLDS` (applied after ``config``).
        config: a rules-config TOML file with a ``[thresholds]`` table (see :func:`load_rules_config`).
        objective: the metric the user scores, ``"iou"`` (default), ``"dice"`` or ``"recall"``; the ranking
            and the class weights follow it (:func:`rule_objective`).

    Returns:
        A :class:`Recommendation`: 3 to 5 ranked candidates (plain ``ce`` always among them, as the baseline),
        the tuning search space, every rule's trace and the thresholds in force.

    Raises:
        TypeError: ``profile`` is not a :class:`DatasetProfile`.
        ConfigError: a bad threshold or rules-config file (the message names the key and the expected value),
            or an unknown objective.
        DataError: fewer than two classes occur in the profile, so there is nothing to segment.

    Example:
        >>> rec = recommend(DatasetProfile.load("reports/buildings/profile.json"))  # doctest: +SKIP
        >>> rec.top.loss, rec.top.params  # doctest: +SKIP
        ('weighted_ce', {'pos_weight': 4.73})
    """
    if not isinstance(profile, DatasetProfile):
        raise TypeError(
            "The 'profile' argument of recommend must be a DatasetProfile (from lossadvisor.profile_masks "
            f"or DatasetProfile.load). Got {type(profile).__name__} instead."
        )
    objective = check_objective(objective)
    file_overrides = load_rules_config(config) if config is not None else None
    merged = resolve_thresholds(file_overrides, thresholds)
    measure = measure_imbalance(profile)
    level = imbalance_level(measure, merged)
    rules = PROFILE_RULES_3D if profile.dimensionality == 3 else PROFILE_RULES
    outcomes = [rule(profile, merged) for rule in rules]
    outcomes.append(rule_objective(profile, merged, objective))
    supported = _supported_losses(profile.task)
    ranked = _rank(outcomes, level_choices(level, profile.dimensionality), supported)
    names = _select(ranked, required=(BASELINE,))
    dice = rule_dice_family(names, merged)
    outcomes.append(dice)
    names = _select(ranked, required=(BASELINE, *(r for r in dice.require if r in supported)))

    ctx = ParamContext(
        measure=measure,
        batch_dice=any(o.batch_dice for o in outcomes),
        favour_ce_in_mix=any(o.favour_ce_in_mix for o in outcomes),
        max_class_weight=merged["max_class_weight"],
        overlap_cap=merged["max_class_weight_overlap"] if CAPPED_WEIGHTS[objective] else None,
    )
    candidates = tuple(
        _candidate(i + 1, loss, profile, ctx, outcomes, merged) for i, loss in enumerate(names)
    )
    search_space = tuple(_search_entry(c, ctx) for c in candidates)
    trace = tuple(o.trace for o in outcomes)
    if profile.dimensionality == 3:
        fired = [t.rule for t in trace if t.fired and t.rule != "rule_dice_family"]
        trace += (framework_defaults_trace(profile, candidates[0].loss, fired),)
    return Recommendation(
        dataset_name=profile.dataset_name,
        profile_fingerprint=profile.fingerprint,
        task=profile.task,
        num_classes=profile.num_classes,
        imbalance_level=level,
        candidates=candidates,
        search_space=search_space,
        trace=trace,
        warnings=_warnings(profile, outcomes),
        thresholds=merged,
        objective=objective,
        created_with=__version__,
    )


def _supported_losses(task: str) -> tuple[str, ...]:
    key = "supports_binary" if task == "binary" else "supports_multiclass"
    return tuple(name for name, spec in LOSSES.items() if getattr(spec, key))


def _rank(
    outcomes: Sequence[RuleOutcome], choices: Sequence[tuple[str, str]], supported: Sequence[str]
) -> list[str]:
    """Losses with a positive total score, best first; ties keep the level's order, then the registry's."""
    totals: dict[str, float] = {}
    for outcome in outcomes:
        for loss, points in outcome.scores.items():
            totals[loss] = totals.get(loss, 0.0) + points
    level_order = [loss for loss, _ in choices]
    registry_order = list(LOSSES)

    def key(loss: str) -> tuple[float, int, int]:
        in_level = level_order.index(loss) if loss in level_order else len(level_order)
        return (-totals[loss], in_level, registry_order.index(loss))

    return sorted((loss for loss in totals if totals[loss] > 0 and loss in supported), key=key)


def _select(ranked: Sequence[str], *, required: Sequence[str]) -> list[str]:
    """The best MAX_CANDIDATES of ``ranked`` with every required loss in, padded to MIN_CANDIDATES."""
    chosen = list(ranked[:MAX_CANDIDATES])
    for loss in required:
        if loss in chosen:
            continue
        removable = [c for c in chosen if c not in required]
        if len(chosen) >= MAX_CANDIDATES and removable:
            chosen.remove(removable[-1])
        chosen.append(loss)
    for loss in (*ranked[MAX_CANDIDATES:], BASELINE, "dice_ce", "weighted_ce"):
        if len(chosen) >= MIN_CANDIDATES:
            break
        if loss not in chosen:
            chosen.append(loss)
    position = {loss: i for i, loss in enumerate(ranked)}
    return sorted(chosen, key=lambda loss: position.get(loss, len(ranked)))


def _candidate(
    rank: int,
    loss: str,
    profile: DatasetProfile,
    ctx: ParamContext,
    outcomes: Sequence[RuleOutcome],
    thresholds: Mapping[str, float],
) -> Candidate:
    reasons = [o.reasons[loss] for o in outcomes if loss in o.reasons]
    if loss == BASELINE:
        reasons = [BASELINE_RATIONALE, *reasons]
    rationale = " ".join(reasons) if reasons else get_spec(loss).description
    return Candidate(
        rank=rank,
        loss=loss,
        params=candidate_params(loss, profile, ctx),
        lr_range=lr_range_for(loss, thresholds),
        rationale=rationale,
        is_baseline=loss == BASELINE,
        lr_note=LR_RANGE_TEST_NOTE if get_spec(loss).bounded else "",
    )


def _search_entry(candidate: Candidate, ctx: ParamContext) -> SearchSpaceEntry:
    tunable = tunable_ranges(candidate.loss, ctx)
    tuned = {r.name for r in tunable}
    fixed = {k: v for k, v in candidate.params.items() if k not in tuned}
    return SearchSpaceEntry(
        loss=candidate.loss, lr_range=candidate.lr_range, fixed_params=fixed, tunable=tunable
    )


def _warnings(profile: DatasetProfile, outcomes: Sequence[RuleOutcome]) -> tuple[str, ...]:
    warnings: list[str] = []
    if profile.skipped:
        warnings.append(
            f"{len(profile.skipped)} of {profile.files_found} mask files were skipped while profiling (see "
            "profile.json); the advice covers only the files that were read."
        )
    for outcome in outcomes:
        warnings.extend(w for w in outcome.warnings if w not in warnings)
    return tuple(warnings)
