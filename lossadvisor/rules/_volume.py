"""Rules for 3-D label volumes, measured per volume and relative to the training patch.

A 3-D network never sees a whole dataset's voxel ratio: it sees patches. So the 3-D questions are about a
patch: how small is a lesion next to it, how many patches hold nothing, how many voxels across is an object
along the coarse axis, and is the grid anisotropic enough that 3-D patches waste their depth. Each rule reads
only ``DatasetProfile.volume`` and the object statistics, and is "not applicable" on a 2-D profile.

The defaults these rules are compared with (:func:`framework_defaults_trace`): nnU-Net trains every 3-D
configuration with soft Dice + cross-entropy, equally weighted, and forces a third of each batch's patches to
hold foreground (``oversample_foreground_percent = 0.33``; Isensee et al. 2021). MONAI Auto3DSeg's algorithm
templates train with DiceCE or DiceFocal (Dice + cross-entropy, or Dice + focal).
"""

from __future__ import annotations

from collections.abc import Mapping

from lossadvisor.profile._schema import DatasetProfile
from lossadvisor.profile._volume_stats import SMALL_IN_PATCH_FRACTION, voxel_threshold_key
from lossadvisor.rules._outcome import NUDGE, RuleOutcome, not_applicable, threshold_trace
from lossadvisor.rules._schema import RuleTrace
from lossadvisor.rules._structure import COMPOUND_LOSSES, favour_compounds, prefer_batch_dice

# Objects spanning at most this many slices along the through-plane axis (median) gain little from 3-D
# context on an anisotropic grid: a 3-D kernel sees them in one or two of its three taps.
FEW_SLICES = 3
# Diameter (voxels along the coarsest axis) under which an object counts as "few voxels across": the
# largest of the profile's measures, as for 2-D tiles (LOST_DIAMETER_PX).
FEW_VOXELS = 4.0
# nnU-Net's share of patches forced to hold foreground (nnUNetTrainer.oversample_foreground_percent).
NNUNET_FOREGROUND_OVERSAMPLING = 0.33
NNUNET_REFERENCE = "Isensee et al. 2021 (nnU-Net, Nature Methods: Dice + CE, a third of patches oversampled)"
MONAI_REFERENCE = "MONAI Auto3DSeg algorithm templates (DiceCE / DiceFocal)"
_AXES = ("D", "H", "W")


def _not_3d(rule: str, question: str, measured: str, reference: str) -> RuleOutcome:
    return not_applicable(rule, question, measured, "A 2-D profile: this rule reads volumes only.", reference)


def _patch(profile: DatasetProfile) -> str:
    """The training patch the profile measured at, as ``32x48x32``."""
    return "x".join(str(n) for n in profile.volume.patch_size)  # type: ignore[union-attr]


def rule_small_lesions_in_patch(profile: DatasetProfile, thresholds: Mapping[str, float]) -> RuleOutcome:
    """Are many lesions tiny next to the training patch (under 1/1000 of its voxels)? Keep a Dice term.

    Why: cross-entropy is a mean over the patch's voxels, so a lesion of under 0.1 % of them moves it by
    under 0.1 %: trained on CE alone a network can predict background everywhere at a near-minimal loss (the
    "CE gives a Dice of 0" reports on small-lesion tasks). A Dice term scores the lesion against its own size,
    whatever the patch; summed over the batch it stays defined when a patch holds no lesion. This is nnU-Net's
    Dice + CE, and the reason to keep it rather than move to CE or focal alone.
    """
    rule = "rule_small_lesions_in_patch"
    question = (
        f"Are many lesions tiny next to the training patch (under {SMALL_IN_PATCH_FRACTION:.1%} of it)?"
    )
    reference = f"Milletari et al. 2016 (V-Net); {NNUNET_REFERENCE}."
    if profile.volume is None:
        return _not_3d(rule, question, "small_in_patch_share", reference)
    share = profile.volume.small_in_patch_share
    patch = _patch(profile)
    trace = threshold_trace(
        rule,
        question,
        f"small_in_patch_share (patch {patch})",
        share,
        thresholds["small_in_patch_share"],
        when_fired=f"{share:.0%} of lesions fill under {SMALL_IN_PATCH_FRACTION:.1%} of a {patch} patch: a "
        "voxel mean (CE, focal) barely sees them; keep a Dice term (Dice + CE, as nnU-Net), summed over the "
        "batch.",
        otherwise=f"Lesions are not tiny next to a {patch} patch.",
        reference=reference,
    )
    if not trace.fired:
        return RuleOutcome(trace=trace)
    why = f"{share:.0%} of lesions fill under {SMALL_IN_PATCH_FRACTION:.1%} of the training patch"
    return RuleOutcome(
        trace=trace,
        scores={"ce": -NUDGE, "focal": -NUDGE, **{loss: NUDGE for loss in COMPOUND_LOSSES}},
        reasons={
            loss: f"{why}: the Dice term scores each lesion against its own size, the CE term keeps the "
            "gradient bounded (nnU-Net's default pair)."
            for loss in COMPOUND_LOSSES
        },
        warnings=(
            f"{why} ({patch} voxels): a loss that averages over voxels (CE, focal) barely sees them. Keep a "
            "Dice term summed over the batch, and sample patches around foreground (nnU-Net forces a third "
            "of them to hold some).",
        ),
        batch_dice=True,
    )


