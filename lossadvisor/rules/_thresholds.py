"""The thresholds the rules compare the profile against: named defaults, their valid domains, and checks.

Every number a rule decides with lives here, as a named constant with a comment saying where its value comes
from, so that a reviewer reads the whole decision surface in one screen and a user can override any of it
(``recommend(profile, thresholds={...})`` or ``lossadvisor advise --rules-config FILE``). The thresholds in
force are saved in ``recommendation.json`` next to the trace, so a recommendation can always be reproduced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from lossadvisor._messages import unknown_name_message
from lossadvisor.errors import ConfigError

# --- class imbalance ----------------------------------------------------------------------------------------
# Google's Machine Learning Crash Course ("Datasets: Class-imbalanced datasets") names a minority class of
# 20-40 % "mild", 1-20 % "moderate" and under 1 % "extreme"; "extreme" here is under 1 % as there. The other
# two bounds are placed by measured outcomes (issue 21; docs/EVIDENCE.md, `python -m benchmarks rules`: the
# tool's recipe at 3x a confirmation run's steps, 3 seeds, learning rate swept):
# - Moderate from 40 % down (was 20 %). At a 30 % minority (rows `buildings-grown` 29.9 %, `nuclei-grown`
#   30.1 %) weighted CE with square-root weights was within the seed noise of the best IoU on both (0.517
#   against 0.539, and 0.891 against 0.894), while plain CE first cost 0.050 IoU on `buildings-grown`, outside
#   the noise (0.029). No row lies between 30 % and 40 %; at 40 % the square-root weight is sqrt(1.5) = 1.22,
#   within a quarter of plain CE, so Google's upper mild bound is where weighting stops mattering.
# - Severe from 10 % down (was 5 %). At 7.2-7.7 % (rows `buildings-outline`, `nuclei-outline`,
#   `hippocampus-dropped`) and 4.2 % (`hippocampus`) Tversky's IoU was within the seed noise of the best on
#   all four, and square-root weighted CE was outside it on two (0.016 and 0.019 below); at 14-18 % (rows
#   `buildings`, `nuclei`) weighted CE had the best IoU. The bound lies between 7.7 % and 14.2 %: 10 % (9:1).
MINORITY_SHARE_MODERATE = 0.40
MINORITY_SHARE_SEVERE = 0.10
MINORITY_SHARE_EXTREME = 0.01
# The same bands as majority:minority ratios of a binary task ((1 - s) / s for s = 40 %, 10 %, 1 %). Both must
# hold for a level, so a balanced ten-class task (every class near 10 %, ratio near 1) is not called
# imbalanced.
IMBALANCE_RATIO_MODERATE = 1.5
IMBALANCE_RATIO_SEVERE = 9.0
IMBALANCE_RATIO_EXTREME = 99.0
# Among foreground classes only: a class with under a quarter of the pixels of the most common foreground
# class is "rare" (a 4:1 bound, applied between foreground classes).
FOREGROUND_CLASS_RATIO = 4.0
# Clip for inverse-frequency weights. Over-weighted CE is known to collapse to all-foreground; 20 is the
# weight a 19:1 ratio needs, so weights are exact up to that ratio and clipped beyond it. Where
# IoU or Dice is scored the weights are the square roots of those (rules/_params.py; at most sqrt(19) = 4.4
# at a 19:1 ratio, so this clip only binds for --objective recall): the full weights cost IoU on rows
# `nuclei` and `hippocampus` of docs/EVIDENCE.md.
MAX_CLASS_WEIGHT = 20.0
# Where IoU or Dice is scored, the weights are the square roots of the inverse frequencies (rules/_params.py)
# and no class weighs more than this times the majority class. From the evidence table (docs/EVIDENCE.md):
# full inverse-frequency weights cost IoU against the square-root ones by 0.03-0.07 on rows `nuclei`,
# `hippocampus`, `nuclei-outline`, `hippocampus-dropped` and `nuclei-shrunk` and gained at most 0.022
# elsewhere (`buildings-grown`); the square roots stay under 5 up to a 25:1 ratio, so the cap binds only at
# severe imbalance, where weighted CE is no longer first.
# Recall ignores it (only MAX_CLASS_WEIGHT applies).
MAX_CLASS_WEIGHT_OVERLAP = 5.0

# --- empty masks, tiny objects, thin structures -------------------------------------------------------------
# With 10 % empty images, 1 - 0.9**8 = 57 % of batches of 8 hold at least one empty image, where per-image
# Dice is 0/0 (undefined) or all-or-nothing: most steps then carry such a term.
EMPTY_MASK_SHARE = 0.10
# One object in five under 8x8 px (the profile's "tiny" bucket): enough that a loss which neglects them shows
# in object recall. Checked against the evidence table (docs/EVIDENCE.md): plain Dice, which this rule ranks
# down, was within the seed noise of the best IoU on the rows with a tiny share of 0.09-0.11 (`hippocampus`,
# `hippocampus-dropped`) and behind by more than the noise on 5 of the 6 rows from 0.31 up; no row lies
# between 0.11 and 0.31, so the bound stays at 0.20 inside that gap.
TINY_OBJECT_SHARE = 0.20
# Most objects tiny: from here Dice + CE goes first (rule_tiny_objects). Placed by measured outcomes
# (docs/EVIDENCE.md): at a tiny share of 0.65 and 0.87 (rows `buildings-shrunk`, `nuclei-shrunk`: the same
# tiles at half the object size) Dice + CE was within the seed noise of the best IoU and square-root weighted
# CE, the moderate level's first, 0.058 and 0.018 below it, outside the noise; at 0.59 (row `nuclei`)
# weighted CE was the best and Dice + CE 0.024 below. The bound lies between 0.59 and 0.65: 0.62.
TINY_OBJECT_SHARE_DOMINANT = 0.62
# Share of objects whose equivalent diameter falls under 4 px after resizing to the training size (the
# profile's ScaleEffect). At 10 % the 10th percentile of object diameters has dropped under 4 px.
LOST_OBJECT_SHARE = 0.10
# Boundary pixels / foreground pixels. A line w px wide has a share of about 2/w, a disc of diameter d about
# 4/d, so 0.5 means structures about 4 px across: vessels, roads, cracks, membranes. Measured (rows
# `buildings-outline` 0.79 and `nuclei-outline` 0.67, 2-px rims of the objects): Lovász had the worst IoU of
# the eight losses on both (0.052 and 0.580 against 0.176 and 0.640), so the rule no longer promotes it;
# Tversky had the best IoU on `nuclei-outline` and one within the noise on `buildings-outline`. The other
# rows have boundary shares of 0.10-0.42, so the bound of 0.5 sits between the measured thin and thick rows.
THIN_BOUNDARY_SHARE = 0.50

# --- 3-D label volumes (relative to the training patch) ---------------------------------------------------
# One lesion in five under 1/1000 of the patch: the same "one object in five" judgement as TINY_OBJECT_SHARE.
SMALL_IN_PATCH_SHARE = 0.20
# A quarter of uniformly placed patches empty: with nnU-Net's 3-D batch of two, 1 - 0.75**2 = 44 % of batches
# then hold an empty patch, where per-patch Dice is 0/0.
EMPTY_PATCH_SHARE = 0.25
# nnU-Net's ANISO_THRESHOLD: largest / smallest spacing above 3 is anisotropic.
ANISOTROPY = 3.0
# Surface voxels (a face neighbour outside) / foreground voxels. Measured on discretised shapes
# (profile._volume.surface_voxels): tubes 3, 4, 5, 6 and 8 voxels across give 0.89, 0.68, 0.59, 0.52 and 0.41;
# spheres 6, 8 and 10 across 0.59, 0.51 and 0.44; the MSD hippocampus 0.43. So 0.65 means tubes about 4
# voxels across or thinner (vessels, airways) and no compact blob over about 5 voxels across, where the
# small-object rules already speak. (The 2-D bound 0.5 would call a 6-voxel tube and an 8-voxel sphere thin.)
THIN_SURFACE_SHARE = 0.65

# --- learning-rate ranges (AdamW) ---------------------------------------------------------------------------
# One range for every loss: wide enough for AdamW on a fresh U-Net (2.5 decades around Adam's default 1e-3,
# Kingma & Ba 2015, up to the 1e-2..3e-2 where short runs of plain Dice did best on thin cracks). Under Adam
# the size of a step does not follow the size of the gradient, so Dice's larger gradients (Milletari et al.
# 2016) do not call for a lower range: measured here, Dice + BCE trained best at about 3.6e-3 on building
# tiles and plain Dice at 1.5e-2 on cracks, both above the 1e-3 cap an earlier version gave Dice-family losses
# during calibration. The two pairs below stay separate so a rules config can still give Dice-family
# losses another range from evidence on its own data; by default they are equal.
LR_DISTRIBUTION_LOW = 1e-4
LR_DISTRIBUTION_HIGH = 3e-2
LR_REGION_LOW = LR_DISTRIBUTION_LOW
LR_REGION_HIGH = LR_DISTRIBUTION_HIGH


@dataclass(frozen=True)
class ThresholdSpec:
    """One overridable threshold: its default, the interval it must lie in, and what it means."""

    name: str
    default: float
    low: float
    high: float
    low_inclusive: bool
    help: str

    def check(self, value: Any) -> float:
        """Return ``value`` as a float, or raise :class:`ConfigError` naming the key, expected and got."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(
                f"The {self.name!r} threshold must be {self.expected()}. "
                f"Got {value!r} ({type(value).__name__}) instead."
            )
        number = float(value)
        below = number < self.low or (number == self.low and not self.low_inclusive)
        if not math.isfinite(number) or below or number > self.high:
            raise ConfigError(
                f"The {self.name!r} threshold must be {self.expected()}. Got {value!r} instead."
            )
        return number

    def expected(self) -> str:
        bracket = "[" if self.low_inclusive else "("
        high = "inf)" if math.isinf(self.high) else f"{self.high:g}]"
        return f"a number in {bracket}{self.low:g}, {high}"


