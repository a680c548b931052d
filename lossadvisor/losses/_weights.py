"""Class weights and BCE positive weights from class pixel frequencies (numpy only, no torch).

Three classic schemes, all computed from the dataset profile:

* ``"inverse"``: ``w_c ∝ 1 / f_c`` (inverse class frequency);
* ``"sqrt_inverse"``: ``w_c ∝ 1 / sqrt(f_c)``, a softer version often preferred under extreme imbalance;
* ``"median"``: median frequency balancing, ``w_c = median(f') / f'_c`` where ``f'_c`` is the class's share of
  the pixels *of the images that contain it* (Eigen & Fergus 2015, ICCV). It differs from ``"inverse"`` only
  through that presence correction, so it needs the share of images where each class occurs.

**Normalisation.** Class weights are scaled so that their pixel-frequency-weighted mean is 1:
``sum_c f_c * w_c == 1``. The average training pixel therefore keeps weight 1 and a weighted CE stays on the
scale of plain CE, so the learning-rate ranges found for CE still apply. Classes with ``f_c == 0`` cannot be
weighed; they get the upper clip (they never occur, so the choice has no effect on training).

**Clipping.** Weights are kept inside ``clip`` (default ``DEFAULT_CLIP``). Unbounded inverse weights give a
class at 0.1 % of the pixels a thousand times the weight of background; the network then paints it everywhere
(an all-foreground collapse). ENet (Paszke et al. 2016) bounds its class weights for the same reason. Clipping
and the normalisation hold together: the scale is solved so that the *clipped* weights have mean 1.

``pos_weight_from_frequency`` returns the ratio ``w_fg / w_bg`` that ``torch.nn.BCEWithLogitsLoss`` and
``weighted_ce`` take as ``pos_weight`` (background keeps weight 1), clipped to ``DEFAULT_POS_WEIGHT_CLIP``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from lossadvisor.errors import ConfigError

if TYPE_CHECKING:
    from lossadvisor.profile import DatasetProfile

WEIGHT_METHODS = ("inverse", "median", "sqrt_inverse")
DEFAULT_CLIP = (0.05, 20.0)  # class weights: at most 20x the average pixel, at least 1/20 of it
DEFAULT_POS_WEIGHT_CLIP = (0.05, 20.0)  # foreground at most 20x a background pixel (ENet bounds at 50)
_SCALE_BISECTION_STEPS = 200


def class_weights_from_frequencies(
    freqs: Sequence[float] | np.ndarray,
    *,
    method: str = "inverse",
    clip: tuple[float, float] = DEFAULT_CLIP,
    presence: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """Class weights with ``sum(f * w) == 1``, each inside ``clip``.

    Args:
        freqs: pixel frequency of each class (non-negative, summing to 1 within 1e-3).
        method: ``"inverse"``, ``"median"`` or ``"sqrt_inverse"`` (see the module docstring).
        clip: ``(low, high)`` bounds on the final weights, with ``0 < low <= 1 <= high``.
        presence: share of images that contain each class; ``"median"`` uses it to turn dataset frequencies
            into per-present-image frequencies (all ones, i.e. no correction, when omitted).

    Returns:
        A float64 array of weights, one per class.

    Raises:
        ConfigError: an unknown method, frequencies that are not a distribution, or a bad clip.

    Example:
        >>> class_weights_from_frequencies([0.9, 0.1]).round(3).tolist()
        [0.556, 5.0]
    """
    f = _check_frequencies(freqs)
    low, high = _check_clip(clip, "clip")
    if method not in WEIGHT_METHODS:
        valid = ", ".join(WEIGHT_METHODS)
        raise ConfigError(f"The 'method' parameter must be one of {valid}. Got {method!r} instead.")
    present = f > 0
    raw = np.full_like(f, np.nan)
    if method == "inverse":
        raw[present] = 1.0 / f[present]
    elif method == "sqrt_inverse":
        raw[present] = 1.0 / np.sqrt(f[present])
    else:
        share = np.ones_like(f) if presence is None else np.asarray(presence, dtype=np.float64)
        if share.shape != f.shape or np.any(share[present] <= 0) or np.any(share > 1):
            raise ConfigError(
                f"The 'presence' parameter must give a share in (0, 1] per present class ({f.size} classes). "
                f"Got {presence!r} instead."
            )
        per_present = f[present] / share[present]
        raw[present] = np.median(per_present) / per_present
    weights = np.full_like(f, high)
    weights[present] = _scale_into(raw[present], f[present], low, high)
    return weights


def pos_weight_from_frequency(
    fg_freq: float,
    *,
    method: str = "inverse",
    clip: tuple[float, float] = DEFAULT_POS_WEIGHT_CLIP,
    presence: float | None = None,
) -> float:
    """BCE ``pos_weight`` (foreground weight over background weight) for a foreground pixel frequency.

    Args:
        fg_freq: foreground pixel frequency, in (0, 1).
        method: as in :func:`class_weights_from_frequencies`.
        clip: bounds on the returned ratio.
        presence: share of images with foreground (``"median"`` only; background is taken as always present).

    Example:
        >>> pos_weight_from_frequency(0.2)
        4.0
    """
    if isinstance(fg_freq, bool) or not isinstance(fg_freq, (int, float, np.floating)) or not 0 < fg_freq < 1:
        raise ConfigError(
            f"The 'fg_freq' parameter must be a foreground frequency in (0, 1). Got {fg_freq!r} instead. "
            "A dataset without foreground (or without background) has nothing to weigh."
        )
    low, high = _check_clip(clip, "clip", need_one=False)
    shares = None if presence is None else [1.0, presence]
    raw = class_weights_from_frequencies(
        [1.0 - fg_freq, fg_freq], method=method, clip=(1e-12, 1e12), presence=shares
    )
    return float(np.clip(raw[1] / raw[0], low, high))


def class_weights_from_profile(
    profile: DatasetProfile,
    *,
    method: str = "inverse",
    clip: tuple[float, float] = DEFAULT_CLIP,
) -> np.ndarray:
    """Class weights for ``weighted_ce`` read from a :class:`~lossadvisor.profile.DatasetProfile`.

    Uses each class's ``pixel_frequency`` (and ``1 - absent_share`` as its presence for ``"median"``), in the
    order of ``profile.classes``, i.e. the class index order of the training targets.
    """
    classes = sorted(profile.classes, key=lambda c: c.index)
    if not classes:
        raise ConfigError("The profile has no classes; re-create it with `lossadvisor profile MASKS`.")
    freqs = [c.pixel_frequency for c in classes]
    presence = [max(1.0 - c.absent_share, 0.0) for c in classes] if method == "median" else None
    if presence is not None:  # a class that never occurs cannot be corrected; keep it at 1 (it gets the clip)
        presence = [p if p > 0 else 1.0 for p in presence]
    return class_weights_from_frequencies(freqs, method=method, clip=clip, presence=presence)


def _scale_into(raw: np.ndarray, f: np.ndarray, low: float, high: float) -> np.ndarray:
    """Find ``s`` with ``sum(f * clip(s * raw, low, high)) == 1`` by bisection (monotone in ``s``), return the
    clipped weights. A solution exists because ``low <= 1 <= high`` and ``sum(f) == 1``."""
    total = float(np.sum(f))

    def mean_weight(scale: float) -> float:
        return float(np.sum(f * np.clip(scale * raw, low, high))) / total

    lo_s, hi_s = 0.0, 1.0
    while mean_weight(hi_s) < 1.0:
        hi_s *= 2.0
    for _ in range(_SCALE_BISECTION_STEPS):
        mid = 0.5 * (lo_s + hi_s)
        if mean_weight(mid) < 1.0:
            lo_s = mid
        else:
            hi_s = mid
    return np.clip(hi_s * raw, low, high)


def _check_frequencies(freqs: Sequence[float] | np.ndarray) -> np.ndarray:
    f = np.asarray(freqs, dtype=np.float64).ravel()
    if f.size < 2 or not np.all(np.isfinite(f)) or np.any(f < 0) or abs(float(f.sum()) - 1.0) > 1e-3:
        raise ConfigError(
            "The 'freqs' parameter must hold at least two non-negative class frequencies summing to 1. "
            f"Got {list(np.asarray(freqs).ravel())!r} instead."
        )
    return f / f.sum()


def _check_clip(clip: tuple[float, float], name: str, *, need_one: bool = True) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in clip)
    except (TypeError, ValueError):
        message = f"The {name!r} parameter must be a (low, high) pair. Got {clip!r} instead."
        raise ConfigError(message) from None
    ok = 0 < low <= high and (not need_one or low <= 1.0 <= high)
    if not ok:
        rule = "0 < low <= 1 <= high" if need_one else "0 < low <= high"
        raise ConfigError(f"The {name!r} parameter must satisfy {rule}. Got {clip!r} instead.")
    return low, high
