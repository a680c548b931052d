"""What the user scores: foreground IoU (the default), Dice, or pixel recall, and the rule that ranks for it.

IoU and Dice rank losses alike: pooled over the validation tiles, Dice = 2 IoU / (1 + IoU) for one class, a
monotone map, so the loss with the better IoU has the better Dice (and the evidence table shows the same
order for the multi-class set). Recall is another matter: a loss that buys recall with precision (weighted
CE with inverse-frequency weights, Tversky with its larger false-negative weight) loses IoU and wins recall,
so a recall-first user gets those rungs first where the evidence shows they earn them.
"""

from __future__ import annotations

from collections.abc import Mapping

from lossadvisor._messages import unknown_name_message
from lossadvisor.errors import ConfigError
from lossadvisor.profile._schema import DatasetProfile
from lossadvisor.rules._evidence import cite
from lossadvisor.rules._imbalance import imbalance_level, measure_imbalance
from lossadvisor.rules._outcome import LEVEL_STEP, NUDGE, PROMOTE, RuleOutcome
from lossadvisor.rules._schema import RuleTrace

OBJECTIVES = ("iou", "dice", "recall")
DEFAULT_OBJECTIVE = "iou"
OBJECTIVE_LABELS = {"iou": "foreground IoU", "dice": "foreground Dice", "recall": "foreground pixel recall"}
# Where overlap is scored, class weights are the square roots of the inverse frequencies, capped at the
# `max_class_weight_overlap` threshold; where recall is, the full ones (rules/_params.py).
CAPPED_WEIGHTS = {"iou": True, "dice": True, "recall": False}
# Imbalance levels where recall puts weighted CE first: those the evidence table measured it on.
RECALL_LEVELS = ("moderate", "severe")
# Points that put weighted CE first whatever the level's order: more than a level's whole ladder (5 steps of
# LEVEL_STEP) plus the largest promotion another rule gives (PROMOTE). Only the user's own objective may
# overrule the level this way; no rule about the masks can.
RECALL_FIRST = 5 * LEVEL_STEP + PROMOTE + NUDGE


def check_objective(objective: object) -> str:
    """``objective`` if it is one of :data:`OBJECTIVES`, else :class:`ConfigError` with a did-you-mean.

    Example:
        >>> check_objective("recall")
        'recall'
    """
    if not isinstance(objective, str) or objective not in OBJECTIVES:
        raise ConfigError(unknown_name_message("objective", str(objective), OBJECTIVES))
    return objective


def rule_objective(
    profile: DatasetProfile, thresholds: Mapping[str, float], objective: str = DEFAULT_OBJECTIVE
) -> RuleOutcome:
    """Does the user score recall, on imbalanced data? Then weighted CE goes first, and Tversky up.

    Why: inverse-frequency class weights and Tversky's false-negative weight move the decision threshold
    towards the rare class. Scored by IoU or Dice that costs more in precision than it gains in recall (the
    evidence table); scored by recall, it is the trade the user asks for. Where the classes are balanced
    (imbalance level "none") there is no rare class to weigh and the level's order stands; at extreme
    imbalance the level's losses (focal Tversky first) already favour recall.
    """
    level = imbalance_level(measure_imbalance(profile), thresholds)
    fired = objective == "recall" and level in RECALL_LEVELS
    trace = RuleTrace(
        rule="rule_objective",
        question="Which metric does the user score (--objective), and does it change the first choice?",
        measured_name="objective",
        measured=None,
        threshold=None,
        comparison=f"objective = {objective}, imbalance level {level}",
        fired=fired,
        conclusion=(
            "Recall is scored on imbalanced data: weighted CE (full inverse-frequency weights) goes first "
            "and Tversky up; both trade precision for recall."
            if fired
            else f"{OBJECTIVE_LABELS[objective]} is scored at imbalance level {level}: the level's order "
            "stands"
            + (
                ", and class weights are the square roots of the inverse frequencies, capped "
                "(max_class_weight_overlap)."
                if CAPPED_WEIGHTS[objective]
                else "."
            )
        ),
        reference="Salehi et al. 2017 (Tversky loss); docs/EVIDENCE.md (recall tables).",
    )
    if not fired:
        return RuleOutcome(trace=trace)
    return RuleOutcome(
        trace=trace,
        scores={"weighted_ce": RECALL_FIRST, "tversky": PROMOTE},
        reasons={
            "weighted_ce": "Recall is scored: inverse-frequency weights buy the rare class's recall with "
            f"precision, the trade a recall-first user wants ({cite('recall_weighted_ce')}).",
            "tversky": "Recall is scored: Tversky's larger false-negative weight favours recall over "
            "precision (Salehi et al. 2017).",
        },
    )
