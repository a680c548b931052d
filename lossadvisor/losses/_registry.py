"""The registry: every loss lossadvisor knows, its parameters, the ranges the tuner searches, and the paper.

The rules engine, the tuner and ``lossadvisor losses`` all read this one table, so a loss is added in one
place. Nothing here imports torch; :func:`build_loss` imports the loss class when it is called.

Why the tuned ranges are what they are:

* ``dice_ce.mix`` / ``dice_focal.mix`` in [0.1, 0.9]: the ends are plain CE (or focal) and plain Dice, which
  are candidates of their own; nnU-Net's fixed 0.5 sits in the middle (Isensee et al. 2021).
* ``focal.gamma`` in [1, 3]: Lin et al. (2017, Table 1a) found gamma = 2 best and results flat from 1 to 5;
  above 3 the loss ignores most pixels and training slows.
* ``tversky.beta`` in [0.5, 0.9]: Salehi et al. (2017) searched beta (the false-negative weight, alpha = 1 -
  beta) over 0.5..0.9 and found 0.7 best; beta < 0.5 punishes false positives more than Dice does, the
  opposite of what class imbalance needs.
* ``focal_tversky.gamma`` in [0.5, 3], log scale: our loss is ``(1 - TI) ** gamma``. Abraham & Khan (2019)
  write ``(1 - TI) ** (1 / g)`` with g in [1, 3] (best 4/3, i.e. our 0.75); exponents above 1 come from
  Yeung et al. (2022), who found both sides useful, so the range brackets 1 on a log scale.
* ``unified_focal.gamma`` in [0.1, 0.9] and ``delta`` in [0.5, 0.8]: the grid Yeung et al. (2022) searched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lossadvisor._messages import unknown_name_message
from lossadvisor.errors import ConfigError
from lossadvisor.losses._spec import LossSpec, ParamSpec

if TYPE_CHECKING:
    from torch import nn

_MODULE = "lossadvisor.losses"
MAX_WEIGHT = 1e6  # class / positive weights above this are a units mistake, not a choice

# --- parameters shared by several losses -------------------------------------------------------------------
IGNORE_INDEX = ParamSpec(
    "ignore_index",
    "int",
    None,
    nullable=True,
    help="Target value whose pixels take no part in any term, value or gradient (e.g. 255 on boundaries).",
)
PIXEL_REDUCTION = ParamSpec(
    "reduction",
    "choice",
    "mean",
    choices=("mean", "sum", "none"),
    help="'mean' over counted pixels, 'sum', or 'none' for the (N, H, W) map (0 at ignored pixels).",
)
REGION_REDUCTION = ParamSpec(
    "reduction",
    "choice",
    "mean",
    choices=("mean", "sum", "none"),
    help="'mean' or 'sum' over the scored (image, class) terms, or 'none' for the (B, K) matrix.",
)
POS_WEIGHT = ParamSpec(
    "pos_weight",
    "float",
    None,
    nullable=True,
    bounds=(1e-6, MAX_WEIGHT),
    help="Binary only: weight of foreground pixels relative to background (BCE's pos_weight).",
)
CLASS_WEIGHTS = ParamSpec(
    "class_weights",
    "floats",
    None,
    nullable=True,
    bounds=(0.0, MAX_WEIGHT),
    help="One weight per class (C entries; 2 for binary). See class_weights_from_profile.",
)
SMOOTH = ParamSpec(
    "smooth",
    "float",
    1.0,
    bounds=(1e-8, 1e3),
    help="Added to numerator and denominator; an absent class with predicted mass P scores 1 - s/(s + P).",
)
SQUARED = ParamSpec("squared", "bool", False, help="Square the denominator terms (V-Net, Milletari 2016).")
BATCH_DICE = ParamSpec(
    "batch_dice",
    "bool",
    True,
    help="Sum over the whole batch (nnU-Net's batch Dice) rather than score each image on its own.",
)
INCLUDE_BACKGROUND = ParamSpec(
    "include_background",
    "bool",
    False,
    help="Also score class 0 (binary: the 1 - p channel).",
)
LOG_DICE = ParamSpec("log_dice", "bool", False, help="Use -log(Dice) instead of 1 - Dice (Wong et al. 2018).")
MIX = ParamSpec(
    "mix",
    "float",
    0.5,
    bounds=(0.0, 1.0),
    low=0.1,
    high=0.9,
    tunable=True,
    help="Weight of the region term: mix * region + (1 - mix) * pixel term; 0 and 1 give the pure losses.",
)
FOCAL_GAMMA = ParamSpec(
    "gamma",
    "float",
    2.0,
    bounds=(0.0, 10.0),
    low=1.0,
    high=3.0,
    tunable=True,
    help="Focusing exponent: (1 - p_t) ** gamma down-weights well-classified pixels; 0 gives CE.",
)
FOCAL_ALPHA = ParamSpec(
    "alpha",
    "float",
    None,
    nullable=True,
    bounds=(0.0, 1.0),
    help="Binary only: weight alpha on foreground pixels and 1 - alpha on background (Lin et al. 2017).",
)
TVERSKY_ALPHA = ParamSpec(
    "alpha",
    "float",
    None,
    nullable=True,
    bounds=(0.0, 1.0),
    help="Weight of FALSE POSITIVES (default 1 - beta). Papers swap alpha and beta: check before copying.",
)
TVERSKY_BETA = ParamSpec(
    "beta",
    "float",
    0.7,
    bounds=(0.0, 1.0),
    low=0.5,
    high=0.9,
    tunable=True,
    help="Weight of FALSE NEGATIVES; above 0.5 favours recall of small structures (Salehi et al. 2017).",
)

_DICE_OPTIONS = (SMOOTH, SQUARED, BATCH_DICE, INCLUDE_BACKGROUND, LOG_DICE)
_REGION_SHAPE = (SMOOTH, BATCH_DICE, INCLUDE_BACKGROUND)

LOSSES: dict[str, LossSpec] = {
    spec.name: spec
    for spec in (
        LossSpec(
            "ce",
            "distribution",
            True,
            True,
            (IGNORE_INDEX, PIXEL_REDUCTION),
            "Cross-entropy (BCE for one sigmoid channel): the baseline when classes are balanced.",
            "Standard maximum likelihood; see Goodfellow et al., Deep Learning, 2016, ch. 6.2.2.",
            f"{_MODULE}._distribution:CELoss",
        ),
        LossSpec(
            "weighted_ce",
            "distribution",
            True,
            True,
            (POS_WEIGHT, CLASS_WEIGHTS, IGNORE_INDEX, PIXEL_REDUCTION),
            "Cross-entropy with a positive weight or class weights, e.g. from the dataset profile.",
            "Ronneberger et al. 2015 (U-Net weight maps); Eigen & Fergus 2015 (median frequency balancing).",
            f"{_MODULE}._distribution:WeightedCELoss",
        ),
        LossSpec(
            "focal",
            "distribution",
            True,
            True,
            (FOCAL_GAMMA, FOCAL_ALPHA, CLASS_WEIGHTS, IGNORE_INDEX, PIXEL_REDUCTION),
            "Focal loss: CE scaled by (1 - p_t) ** gamma, so easy background pixels stop dominating.",
            "Lin et al. 2017, Focal Loss for Dense Object Detection (ICCV).",
            f"{_MODULE}._distribution:FocalLoss",
        ),
        LossSpec(
            "dice",
            "region",
            True,
            True,
            (*_DICE_OPTIONS, CLASS_WEIGHTS, IGNORE_INDEX, REGION_REDUCTION),
            "Soft Dice (Sorensen; optional V-Net squared form, log-Dice); unstable on tiny objects.",
            "Milletari et al. 2016, V-Net (3DV); Sudre et al. 2017 (soft Dice, Sorensen form).",
            f"{_MODULE}._region:DiceLoss",
        ),
        LossSpec(
            "tversky",
            "region",
            True,
            True,
            (TVERSKY_ALPHA, TVERSKY_BETA, *_REGION_SHAPE, CLASS_WEIGHTS, IGNORE_INDEX, REGION_REDUCTION),
            "Tversky loss: Dice with separate weights on false positives (alpha) and false negatives (beta).",
            "Salehi et al. 2017, Tversky loss function for image segmentation (MLMI).",
            f"{_MODULE}._region:TverskyLoss",
        ),
        LossSpec(
            "focal_tversky",
            "region",
            True,
            True,
            (
                TVERSKY_ALPHA,
                TVERSKY_BETA,
                ParamSpec(
                    "gamma",
                    "float",
                    0.75,
                    bounds=(0.1, 5.0),
                    low=0.5,
                    high=3.0,
                    log=True,
                    tunable=True,
                    help="Exponent of (1 - Tversky index); 0.75 is Abraham & Khan's 1/g with g = 4/3.",
                ),
                *_REGION_SHAPE,
                CLASS_WEIGHTS,
                IGNORE_INDEX,
                REGION_REDUCTION,
            ),
            "Focal Tversky: (1 - Tversky index) ** gamma, for small lesions under severe imbalance.",
            "Abraham & Khan 2019, A novel focal Tversky loss function ... for lesion segmentation (ISBI).",
            f"{_MODULE}._region:FocalTverskyLoss",
        ),
        LossSpec(
            "generalized_dice",
            "region",
            True,
            True,
            (
                ParamSpec(
                    "weight_type",
                    "choice",
                    "square",
                    choices=("square", "simple", "uniform"),
                    help="Weight 1/G^2 (Sudre), 1/G or 1; an absent class gets the largest present one.",
                ),
                SMOOTH,
                BATCH_DICE,
                ParamSpec("include_background", "bool", True, help=INCLUDE_BACKGROUND.help),
                IGNORE_INDEX,
                ParamSpec(
                    "reduction",
                    "choice",
                    "mean",
                    choices=("mean", "sum", "none"),
                    help="'mean' or 'sum' over images (one term if batch_dice); 'none': the (B,) vector.",
                ),
            ),
            "Generalized Dice: classes weighted by inverse squared volume so rare classes count.",
            "Sudre et al. 2017, Generalised Dice overlap as a deep learning loss function (DLMIA).",
            f"{_MODULE}._region:GeneralizedDiceLoss",
        ),
        LossSpec(
            "lovasz",
            "region",
            True,
            True,
            (
                ParamSpec("per_image", "bool", False, help="Compute the loss per image and average."),
                ParamSpec(
                    "classes",
                    "choice",
                    "present",
                    choices=("present", "all"),
                    help="Multi-class: average over classes present in the target, or all classes.",
                ),
                IGNORE_INDEX,
            ),
            "Lovasz hinge (one sigmoid channel) / Lovasz-softmax: a convex surrogate of the Jaccard index.",
            "Berman et al. 2018, The Lovasz-Softmax loss (CVPR).",
            f"{_MODULE}._lovasz:LovaszLoss",
        ),
        LossSpec(
            "dice_ce",
            "compound",
            True,
            True,
            (MIX, *_DICE_OPTIONS, POS_WEIGHT, CLASS_WEIGHTS, IGNORE_INDEX),
            "mix * Dice + (1 - mix) * CE: Dice's overlap target, CE's steady gradients (nnU-Net default).",
            "Isensee et al. 2021, nnU-Net (Nature Methods); Taghanaki et al. 2019, Combo loss.",
            f"{_MODULE}._compound:DiceCELoss",
        ),
        LossSpec(
            "dice_focal",
            "compound",
            True,
            True,
            (MIX, FOCAL_GAMMA, FOCAL_ALPHA, *_DICE_OPTIONS, CLASS_WEIGHTS, IGNORE_INDEX),
            "mix * Dice + (1 - mix) * focal: for imbalance where CE's easy background still dominates.",
            "Zhu et al. 2019, AnatomyNet (Medical Physics); Lin et al. 2017 (focal).",
            f"{_MODULE}._compound:DiceFocalLoss",
        ),
        LossSpec(
            "unified_focal",
            "compound",
            True,
            True,
            (
                ParamSpec(
                    "weight",
                    "float",
                    0.5,
                    bounds=(0.0, 1.0),
                    help="lambda: weight of the asymmetric focal term; 1 - lambda to the focal Tversky term.",
                ),
                ParamSpec(
                    "delta",
                    "float",
                    0.6,
                    bounds=(0.0, 1.0),
                    low=0.5,
                    high=0.8,
                    tunable=True,
                    help="Weight of rare-class errors: Tversky false negatives and rare-class CE.",
                ),
                ParamSpec(
                    "gamma",
                    "float",
                    0.5,
                    bounds=(0.0, 0.99),
                    low=0.1,
                    high=0.9,
                    tunable=True,
                    help="Focal strength: background CE times (1-p)^gamma; rare Tversky to power 1-gamma.",
                ),
                SMOOTH,
                IGNORE_INDEX,
            ),
            "Asymmetric unified focal: focal CE + focal Tversky that favour rare classes.",
            "Yeung et al. 2022, Unified Focal loss (Computerized Medical Imaging and Graphics).",
            f"{_MODULE}._compound:UnifiedFocalLoss",
        ),
    )
}


def list_losses() -> list[str]:
    """Registry names in display order (distribution, region, compound)."""
    return list(LOSSES)


def get_spec(name: str) -> LossSpec:
    """The :class:`LossSpec` of a registry name.

    Raises:
        ConfigError: unknown name; the message lists the valid names and the closest match.

    Example:
        >>> get_spec("dice_ce").param("mix").high
        0.9
    """
    if not isinstance(name, str) or name not in LOSSES:
        raise ConfigError(unknown_name_message("loss", name, list(LOSSES)))
    return LOSSES[name]


def build_loss(name: str, /, **params: Any) -> nn.Module:
    """Build the loss module called ``name`` with keyword parameters checked against the registry.

    Args:
        name: a registry name (``lossadvisor losses`` lists them).
        **params: constructor parameters; unknown names and out-of-domain values fail before torch is used.

    Returns:
        A ``torch.nn.Module`` taking ``(logits (N, C, *spatial), targets (N, *spatial) int64)``, 2-D or 3-D.

    Raises:
        ConfigError: unknown loss or parameter (with a did-you-mean), or a value outside its domain.

    Example:
        >>> loss_fn = build_loss("dice_ce", mix=0.3, ignore_index=255)
    """
    spec = get_spec(name)
    checked = spec.validate(params)
    return spec.load_class()(**checked)


def validate_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Check a loss class's constructor arguments against its registry entry (shared by every class)."""
    return get_spec(name).validate(options)