def rule_empty_patches(profile: DatasetProfile, thresholds: Mapping[str, float]) -> RuleOutcome:
    """Would many uniformly placed patches hold no foreground? Then batch Dice and foreground oversampling.

    Why: on a patch without foreground a per-patch Dice is 0/0 (undefined) or, smoothed, all-or-nothing, the
    same problem as empty 2-D images; with 3-D batches of two patches (nnU-Net's default) an empty patch sits
    in most batches once a quarter of patches are empty (1 - 0.75² = 44 %). nnU-Net answers with batch Dice
    and by forcing a third of the patches onto foreground; with 2/3 of patches still uniform, a dataset where
    most uniform patches are empty keeps many empty ones even then.
    """
    rule = "rule_empty_patches"
    question = "Would many uniformly placed training patches hold no foreground?"
    reference = f"{NNUNET_REFERENCE}; Milletari et al. 2016 (V-Net Dice gradient)."
    if profile.volume is None:
        return _not_3d(rule, question, "empty_patch_share", reference)
    share = profile.volume.empty_patch_share.mean
    patch = _patch(profile)
    with_nnunet = share * (1 - NNUNET_FOREGROUND_OVERSAMPLING)
    trace = threshold_trace(
        rule, question, f"empty_patch_share (patch {patch}, mean over volumes)", share,
        thresholds["empty_patch_share"],
        when_fired=f"{share:.0%} of uniformly placed {patch} patches hold no foreground ({with_nnunet:.0%} "
        "with nnU-Net's third of patches on foreground): Dice summed over the batch, mixed with CE, and "
        "foreground oversampling.",
        otherwise=f"Few {patch} patches are empty ({share:.0%}): per-patch or batch Dice both work.",
        reference=reference,
    )  # fmt: skip
    if not trace.fired:
        return RuleOutcome(trace=trace)
    why = f"{share:.0%} of uniformly placed {patch} patches hold no foreground"
    return prefer_batch_dice(
        trace,
        why,
        ce_tail=", where per-patch Dice is 0/0; the CE term still punishes false positives there.",
        warnings=(
            f"{why}. Sample patches around foreground (nnU-Net forces a third of them to hold some; "
            f"{with_nnunet:.0%} would still be empty) and compute Dice over the batch.",
        ),
    )


def rule_objects_few_voxels_across(profile: DatasetProfile, thresholds: Mapping[str, float]) -> RuleOutcome:
    """Do objects span only a few voxels along the coarsest axis? Then compounds, and no coarser resampling.

    Why: the 3-D form of objects lost at the training size. An object whose sphere-equivalent diameter spans
    under 4 voxels along the coarse (through-plane) axis is a handful of slices: its Dice swings with a few
    voxels (V-Net's gradient divides by its size), so a CE term beside Dice bounds those gradients. Resampling
    to a coarser spacing (nnU-Net's low-resolution stage) would shrink it further.
    """
    rule = "rule_objects_few_voxels_across"
    question = f"Do objects span under {FEW_VOXELS:g} voxels along their coarsest axis?"
    reference = "Milletari et al. 2016 (V-Net); Taghanaki et al. 2019 (Combo loss, CMIG)."
    key = voxel_threshold_key(FEW_VOXELS)
    if profile.volume is None:
        return _not_3d(rule, question, f"share of objects under {FEW_VOXELS:g} voxels", reference)
    share = profile.volume.share_objects_below_voxels.get(key, 0.0)
    trace = threshold_trace(
        rule, question, f"share of objects under {FEW_VOXELS:g} voxels across (coarsest axis)", share,
        thresholds["lost_object_share"],
        when_fired=f"{share:.0%} of objects span under {FEW_VOXELS:g} voxels along the coarsest axis: Dice "
        "swings with a few voxels there; favour Dice + CE, train at native spacing (never coarser).",
        otherwise=f"Objects span at least {FEW_VOXELS:g} voxels along every axis.",
        reference=reference,
    )  # fmt: skip
    if not trace.fired:
        return RuleOutcome(trace=trace)
    why = f"{share:.0%} of objects span under {FEW_VOXELS:g} voxels along the coarsest axis"
    warning = (
        f"{why}: train at native spacing (a coarser resampling, such as a low-resolution cascade stage, "
        "would lose them) and prefer Dice + CE over plain Dice."
    )
    return favour_compounds(trace, warning, why)


