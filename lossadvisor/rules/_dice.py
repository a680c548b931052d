"""The rule over the chosen candidates: every Dice-family loss gets a lower, narrower LR range and a CE mix.

It runs after the ranking because it is about the candidates rather than the data: whatever made a Dice-family
loss (region or compound, in the registry's words) a candidate, this is how to train it without collapse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lossadvisor.losses import BOUNDED_LR_TEST_NOTE, get_spec
from lossadvisor.rules._outcome import RuleOutcome
from lossadvisor.rules._schema import RuleTrace

STABLE_MIX = "dice_ce"  # the compound every Dice-family recommendation keeps beside it

LR_RANGE_TEST_NOTE = BOUNDED_LR_TEST_NOTE  # shown beside bounded candidates (the registry's ``bounded``)


def is_dice_family(loss: str) -> bool:
    """True for losses with an overlap term (region and compound families), per the registry."""
    return get_spec(loss).has_overlap_term


def lr_range_for(loss: str, thresholds: Mapping[str, float]) -> tuple[float, float]:
    """The AdamW learning-rate range of a loss's family (the ``lr_*`` thresholds)."""
    kind = "region" if is_dice_family(loss) else "distribution"
    return (thresholds[f"lr_{kind}_low"], thresholds[f"lr_{kind}_high"])


def rule_dice_family(losses: Sequence[str], thresholds: Mapping[str, float]) -> RuleOutcome:
    """Is any candidate a Dice-family loss? Then a lower, narrower LR range, and Dice + CE beside it.

    Why: the Dice gradient divides by the sums of predictions and labels (Milletari et al. 2016, V-Net), which
    are tiny for small or absent objects, so the same learning rate takes far larger steps than with CE; this
    is where runs collapse to all-background or all-foreground. A lower, narrower LR range and a CE term (a
    weighted average of Dice and CE) bound those steps. LR range tests are unreliable for such bounded losses:
    on these machines the smoothed loss barely moved and the suggested LR was the same whatever the data.
    """
    dice_like = [loss for loss in losses if is_dice_family(loss)]
    fired = bool(dice_like)
    low, high = thresholds["lr_region_low"], thresholds["lr_region_high"]
    ce_low, ce_high = thresholds["lr_distribution_low"], thresholds["lr_distribution_high"]
    trace = RuleTrace(
        rule="rule_dice_family",
        question="Is any candidate a Dice-family (region or compound) loss?",
        measured_name="Dice-family candidates",
        measured=float(len(dice_like)),
        threshold=1.0,
        comparison=">=",
        fired=fired,
        conclusion=(
            f"{', '.join(dice_like)}: LR in [{low:g}, {high:g}] instead of CE's [{ce_low:g}, {ce_high:g}], "
            f"{STABLE_MIX} kept as the stable mix, and no LR range test for them."
            if fired
            else "No Dice-family candidate; CE's LR range applies to all."
        ),
        reference="Milletari et al. 2016 (V-Net, Dice gradient); Taghanaki et al. 2019 (Combo loss); "
        "Smith 2017 (LR range test, cyclical LRs).",
    )
    if not fired:
        return RuleOutcome(trace=trace)
    fallback = (
        f"A bounded overlap loss with no CE term: if early epochs predict all background or all foreground, "
        f"fall back to {STABLE_MIX}."
    )
    reasons = {loss: fallback for loss in dice_like if get_spec(loss).bounded}
    return RuleOutcome(trace=trace, reasons=reasons, require=(STABLE_MIX,))