_SHARE = (0.0, 1.0, False)
_RATIO = (1.0, math.inf, True)
_LR = (0.0, 1.0, False)

THRESHOLD_SPECS: tuple[ThresholdSpec, ...] = tuple(
    ThresholdSpec(name, default, *domain, help_text)
    for name, default, domain, help_text in (
        ("minority_share_moderate", MINORITY_SHARE_MODERATE, _SHARE, "minority share, moderate"),
        ("minority_share_severe", MINORITY_SHARE_SEVERE, _SHARE, "minority share, severe"),
        ("minority_share_extreme", MINORITY_SHARE_EXTREME, _SHARE, "minority share, extreme"),
        ("imbalance_ratio_moderate", IMBALANCE_RATIO_MODERATE, _RATIO, "majority:minority ratio, moderate"),
        ("imbalance_ratio_severe", IMBALANCE_RATIO_SEVERE, _RATIO, "majority:minority ratio, severe"),
        ("imbalance_ratio_extreme", IMBALANCE_RATIO_EXTREME, _RATIO, "majority:minority ratio, extreme"),
        ("foreground_class_ratio", FOREGROUND_CLASS_RATIO, _RATIO, "largest / rarest foreground class"),
        ("max_class_weight", MAX_CLASS_WEIGHT, _RATIO, "clip for class weights and pos_weight"),
        ("max_class_weight_overlap", MAX_CLASS_WEIGHT_OVERLAP, _RATIO, "IoU/Dice: weight cap (x background)"),
        ("empty_mask_share", EMPTY_MASK_SHARE, _SHARE, "share of images without foreground"),
        ("tiny_object_share", TINY_OBJECT_SHARE, _SHARE, "share of objects under 8x8 px"),
        ("tiny_object_share_dominant", TINY_OBJECT_SHARE_DOMINANT, _SHARE, "Dice + CE first"),
        ("lost_object_share", LOST_OBJECT_SHARE, _SHARE, "share of objects under 4 px across at train size"),
        ("thin_boundary_share", THIN_BOUNDARY_SHARE, _SHARE, "boundary pixels / foreground pixels"),
        ("small_in_patch_share", SMALL_IN_PATCH_SHARE, _SHARE, "3-D: lesions under 1/1000 of the patch"),
        ("empty_patch_share", EMPTY_PATCH_SHARE, _SHARE, "3-D: uniformly placed patches without foreground"),
        ("anisotropy", ANISOTROPY, _RATIO, "3-D: largest / smallest voxel spacing"),
        ("thin_surface_share", THIN_SURFACE_SHARE, _SHARE, "3-D: surface voxels / foreground voxels"),
        ("lr_distribution_low", LR_DISTRIBUTION_LOW, _LR, "lowest LR for CE, weighted CE, focal"),
        ("lr_distribution_high", LR_DISTRIBUTION_HIGH, _LR, "highest LR for CE, weighted CE, focal"),
        ("lr_region_low", LR_REGION_LOW, _LR, "lowest LR for Dice-family losses"),
        ("lr_region_high", LR_REGION_HIGH, _LR, "highest LR for Dice-family losses"),
    )
)  # fmt: skip
_SPECS = {spec.name: spec for spec in THRESHOLD_SPECS}

DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType({s.name: s.default for s in THRESHOLD_SPECS})
"""Every threshold name and its default (read-only; pass overrides to :func:`resolve_thresholds`)."""

# Pairs that must stay strictly ordered (first < second) whatever the user overrides.
_ORDERED_PAIRS: tuple[tuple[str, str], ...] = (
    ("minority_share_extreme", "minority_share_severe"),
    ("minority_share_severe", "minority_share_moderate"),
    ("imbalance_ratio_moderate", "imbalance_ratio_severe"),
    ("imbalance_ratio_severe", "imbalance_ratio_extreme"),
    ("tiny_object_share", "tiny_object_share_dominant"),
    ("lr_distribution_low", "lr_distribution_high"),
    ("lr_region_low", "lr_region_high"),
)


def resolve_thresholds(*overrides: Mapping[str, Any] | None) -> dict[str, float]:
    """Merge overrides (later ones win) onto :data:`DEFAULT_THRESHOLDS` and check every value.

    Args:
        *overrides: mappings of threshold name to number; ``None`` entries are skipped.

    Returns:
        A new dict holding every threshold.

    Raises:
        ConfigError: an unknown name (with a did-you-mean and the valid names), a value that is not a number
            or lies outside its domain, or bounds that are no longer ordered (e.g. severe above moderate).

    Example:
        >>> resolve_thresholds({"empty_mask_share": 0.2})["empty_mask_share"]
        0.2
    """
    merged = dict(DEFAULT_THRESHOLDS)
    for mapping in overrides:
        if mapping is None:
            continue
        if not isinstance(mapping, Mapping):
            raise ConfigError(
                f"thresholds must map threshold names to numbers. Got {type(mapping).__name__} instead."
            )
        for name, value in mapping.items():
            if name not in _SPECS:
                raise ConfigError(unknown_name_message("threshold", name, list(_SPECS)))
            merged[name] = _SPECS[name].check(value)
    for low_name, high_name in _ORDERED_PAIRS:
        if not merged[low_name] < merged[high_name]:
            raise ConfigError(
                f"The {low_name!r} threshold ({merged[low_name]:g}) must be below {high_name!r} "
                f"({merged[high_name]:g}); change one of them."
            )
    return merged
