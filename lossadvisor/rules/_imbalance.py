"""Rules about class imbalance: how rare the rarest class is, and how uneven the foreground classes are.

The imbalance level decides the family of the first choice, following the practitioners' heuristic (no
imbalance, plain CE; moderate, weighted CE; severe, overlap losses; extreme, losses built for it), checked
against measured outcomes (docs/EVIDENCE.md, ``python -m benchmarks rules``) for the metric the user scores:
the bounds moved (moderate from a 40 % minority, severe from 10 %) and Tversky leads the severe level, where
it was within the noise of the best on every measured set and Dice + CE was not.
Weighted CE earned its first place at moderate imbalance only with moderate weights: for IoU and Dice the
square roots of the inverse frequencies, no class above ``max_class_weight_overlap`` times the background (the
full inverse-frequency weights buy recall with more precision than IoU can afford). Recall-first users get the
full weights, and weighted CE first at severe imbalance too (``rule_objective``). Extreme imbalance keeps the
losses built for it, with Dice computed over the whole batch; no evidence set of this benchmark is that rare,
so those rungs rest on their papers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lossadvisor.errors import DataError
from lossadvisor.profile._schema import DatasetProfile
from lossadvisor.rules._evidence import cite
from lossadvisor.rules._outcome import LEVEL_STEP, PROMOTE, RuleOutcome, not_applicable, threshold_trace
from lossadvisor.rules._schema import RuleTrace

# Candidates of each level, best first, with the reason each is there ({share}, {ratio}, {minority} filled
# in).
LEVEL_CHOICES: dict[str, tuple[tuple[str, str], ...]] = {
    "none": (
        (
            "ce",
            "Classes are balanced (rarest class '{minority}' has {share:.1%} of the {px}): plain "
            "cross-entropy is well calibrated and the easiest loss to train.",
        ),
        (
            "dice_ce",
            "Dice + CE optimises the overlap metric directly while CE keeps the gradients steady "
            "(nnU-Net's default); a strong alternative when the score is Dice or IoU.",
        ),
        ("lovasz", "Lovász optimises IoU directly (Berman et al. 2018); worth a try when IoU is the metric."),
    ),
    "moderate": (
        (
            "weighted_ce",
            "'{minority}' has {share:.1%} of the {px} ({ratio:.1f}:1): weighting its {px} keeps CE's "
            "steady training and recovers its recall. Measured at 3x a confirmation run's steps, weights of "
            "the square root of the inverse frequency gave the best IoU, or one within the seed noise of the "
            f"best ({cite('moderate_weighted_ce')}); the full inverse-frequency weights cost IoU "
            f"({cite('weighted_ce_costs_iou')}), so for IoU and Dice the weights are those square roots "
            "(capped at 5x the background's), and the full ones only for recall.",
        ),
        (
            "dice_ce",
            "Dice + CE scores overlap, which ignores the class ratio, and its CE part keeps training steady; "
            "measured, it was within the noise of the best where most objects were tiny and below weighted "
            f"CE elsewhere ({cite('moderate_dice_ce')}).",
        ),
        (
            "dice",
            "Plain Dice ignores the class ratio; measured, it was below weighted CE on every set at this "
            f"level ({cite('moderate_dice')}): a fallback beside Dice + CE.",
        ),
        (
            "focal",
            "Focal loss down-weights the many easy background {px} (Lin et al. 2017); measured, it had the "
            "best IoU on one set and the worst on another at this level "
            f"({cite('moderate_focal')}): a gamble, last of the level.",
        ),
    ),
    "severe": (
        (
            "tversky",
            "'{minority}' has only {share:.1%} of the {px} ({ratio:.0f}:1): Tversky scores overlap whatever "
            "the class ratio and weighs false negatives above false positives, which keeps the rare class "
            "(Salehi et al. 2017); measured, its IoU was within the seed noise of the best on every set at "
            f"this level ({cite('severe_tversky')}).",
        ),
        (
            "dice_ce",
            "Dice + CE: overlap plus a CE term that keeps training stable (nnU-Net's default); measured "
            "within the seed noise of the best on three of four sets at this level "
            f"({cite('severe_dice_ce')}).",
        ),
        (
            "dice",
            "Plain Dice copes with the imbalance but is the least stable of the overlap losses; measured "
            f"within the noise of the best on three of four sets ({cite('severe_dice')}).",
        ),
        (
            "weighted_ce",
            "Weighted CE needs large weights at this ratio, and they cost IoU "
            f"({cite('weighted_ce_costs_iou')}); kept as the CE-side option.",
        ),
        (
            "focal",
            "Focal loss down-weights the many easy background {px} (Lin et al. 2017); measured, it collapsed "
            f"to under CE's IoU on thin rims at this level ({cite('severe_focal')}): last.",
        ),
    ),
    "extreme": (
        (
            "focal_tversky",
            "'{minority}' has {share:.2%} of the {px} ({ratio:.0f}:1): focal Tversky was "
            "built for tiny lesions at this imbalance (Abraham & Khan 2019).",
        ),
        (
            "unified_focal",
            "Unified focal combines focal CE and focal Tversky, suppressing easy background and "
            "boosting the rare class (Yeung et al. 2022).",
        ),
        (
            "generalized_dice",
            "Generalized Dice weighs each class by the inverse of its squared volume, so the "
            "rare class counts as much as background (Sudre et al. 2017).",
        ),
        (
            "dice_ce",
            "Batch-level Dice + CE: the stable fallback, with Dice summed over the batch because most "
            "images hold almost no foreground.",
        ),
        ("dice_focal", "Dice + focal: overlap plus a pixel term that ignores easy background."),
    ),
}


@dataclass(frozen=True)
class ImbalanceMeasure:
    """The rarest *scored* class among the classes that occur, and the majority:minority pixel ratio.

    The objective scores the foreground classes (foreground IoU, the mean over foreground classes), so the
    minority is the rarest foreground class that occurs, measured against all labelled pixels, and the
    majority is the largest class of any kind (background included): background against foreground. A
    background rarer than every foreground class (e.g. an "unlabeled" class holding 0.5% of a land-cover set)
    is not scored, so it does not set the level; ``unscored_rarer`` names it for the trace.
    """

    minority_class: str
    minority_share: float
    ratio: float
    absent_classes: tuple[str, ...]  # declared classes with no pixel at all
    unscored_rarer: tuple[str, float] | None = None  # (name, share) of a rarer class the objective ignores


def measure_imbalance(profile: DatasetProfile) -> ImbalanceMeasure:
    """Minority share and ratio over the scored classes that occur (a declared but absent class cannot be
    learned, and an unscored background does not decide what the objective rewards).

    Raises:
        DataError: fewer than two classes occur (e.g. every mask is empty): there is nothing to segment.
    """
    present = [c for c in profile.classes if c.pixel_count > 0]
    absent = tuple(c.name for c in profile.classes if c.pixel_count == 0)
    if len(present) < 2:
        only = present[0].name if present else "none"
        raise DataError(
            f"Only one class occurs in {profile.files_read} masks of {profile.source} (class '{only}'), so "
            "there is nothing to segment. Check the masks, --class-map and --ignore-index, then profile "
            "again."
        )
    total = sum(c.pixel_count for c in present)
    scored = [c for c in present if not c.is_background] or present
    rarest = min(scored, key=lambda c: c.pixel_count)
    largest = max(c.pixel_count for c in present)
    overall = min(present, key=lambda c: c.pixel_count)
    unscored = (
        (overall.name, overall.pixel_count / total) if overall.pixel_count < rarest.pixel_count else None
    )
    return ImbalanceMeasure(
        rarest.name, rarest.pixel_count / total, largest / rarest.pixel_count, absent, unscored
    )


def imbalance_level(measure: ImbalanceMeasure, thresholds: Mapping[str, float]) -> str:
    """``"none"``, ``"moderate"``, ``"severe"`` or ``"extreme"``: the worst level whose bounds both hold."""
    for level in ("extreme", "severe", "moderate"):
        if (
            measure.minority_share < thresholds[f"minority_share_{level}"]
            and measure.ratio >= thresholds[f"imbalance_ratio_{level}"]
        ):
            return level
    return "none"


# The severe level on volumes: the evidence rows of LEVEL_CHOICES["severe"] are 2-D tiles; in 3-D nnU-Net's
# Dice + CE default, validated on dozens of volume tasks (Isensee et al. 2021), stays first until volumes are
# measured here.
SEVERE_VOLUME_CHOICES: tuple[tuple[str, str], ...] = (
    (
        "dice_ce",
        "'{minority}' has only {share:.1%} of the {px} ({ratio:.0f}:1): Dice scores overlap whatever the "
        "class ratio and mixing it with CE keeps training stable; nnU-Net's default for volumes "
        "(Isensee et al. 2021). On 2-D slices of this kind Tversky was within the noise of the best "
        f"({cite('severe_tversky')}); volumes are not measured yet.",
    ),
    (
        "tversky",
        "Tversky weighs false negatives above false positives, keeping the rare class (Salehi et al. "
        "2017); within the seed noise of the best on every 2-D set at this level "
        f"({cite('severe_tversky')}).",
    ),
    (
        "dice",
        "Plain Dice copes with the imbalance but is the least stable of the overlap losses "
        f"({cite('severe_dice')}).",
    ),
    (
        "weighted_ce",
        "Weighted CE needs large weights at this ratio, and they cost IoU "
        f"({cite('weighted_ce_costs_iou')}).",
    ),
    (
        "focal",
        "Focal loss down-weights the many easy background {px} (Lin et al. 2017); it collapsed under "
        f"CE's IoU on thin 2-D rims at this level ({cite('severe_focal')}).",
    ),
)


def level_choices(level: str, dimensionality: int = 2) -> tuple[tuple[str, str], ...]:
    """The ranked ``(loss, reason)`` rungs of ``level``; severe volumes keep Dice + CE first."""
    return SEVERE_VOLUME_CHOICES if level == "severe" and dimensionality == 3 else LEVEL_CHOICES[level]


def rule_imbalance_level(profile: DatasetProfile, thresholds: Mapping[str, float]) -> RuleOutcome:
    """How rare is the rarest scored class? Sets the level that decides the first choice.

    Why: with balanced classes CE is calibrated and steady. As one class gets rarer, CE's average is dominated
    by the majority and the network learns to predict it everywhere; class weights fix this up to the ratio at
    which they must be clipped, beyond which overlap losses (Dice, which ignores true negatives) and losses
    built for extreme imbalance (focal Tversky, unified focal, generalized Dice) do better. Both the minority
    share and the majority:minority ratio must pass a level's bounds.
    """
    measure = measure_imbalance(profile)
    level = imbalance_level(measure, thresholds)
    warnings = tuple(
        f"Class '{name}' never occurs in the masks; it cannot be learned (check --class-map)."
        for name in measure.absent_classes
    )
    bound_level = "moderate" if level == "none" else level
    share_bound = thresholds[f"minority_share_{bound_level}"]
    ratio_bound = thresholds[f"imbalance_ratio_{bound_level}"]
    if level == "none":
        comparison = f">= {share_bound:g} or ratio {measure.ratio:.3g} < {ratio_bound:g}: level none"
    else:
        comparison = f"< {share_bound:g} and ratio {measure.ratio:.3g} >= {ratio_bound:g}: level {level}"
    choices = level_choices(level, profile.dimensionality)
    fill = {
        "minority": measure.minority_class,
        "share": measure.minority_share,
        "ratio": measure.ratio,
        "px": "voxels" if profile.dimensionality == 3 else "pixels",
    }
    scores = {loss: LEVEL_STEP * (len(choices) - i) for i, (loss, _) in enumerate(choices)}
    reasons = {loss: text.format(**fill) for loss, text in choices}
    first = choices[0][0]
    trace = RuleTrace(
        rule="rule_imbalance_level",
        question="How rare is the rarest class (pixel share and majority:minority ratio)?",
        measured_name=f"minority_share ('{measure.minority_class}', the rarest scored class)",
        measured=measure.minority_share,
        threshold=share_bound,
        comparison=comparison,
        fired=level != "none",
        conclusion=f"Imbalance level {level}, set by '{measure.minority_class}': start from {first}"
        + ("; Dice terms summed over the batch." if level == "extreme" else ".")
        + _unscored_note(measure),
        reference="Google ML Crash Course, 'Class-imbalanced datasets' (mild 20-40 %, moderate 1-20 %, "
        "extreme < 1 %); Sudre et al. 2017 (DLMIA); Abraham & Khan 2019 (ISBI).",
    )
    # The level always hands out its ranked list, "none" included (it puts CE first): this rule ranks even
    # when it does not "fire" (find imbalance).
    return RuleOutcome(
        trace=trace, scores=scores, reasons=reasons, warnings=warnings, batch_dice=level == "extreme"
    )


def _unscored_note(measure: ImbalanceMeasure) -> str:
    if measure.unscored_rarer is None:
        return ""
    name, share = measure.unscored_rarer
    return (
        f" '{name}' is rarer ({share:.2%}) but the objective (foreground IoU) does not score it, so it does "
        "not set the level, nor get a large class weight."
    )


def rule_rare_classes(profile: DatasetProfile, thresholds: Mapping[str, float]) -> RuleOutcome:
    """Are some foreground classes much rarer than the others? Then weigh classes, or use generalized Dice.

    Why: the imbalance level compares the rarest class with the majority (usually background). In a
    multi-class task a foreground class can also be rare next to the other foreground classes; unweighted CE
    and mean Dice then let the common classes dominate. Class weights (median frequency balancing, Eigen &
    Fergus 2015) or generalized Dice (weights by inverse squared volume, Sudre et al. 2017) give rare classes
    their say.
    """
    reference = (
        "Eigen & Fergus 2015 (median frequency balancing, ICCV); Sudre et al. 2017 (Generalised Dice)."
    )
    question = "Is a foreground class much rarer than the most common foreground class?"
    foreground = [c for c in profile.foreground_classes if c.pixel_count > 0]
    if len(foreground) < 2:
        return not_applicable(
            "rule_rare_classes", question, "foreground_class_ratio",
            "Fewer than two foreground classes occur: nothing to compare.", reference,
        )  # fmt: skip
    largest = max(c.pixel_count for c in foreground)
    ratio = largest / min(c.pixel_count for c in foreground)
    bound = thresholds["foreground_class_ratio"]
    rare = [c.name for c in foreground if largest / c.pixel_count >= bound]
    names = ", ".join(f"'{n}'" for n in rare)
    trace = threshold_trace(
        "rule_rare_classes",
        question,
        "foreground_class_ratio (largest / rarest foreground class)",
        ratio,
        bound,
        when_fired=f"Rare foreground classes {names}: weigh classes (weighted CE) or use generalized Dice.",
        otherwise="Foreground classes are comparably frequent; no extra class weighting needed.",
        reference=reference,
    )
    if not trace.fired:
        return RuleOutcome(trace=trace)
    weight_cap = thresholds["max_class_weight"]
    return RuleOutcome(
        trace=trace,
        scores={"weighted_ce": PROMOTE, "generalized_dice": PROMOTE},
        reasons={
            "weighted_ce": f"Rare classes ({names}) get larger class weights (median frequency balancing, "
            f"clipped at {weight_cap:g}) so the common classes do not drown them.",
            "generalized_dice": f"Weighs each class by the inverse of its squared volume, so rare classes "
            f"({names}) count as much as common ones (Sudre et al. 2017).",
        },
    )
