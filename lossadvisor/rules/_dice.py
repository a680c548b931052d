"""The rule over the chosen candidates: Dice-family losses keep a CE mix beside them, and the same LR range.

It runs after the ranking because it is about the candidates rather than the data: whatever made a Dice-family
loss (region or compound, in the registry's words) a candidate, Dice + CE stays beside it as the stable mix.
Its learning-rate range is the same as every other loss's unless a rules config sets another one from
evidence on the user's own data: with Adam/AdamW the step size does not follow the gradient's magnitude, so
the family alone is no reason for a lower range (see the calibration note in ``_thresholds.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lossadvisor.losses import BOUNDED_LR_TEST_NOTE, get_spec
from lossadvisor.rules._outcome import RuleOutcome, threshold_trace

STABLE_MIX = "dice_ce"  # the compound every Dice-family recommendation keeps beside it

LR_RANGE_TEST_NOTE = BOUNDED_LR_TEST_NOTE  # shown beside bounded candidates (the registry's ``bounded``)


def is_dice_family(loss: str) -> bool:
    """True for losses with an overlap term (region and compound families), per the registry."""
    return get_spec(loss).has_overlap_term


def lr_range_for(loss: str, thresholds: Mapping[str, float]) -> tuple[float, float]:
    """The AdamW learning-rate range of a loss (the ``lr_*`` thresholds; equal for all by default)."""
    kind = "region" if is_dice_family(loss) else "distribution"
    return (thresholds[f"lr_{kind}_low"], thresholds[f"lr_{kind}_high"])


def rule_dice_family(losses: Sequence[str], thresholds: Mapping[str, float]) -> RuleOutcome:
    """Is any candidate a Dice-family loss? Then Dice + CE beside it, at the same LR range as CE.

    Why: the Dice gradient divides by the sums of predictions and labels (Milletari et al. 2016, V-Net), which
    are tiny for small or absent objects; a CE term (a weighted average of Dice and CE, Taghanaki et al. 2019)
    keeps the gradient informative where Dice's is not, so Dice + CE is kept as the stable mix. The learning
    rate is *not* capped for the family: under Adam/AdamW a step's size does not follow the gradient's
    magnitude (Kingma & Ba 2015), and measured here Dice-family losses trained best at 3.6e-3 to 1.5e-2,
    above the 1e-3 an earlier cap allowed. Every loss is searched over the same range, so the comparison is
    fair; only a rules config (evidence on the user's own data) gives the family another one. LR range tests
    stay unreliable for bounded losses (the suggestion reflects the sweep, not the data).
    """
    dice_like = [loss for loss in losses if is_dice_family(loss)]
    low, high = thresholds["lr_region_low"], thresholds["lr_region_high"]
    ce_low, ce_high = thresholds["lr_distribution_low"], thresholds["lr_distribution_high"]
    if (low, high) == (ce_low, ce_high):
        lr_text = f"the same LR range [{low:g}, {high:g}] as every other loss (a fair comparison)"
    else:
        lr_text = (
            f"LR in [{low:g}, {high:g}] instead of CE's [{ce_low:g}, {ce_high:g}], as set by the rules "
            "config (from evidence on this data, not from the family)"
        )
    trace = threshold_trace(
        "rule_dice_family",
        "Is any candidate a Dice-family (region or compound) loss?",
        "Dice-family candidates",
        float(len(dice_like)),
        1.0,
        when_fired=f"{', '.join(dice_like)}: {lr_text}, {STABLE_MIX} kept as the stable mix, and no trust in "
        "an LR range test for them.",
        otherwise=f"No Dice-family candidate; every loss is searched over [{ce_low:g}, {ce_high:g}].",
        reference="Milletari et al. 2016 (V-Net, Dice gradient); Taghanaki et al. 2019 (Combo loss); "
        "Kingma & Ba 2015 (Adam); Smith 2017 (LR range test, cyclical LRs).",
    )
    if not trace.fired:
        return RuleOutcome(trace=trace)
    fallback = (
        f"A bounded overlap loss with no CE term: if early epochs predict all background or all foreground, "
        f"fall back to {STABLE_MIX}."
    )
    reasons = {loss: fallback for loss in dice_like if get_spec(loss).bounded}
    return RuleOutcome(trace=trace, reasons=reasons, require=(STABLE_MIX,))
