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
from lossadvisor.rules._outcome import PROMOTE, RuleOutcome
from lossadvisor.rules._schema import RuleTrace

OBJECTIVES = ("iou", "dice", "recall")
DEFAULT_OBJECTIVE = "iou"
OBJECTIVE_LABELS = {"iou": "foreground IoU", "dice": "foreground Dice", "recall": "foreground pixel recall"}
# Softer (square-root inverse-frequency) class weights where overlap is scored, the full ones where recall is
# (rules/_params.py).
SOFT_WEIGHTS = {"iou": True, "dice": True, "recall": False}


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
    """Does the user score recall? Then the losses that trade precision for recall go up.

    Why: inverse-frequency class weights and Tversky's false-negative weight move the decision threshold
    towards the rare class. Scored by IoU or Dice that costs more in precision than it gains in recall (the
    evidence table); scored by recall, it is what the user asks for.
    """
    del profile, thresholds  # the objective is the user's choice, not a property of the masks
    fired = objective == "recall"
    trace = RuleTrace(
        rule="rule_objective",
        question="Which metric does the user score (--objective)?",
        measured_name="objective",
        measured=None,
        threshold=None,
        comparison=f"objective = {objective}",
        fired=fired,
        conclusion=(
            "Recall is scored: weighted CE (inverse-frequency weights) and Tversky go up; they trade "
            "precision for recall."
            if fired
            else f"{OBJECTIVE_LABELS[objective]} is scored: the imbalance level's order stands, and class "
            "weights are the softer square-root ones."
        ),
        reference="Salehi et al. 2017 (Tversky loss); docs/EVIDENCE.md (recall tables).",
    )
    if not fired:
        return RuleOutcome(trace=trace)
    return RuleOutcome(
        trace=trace,
        scores={"weighted_ce": 2 * PROMOTE, "tversky": PROMOTE},
        reasons={
            "weighted_ce": "Recall is scored: inverse-frequency weights buy the rare class's recall with "
            f"precision, which is the trade a recall-first user wants ({cite('recall_weighted_ce')}).",
            "tversky": "Recall is scored: Tversky's larger false-negative weight favours recall over "
            "precision (Salehi et al. 2017).",
        },
    )
