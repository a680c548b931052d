"""Rules about what the masks look like: empty images, tiny objects (native and training size), thin shapes.

These rules do not change the family the imbalance level chose; they decide how Dice-family losses must be set
up to survive this data (batch-level Dice, more CE in the mix) and which alternatives deserve a place.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from lossadvisor.losses import LOSSES
from lossadvisor.profile._schema import (
    PERCENTILES,
    SCALE_DIAMETER_THRESHOLDS_PX,
    SIZE_BUCKET_BOUNDS_MM3,
    DatasetProfile,
    ScaleEffect,
)
from lossadvisor.rules._evidence import cite
from lossadvisor.rules._outcome import NUDGE, PROMOTE, RuleOutcome, not_applicable, threshold_trace
from lossadvisor.rules._schema import RuleTrace

# An overlap term with a pixel term beside it, per the registry.
COMPOUND_LOSSES = tuple(name for name, spec in LOSSES.items() if spec.compound)
PURE_REGION_LOSSES = ("dice", "tversky", "generalized_dice")  # overlap only: nothing bounds their gradient
# Diameter (px) under which an object counts as lost at the training size: the largest the profile measures.
LOST_DIAMETER_PX = max(SCALE_DIAMETER_THRESHOLDS_PX)
# U-Nets with four poolings need sides divisible by 2**4; 32 also suits five. Suggested sizes are rounded up.
TRAIN_SIZE_MULTIPLE = 32


def rule_empty_masks(profile: DatasetProfile, thresholds: Mapping[str, float]) -> RuleOutcome:
    """Do many images lack the foreground? Then no per-image Dice: batch-level Dice plus CE.

    Why: on an image without foreground, per-image Dice is 0/0. Without smoothing it is undefined; with it,
    the score is all-or-nothing (1 for an empty prediction, near 0 for one stray pixel) and its gradient is
    almost zero, so those images teach nothing about false positives. Summing Dice over the batch (nnU-Net's
    batch Dice) keeps it defined, and the CE term of a compound still penalises each false-positive pixel.
    In a multi-class task the same holds per class, so the measure is the most often absent foreground class.
    """
    # A class that never occurs is absent from every image by definition; it says nothing about empty tiles
    # (rule_imbalance_level reports it as never occurring).
    foreground = [c for c in profile.foreground_classes if c.pixel_count > 0]
    worst = max(foreground, key=lambda c: c.absent_share) if foreground else None
    share = worst.absent_share if worst is not None else profile.empty_mask_share
    name = (
        "empty_mask_share" if profile.task == "binary" or worst is None else f"absent_share ('{worst.name}')"
    )
    unit = _unit(profile)
    question = f"Do many {unit} have no foreground (per class in multi-class tasks)?"
    trace = threshold_trace(
        "rule_empty_masks", question, name, share, thresholds["empty_mask_share"],
        when_fired=f"{share:.0%} of {unit} are empty: no per-image Dice; Dice summed over the batch, mixed "
        "with CE.",
        otherwise=f"Few empty {unit}: per-image or batch Dice both work.",
        reference="Milletari et al. 2016 (V-Net Dice gradient); Isensee et al. 2021 (nnU-Net batch Dice).",
    )  # fmt: skip
    if not trace.fired:
        return RuleOutcome(trace=trace)
    why = (
        f"{share:.0%} of {unit} have no foreground, where per-image Dice is undefined (0/0) or all-or-nothing"
    )
    return prefer_batch_dice(
        trace, why, ce_tail="; the CE term still punishes false-positive pixels on empty images."
    )


def rule_tiny_objects(profile: DatasetProfile, thresholds: Mapping[str, float]) -> RuleOutcome:
    """Are many objects tiny (under 8x8 px) at native resolution? Then favour compound losses.

    Why: on an object of n pixels each wrong pixel moves its Dice by about 1/n, so a few pixels decide the
    score of a tiny object and its gradient is large and noisy (the V-Net gradient divides by the object's
    size). A CE term beside Dice bounds those gradients; pure overlap losses are left lower in the ranking.
    Where most objects are tiny (``tiny_object_share_dominant``), Dice + CE goes first: measured, it was
    within the noise of the best there while weighted CE, the moderate level's first, was not.
    """
    objects = [c.objects for c in profile.foreground_classes if c.objects is not None]
    total = sum(o.count for o in objects)
    reference = (
        "Milletari et al. 2016 (V-Net); Taghanaki et al. 2019 (Combo loss, CMIG); Lin et al. 2014 (COCO)."
    )
    volumes = profile.dimensionality == 3
    tiny = f"under {_TINY_MM3:g} mm³, a {_TINY_DIAMETER_MM:g} mm sphere" if volumes else "area under 64 px"
    question = f"Are many objects tiny ({tiny}, the profile's 'tiny' bucket)?"
    if total == 0:
        return not_applicable("rule_tiny_objects", question, "tiny_object_share", "No objects.", reference)
    share = sum(o.size_buckets.get("tiny", 0) for o in objects) / total
    trace = threshold_trace(
        "rule_tiny_objects",
        question,
        "tiny_object_share",
        share,
        thresholds["tiny_object_share"],
        when_fired=f"{share:.0%} of objects are tiny: Dice is very sensitive to a few wrong pixels there; "
        "favour compound losses (Dice + CE) and more CE in the mix.",
        otherwise="Few tiny objects at native resolution.",
        reference=reference,
    )
    if not trace.fired:
        return RuleOutcome(trace=trace)
    warning = (
        f"{share:.0%} of objects are smaller than 8x8 px at native resolution: one wrong pixel changes their "
        "Dice by several percent. Do not downscale the tiles (train on native-resolution crops), and prefer "
        "Dice + CE over plain Dice."
    )
    if volumes:
        warning = (
            f"{share:.0%} of objects are under {_TINY_MM3:g} mm³ (a {_TINY_DIAMETER_MM:g} mm sphere): a few "
            "wrong voxels change their Dice by tens of percent. Train at native spacing (never coarser), and "
            "prefer Dice + CE over plain Dice."
        )
    outcome = favour_compounds(trace, warning, "many objects are tiny, where Dice swings with a few pixels")
    dominant = thresholds["tiny_object_share_dominant"]
    if share < dominant:
        return outcome
    # most objects tiny: Dice + CE first (measured: within the noise of the best there, weighted CE not)
    reason = (
        f"Most objects are tiny ({share:.0%}, at least {dominant:g}): measured, Dice + CE was within the "
        f"seed noise of the best IoU there and weighted CE was not ({cite('tiny_dominant_dice_ce')})."
    )
    trace = replace(
        trace,
        conclusion=f"{trace.conclusion} Most objects are tiny (>= tiny_object_share_dominant {dominant:g}): "
        "Dice + CE goes first.",
    )
    return replace(
        outcome,
        trace=trace,
        scores={**outcome.scores, "dice_ce": PROMOTE},
        reasons={**outcome.reasons, "dice_ce": reason},
    )


def rule_objects_lost_at_train_size(profile: DatasetProfile, thresholds: Mapping[str, float]) -> RuleOutcome:
    """Do objects shrink below a few pixels when tiles are resized to the training size? Suggest a larger one.

    Why: resizing a tile by a factor s shrinks an object's diameter by s. Under about 4 px an object is a
    handful of pixels (or disappears in the nearest-neighbour resize of its mask), so the network cannot learn
    it and Dice on it is noise. The smallest training size is checked (progressive resizing starts there).
    """
    reference = "Howard & Gugger 2020 (fastai, progressive resizing); Milletari et al. 2016 (V-Net)."
    question = f"Do objects fall under {LOST_DIAMETER_PX:g} px across at the training size?"
    measured_name = f"share of objects under {LOST_DIAMETER_PX:g} px"
    if not profile.scale_effects:
        return not_applicable(
            "rule_objects_lost_at_train_size", question, measured_name,
            "No training size in the profile; profile again with --train-size to check.", reference,
        )  # fmt: skip
    effects = sorted(profile.scale_effects, key=lambda e: e.train_size)
    smallest = effects[0]
    share = _share_lost(smallest)
    bound = thresholds["lost_object_share"]
    advice = _size_advice(profile, effects, bound)
    trace = threshold_trace(
        "rule_objects_lost_at_train_size", question, f"{measured_name} at {smallest.train_size} px", share,
        bound,
        when_fired=f"At {smallest.train_size} px, {share:.0%} of objects are under {LOST_DIAMETER_PX:g} px "
        f"across: {advice}",
        otherwise=f"At {smallest.train_size} px objects stay large enough.",
        reference=reference,
    )  # fmt: skip
    if not trace.fired:
        return RuleOutcome(trace=trace)
    warning = (
        f"Resized to {smallest.train_size} px, {share:.0%} of objects are under {LOST_DIAMETER_PX:g} px: "
        f"Dice is very sensitive to a few wrong pixels on them. {advice[:1].upper()}{advice[1:]}"
    )
    return favour_compounds(trace, warning, f"at {smallest.train_size} px many objects are only a few pixels")


def rule_thin_structures(profile: DatasetProfile, thresholds: Mapping[str, float]) -> RuleOutcome:
    """Is the foreground thin (most of its pixels on a boundary)? Note boundary- and topology-aware options.

    Why: on thin structures (vessels, roads, cracks) a one-pixel shift breaks connectivity while barely moving
    pixel losses. Tversky's larger false-negative weight keeps thin parts (measured: the best IoU on thin
    rims); Lovász, which optimises IoU directly, was the worst there and is nudged down. clDice (Shit et al.
    2021) and boundary loss (Kervadec et al. 2019) target topology and contours.
    """
    share = profile.boundary_share
    volumes = profile.dimensionality == 3
    bound = thresholds["thin_surface_share" if volumes else "thin_boundary_share"]
    # a line w px wide has a boundary share of 2/w; a discretised tube d voxels across about 3/d (measured:
    # 2.7/d to 3.2/d for d = 4..8, _thresholds.THIN_SURFACE_SHARE)
    width = (3.0 if volumes else 2.0) / share if share > 0 else math.inf
    px = "voxels" if volumes else "px"
    trace = threshold_trace(
        "rule_thin_structures",
        (
            "Are the structures thin (share of foreground voxels on the surface)?"
            if volumes
            else "Are the structures thin (share of foreground pixels on a boundary)?"
        ),
        "surface share (boundary_share)" if volumes else "boundary_share",
        share,
        bound,
        when_fired=f"Thin structures (typical width about {width:.0f} {px}): Tversky up (measured best on "
        "thin rims, Lovász worst); consider topology-aware losses (clDice, boundary loss).",
        otherwise="Structures are not thin; no boundary-specific loss needed.",
        reference="Berman et al. 2018 (Lovász-Softmax); Kervadec et al. 2019 (boundary loss, MIDL); "
        "Shit et al. 2021 (clDice, CVPR).",
    )
    if not trace.fired:
        return RuleOutcome(trace=trace)
    return RuleOutcome(
        trace=trace,
        scores={"tversky": NUDGE, "lovasz": -NUDGE},
        reasons={
            "tversky": "The structures are thin: weighting false negatives keeps thin parts from vanishing; "
            f"measured, the best IoU on thin rims or one within the noise of it ({cite('thin_tversky')}).",
            "lovasz": "The structures are thin. Lovász optimises IoU directly, but measured on thin rims it "
            f"had the worst IoU of eight losses ({cite('thin_lovasz_worst')}): not promoted here.",
        },
        warnings=(
            f"The foreground is thin ({share:.0%} of its {'voxels' if volumes else 'pixels'} on a boundary). "
            "If connectivity matters, "
            "also compare a topology-aware loss such as clDice (Shit et al. 2021) or a boundary loss "
            "(Kervadec et al. 2019); lossadvisor does not train them.",
        ),
    )


# The 3-D 'tiny' bucket's upper bound (runfolder.SIZE_BUCKET_BOUNDS_MM3) and the sphere it stands for.
_TINY_MM3 = next(high for name, _, high in SIZE_BUCKET_BOUNDS_MM3 if name == "tiny")
_TINY_DIAMETER_MM = round((6 * _TINY_MM3 / math.pi) ** (1 / 3))


def _unit(profile: DatasetProfile) -> str:
    """What one sample is called in the messages: "images" or "volumes"."""
    return "volumes" if profile.dimensionality == 3 else "images"


def favour_compounds(trace: RuleTrace, warning: str, why: str) -> RuleOutcome:
    """Shared effect of the small-object rules (tiny objects, objects lost at the training size, and in 3-D
    objects few voxels across): pure overlap losses down (compounds pass them), more CE in the mix.

    Compounds are not pushed up: tiny objects are a reason to prefer Dice + CE over plain Dice, not over CE.
    """
    scores = {loss: -NUDGE for loss in PURE_REGION_LOSSES}
    reasons = {
        loss: f"Favoured because {why}: the pixel term bounds Dice's gradient." for loss in COMPOUND_LOSSES
    }
    return RuleOutcome(
        trace=trace, scores=scores, reasons=reasons, warnings=(warning,), favour_ce_in_mix=True
    )


def prefer_batch_dice(
    trace: RuleTrace, why: str, *, ce_tail: str, warnings: tuple[str, ...] = ()
) -> RuleOutcome:
    """Shared effect of the empty-sample rules (empty images, empty 3-D patches): Dice summed over the whole
    batch, and Dice + CE before plain Dice (not before CE). ``ce_tail`` ends Dice + CE's reason after ``why``:
    what its CE term still does there."""
    batch = "Dice summed over the whole batch (batch_dice): "
    return RuleOutcome(
        trace=trace,
        scores={"dice": -2 * NUDGE},  # Dice + CE is preferred over plain Dice, not over CE
        reasons={"dice_ce": f"{batch}{why}{ce_tail}", "dice": f"{batch}{why}."},
        warnings=warnings,
        batch_dice=True,
    )


def _share_lost(effect: ScaleEffect) -> float:
    """The effect's share of objects under LOST_DIAMETER_PX (or under its largest measured diameter)."""
    by_diameter = {float(m.group(1)): v for k, v in effect.share_objects_below.items() if (m := _PX.match(k))}
    if not by_diameter:
        return 0.0
    return by_diameter.get(LOST_DIAMETER_PX, by_diameter[max(by_diameter)])