def rule_anisotropy(profile: DatasetProfile, thresholds: Mapping[str, float]) -> RuleOutcome:
    """Is the voxel grid anisotropic (largest / smallest spacing above 3, nnU-Net's bound)? Shape the patch.

    Why: with slices several times thicker than the in-plane spacing, a cubic patch spans a larger physical
    depth than width, and a 3x3x3 kernel mixes structures millimetres apart across slices. nnU-Net treats a
    ratio above 3 as anisotropic and plans its patches and poolings in-plane first. When objects also span
    only a few slices, 3-D context adds little and a 2-D network on in-plane slices is the usual winner. This
    rule changes no loss; it says how to cut patches.
    """
    rule = "rule_anisotropy"
    question = "Is the voxel grid anisotropic (largest / smallest median spacing)?"
    reference = f"{NNUNET_REFERENCE} (ANISO_THRESHOLD = 3)."
    if profile.volume is None:
        return _not_3d(rule, question, "anisotropy", reference)
    v = profile.volume
    ratio = v.anisotropy
    axis = _AXES[v.slice_axis]
    slices = [
        c.objects.slices.median
        for c in profile.foreground_classes
        if c.objects is not None and c.objects.slices is not None and c.objects.count
    ]
    span = min(slices) if slices else 0.0
    spacing = " x ".join(f"{s:g}" for s in v.median_spacing_mm)
    if span and span <= FEW_SLICES:
        advice = (
            f"objects span a median {span:.0f} slice(s) along {axis}: train on 2-D in-plane slices (or "
            f"patches of 1-{FEW_SLICES} slices), where a 3-D kernel adds little"
        )
    else:
        advice = (
            f"use in-plane patches: fewer voxels along {axis} than in-plane (about 1/{ratio:.0f} of the "
            "in-plane side in physical size), or a 2-D network on in-plane slices as a comparison"
        )
    trace = threshold_trace(
        rule,
        question,
        f"anisotropy (median spacing {spacing} mm)",
        ratio,
        thresholds["anisotropy"],
        when_fired=f"Anisotropic ({ratio:.1f}:1, through-plane axis {axis}): {advice}.",
        otherwise=f"Spacing ratio {ratio:.1f}:1: cubic 3-D patches are fine.",
        reference=reference,
        strict=True,
    )
    if not trace.fired:
        return RuleOutcome(trace=trace)
    return RuleOutcome(
        trace=trace, warnings=(f"The voxel grid is anisotropic ({ratio:.1f}:1 along {axis}): {advice}.",)
    )


def framework_defaults_trace(profile: DatasetProfile, top: str, fired: list[str]) -> RuleTrace:
    """What nnU-Net and MONAI Auto3DSeg would train with, and whether (and why) this advice differs.

    ``fired``: the names of the rules that fired; ``top``: the first candidate. Listed as fired when the
    first choice is not Dice + CE, the frameworks' shared default.
    """
    differs = top != "dice_ce"
    because = ", ".join(fired) if fired else "no rule"
    conclusion = (
        f"First choice {top}, not the frameworks' Dice + CE, because of: {because}. Confirm it with tune: "
        "the verdict compares it with the others on the same volumes."
        if differs
        else f"First choice dice_ce agrees with nnU-Net and Auto3DSeg's DiceCE (rules that shaped it: "
        f"{because})."
    )
    return RuleTrace(
        rule="rule_framework_defaults",
        question="Does the advice differ from nnU-Net (Dice + CE, a third of patches on foreground) and "
        "MONAI Auto3DSeg (DiceCE / DiceFocal)?",
        measured_name=f"first choice ({top})",
        measured=None,
        threshold=None,
        comparison="differs from dice_ce" if differs else "equals dice_ce",
        fired=differs,
        conclusion=conclusion,
        reference=f"{NNUNET_REFERENCE}; {MONAI_REFERENCE}.",
    )
