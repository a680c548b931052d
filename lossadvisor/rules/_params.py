"""Constructor parameters of each candidate loss, computed from the profile, and their tuning ranges.

Only parameters the profile says something about are set; everything else keeps the registry's default (which
is the paper's value). Every set of parameters is checked against the registry before it leaves this module,
so a recommendation always builds with ``build_loss(candidate.loss, **candidate.params)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lossadvisor.losses import class_weights_from_profile, get_spec, pos_weight_from_frequency
from lossadvisor.profile._schema import DatasetProfile
from lossadvisor.rules._imbalance import ImbalanceMeasure
from lossadvisor.rules._schema import ParamRange, ParamValue

# Weight of Dice in a Dice/CE (or Dice/focal) compound. 0.5 is nnU-Net's equal sum (Isensee et al. 2021).
DICE_MIX = 0.5
# With tiny objects, Dice's gradient is hundreds of times CE's (measured during calibration), so CE
# takes the larger share; 0.3 still leaves Dice a third of the say.
DICE_MIX_CE_HEAVY = 0.3
# When CE is favoured, the tuner searches the mix only on CE's side of nnU-Net's 0.5.
MIX_HIGH_CE_HEAVY = 0.5
# Focal gamma: Lin et al. (2017) found 2 best (Table 1a). Alpha is left unset: with gamma = 2 their best alpha
# was 0.25, i.e. the focusing term already does the re-weighting.
FOCAL_GAMMA = 2.0
# Tversky beta (false-negative weight) grows with the log of the imbalance ratio: 0.5 (Dice) at balance, plus
# 0.1 per decade, which gives Salehi et al.'s best 0.7 at 100:1 (their lesions were about that rare); capped
# at 0.8 so precision is never ignored. Also used for unified focal's delta (the same role, Yeung et al.
# 2022).
TVERSKY_BETA_BALANCED = 0.5
TVERSKY_BETA_PER_DECADE = 0.1
TVERSKY_BETA_MAX = 0.8
# Binary class weights come from inverse frequency; multi-class ones from median frequency balancing, the
# usual choice for semantic segmentation (Eigen & Fergus 2015). Where IoU or Dice is scored no foreground
# class weighs more than the `max_class_weight_overlap` threshold times the background (rules/_thresholds.py,
# set from docs/EVIDENCE.md); where recall is scored only the general `max_class_weight` clip applies.
BINARY_WEIGHT_METHOD = "inverse"
MULTICLASS_WEIGHT_METHOD = "median"
# Where IoU or Dice is scored, the square roots of the inverse frequencies (then the cap): measured at 3x a
# confirmation run's steps (docs/EVIDENCE.md), square-root weights were never more than 0.014 IoU behind the
# full ones and 0.04-0.06 ahead on four of six rows (nuclei, hippocampus, nuclei-outline,
# hippocampus-dropped): full weights buy recall with precision IoU cannot afford. Recall keeps the full ones.
OVERLAP_WEIGHT_METHOD = "sqrt_inverse"


@dataclass(frozen=True)
class ParamContext:
    """What the parameters depend on besides the profile: the imbalance and the switches set by the rules."""

    measure: ImbalanceMeasure
    batch_dice: bool
    favour_ce_in_mix: bool
    max_class_weight: float
    overlap_cap: float | None = None  # IoU/Dice: largest foreground weight / background weight (None: recall)


def tversky_beta(ratio: float) -> float:
    """False-negative weight for a majority:minority ratio (see the TVERSKY_BETA_* constants).

    Example:
        >>> tversky_beta(100.0)
        0.7
    """
    decades = math.log10(max(ratio, 1.0)) if math.isfinite(ratio) else math.inf
    return round(min(TVERSKY_BETA_BALANCED + TVERSKY_BETA_PER_DECADE * decades, TVERSKY_BETA_MAX), 2)


def candidate_params(loss: str, profile: DatasetProfile, ctx: ParamContext) -> dict[str, ParamValue]:
    """The parameters of ``loss`` for this profile, checked against the registry.

    Raises:
        ConfigError: (a bug, not user input) a computed value outside the registry's domain.
    """
    params: dict[str, ParamValue] = {}
    mix = DICE_MIX_CE_HEAVY if ctx.favour_ce_in_mix else DICE_MIX
    beta = tversky_beta(ctx.measure.ratio)
    if loss == "weighted_ce":
        params.update(_class_weighting(profile, ctx))
    elif loss in ("dice_ce", "dice_focal"):
        params["mix"] = mix
    if loss in ("focal", "dice_focal"):
        params["gamma"] = FOCAL_GAMMA
    if loss in ("tversky", "focal_tversky"):
        params["beta"] = beta
    if loss == "unified_focal":
        delta = get_spec(loss).param("delta")
        params["delta"] = min(max(beta, delta.low or 0.0), delta.high or 1.0)
    if ctx.batch_dice and get_spec(loss).has_batch_dice:
        params["batch_dice"] = True
    if profile.ignore_index is not None and any(p.name == "ignore_index" for p in get_spec(loss).params):
        params["ignore_index"] = profile.ignore_index
    return get_spec(loss).validate(params)


def tunable_ranges(loss: str, ctx: ParamContext) -> tuple[ParamRange, ...]:
    """The registry's tuning ranges for ``loss``, narrowed where a rule says which side to search."""
    ranges = []
    for spec in get_spec(loss).tunable_params:
        low, high = spec.low, spec.high
        if spec.name == "mix" and ctx.favour_ce_in_mix and high is not None:
            high = min(high, MIX_HIGH_CE_HEAVY)
        if spec.kind == "choice":
            ranges.append(ParamRange(spec.name, choices=tuple(spec.choices or ())))
        else:
            ranges.append(ParamRange(spec.name, low=low, high=high, log=spec.log))
    return tuple(ranges)