_PX = re.compile(r"^\s*([0-9.]+)\s*px\s*$")


@dataclass(frozen=True)
class TrainingSizeAdvice:
    """What the lost-objects rule advises: a larger resize ``size``, or native-resolution crops
    (``size`` None)."""

    size: int | None
    measured_share: float  # share of objects under LOST_DIAMETER_PX at the profiled training size
    profiled_size: int
    text: str


def training_size_advice(
    profile: DatasetProfile, thresholds: Mapping[str, float]
) -> TrainingSizeAdvice | None:
    """The training size :func:`rule_objects_lost_at_train_size` asks for, or None when it does not fire.

    ``tune`` acts on it unless the user chose ``--size`` or ``--crop``.
    """
    if not profile.scale_effects:
        return None
    effects = sorted(profile.scale_effects, key=lambda e: e.train_size)
    share = _share_lost(effects[0])
    bound = thresholds["lost_object_share"]
    if share < bound:
        return None
    size, text = _size_choice(profile, effects, bound)
    return TrainingSizeAdvice(size, share, effects[0].train_size, text)


def _size_advice(profile: DatasetProfile, effects: list[ScaleEffect], bound: float) -> str:
    return _size_choice(profile, effects, bound)[1]


def _size_choice(profile: DatasetProfile, effects: list[ScaleEffect], bound: float) -> tuple[int | None, str]:
    """Name a larger training size that keeps objects, from the profile's other sizes or its diameters
    (None: native-resolution crops)."""
    for effect in effects[1:]:
        if _share_lost(effect) < bound:
            return effect.train_size, (
                f"train at {effect.train_size} px or more (measured: {_share_lost(effect):.0%} lost there)."
            )
    smallest = effects[0]
    crops = "train on native-resolution crops instead of resizing whole tiles."
    diameter = _diameter_quantile(profile, bound)
    if diameter is None or diameter <= 0 or smallest.scale_factor_median <= 0:
        return None, crops
    native = smallest.train_size / smallest.scale_factor_median
    needed = smallest.train_size * (LOST_DIAMETER_PX / diameter) / smallest.scale_factor_median
    if needed >= native:
        return None, crops
    size = int(math.ceil(needed / TRAIN_SIZE_MULTIPLE) * TRAIN_SIZE_MULTIPLE)
    return size, (
        f"train at about {size} px or more (estimated from object diameters), or on native-resolution crops."
    )


def _diameter_quantile(profile: DatasetProfile, share: float) -> float | None:
    """The smallest, over foreground classes, of the object-diameter percentile nearest below ``share``."""
    eligible = [p for p in PERCENTILES if p <= share * 100] or [min(PERCENTILES)]
    key = f"p{max(eligible)}"
    values = [
        c.objects.equivalent_diameter.percentiles.get(key)
        for c in profile.foreground_classes
        if c.objects is not None and c.objects.count > 0
    ]
    values = [v for v in values if v is not None]
    return min(values) if values else None