def _class_weighting(profile: DatasetProfile, ctx: ParamContext) -> dict[str, ParamValue]:
    """``pos_weight`` for a binary task, else ``class_weights``, from the losses helpers (clipped).

    The background class is never weighted above 1: the objective (foreground IoU) does not score it, so a
    rare unlabeled background must not draw the largest weight (issue 9: a land-cover set whose 0.5%
    "unlabeled" class pushed the advice to extreme-imbalance losses).
    """
    clip = (1.0 / ctx.max_class_weight, ctx.max_class_weight)
    if profile.task == "binary":
        foreground = profile.foreground_classes[0]
        method = BINARY_WEIGHT_METHOD if ctx.overlap_cap is None else OVERLAP_WEIGHT_METHOD
        weight = pos_weight_from_frequency(foreground.pixel_frequency, method=method, clip=clip)
        if ctx.overlap_cap is not None:
            weight = min(weight, ctx.overlap_cap)
        return {"pos_weight": round(weight, 4)}
    method = MULTICLASS_WEIGHT_METHOD if ctx.overlap_cap is None else OVERLAP_WEIGHT_METHOD
    weights = class_weights_from_profile(profile, method=method, clip=clip)
    # A class with no pixel at all (declared in a class map, or index 0 of masks whose values start at 1)
    # has nothing to weigh: it stays neutral (1) instead of taking the clip, and the present classes keep
    # the weights computed from their own frequencies (the absent class has frequency 0 in the sum).
    # Background is not scored by the objective: never up-weighted, however rare it is.
    order = sorted(profile.classes, key=lambda c: c.index)
    weights = [
        1.0 if c.pixel_count == 0 else min(float(w), 1.0) if c.is_background else float(w)
        for c, w in zip(order, weights, strict=True)
    ]
    if ctx.overlap_cap is not None:
        weights = _capped(order, weights, ctx.overlap_cap)
    return {"class_weights": tuple(round(w, 4) for w in weights)}


def _capped(order: list, weights: list[float], cap: float) -> list[float]:
    """No class above ``cap`` times the weight of the most common class, then rescaled so the present
    classes still average 1 over their pixels (``sum(f * w) == 1``; only ratios change CE's minimum), the
    background again never above 1."""
    present = [i for i, c in enumerate(order) if c.pixel_count > 0]
    majority = max(present, key=lambda i: order[i].pixel_count)
    limit = cap * weights[majority]
    out = [min(w, limit) if i in present else w for i, w in enumerate(weights)]
    scale = 1.0 / sum(order[i].pixel_frequency * out[i] for i in present)
    out = [w * scale if i in present else w for i, w in enumerate(out)]
    return [min(w, 1.0) if c.is_background else w for c, w in zip(order, out, strict=True)]
