"""The reference each lossadvisor loss is timed against: MONAI's equivalent, plain torch, or Berman's Lovász.

Every reference is what a user would pick instead: the same loss with the same options. Both sides get the
same inputs, the logits and the ``(N, H, W)`` (volumes: ``(N, D, H, W)``) int64 class indices; the reference
turns the indices into its own format inside the timed call, as a user's loop must: a float mask
``(N, 1, H, W)`` for one sigmoid channel (``targets.unsqueeze(1).float()``), a free ``unsqueeze(1)`` view with
``to_onehot_y`` for a softmax.

With ``ignore_index`` the reference uses MONAI's own ``ignore_index`` where it has one (Dice, Tversky, focal,
unified focal), ``F.cross_entropy(ignore_index=...)`` for CE, the counted-pixel mask as the ``weight`` of
``F.binary_cross_entropy_with_logits``, boolean selection of the counted pixels for Lovász (as Berman et
al.'s code does), and for MONAI losses without the option (generalized Dice) the activation and the one-hot
targets multiplied by the counted-pixel mask, as a user would write it. For one sigmoid channel generalized
Dice scores both classes (its ``include_background=True``), so MONAI is given the two channels
``(1 - p, p)``: its sigmoid mode would score class 1 alone, a different loss.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Reference = Callable[[torch.Tensor], torch.Tensor]  # logits -> scalar loss (targets bound in)

IGNORE_VALUE = 255
FOCAL_TVERSKY_GAMMA = 0.75
POW_EPS = 1e-6
WARNS_PER_CALL = ("tversky", "focal_tversky", "unified_focal")  # MONAI warns on each call for some inputs


@dataclass(frozen=True)
class Case:
    """One benchmark input: logits ``(N, C, *spatial)``, raw targets, and the reference's target formats."""

    logits: torch.Tensor
    targets: torch.Tensor  # (N, *spatial) int64, IGNORE_VALUE where ignored (if ignored)
    ignore_index: int | None

    @property
    def channels(self) -> int:
        return self.logits.shape[1]

    @property
    def classes(self) -> int:
        return max(self.channels, 2)


def make_case(
    batch: int, channels: int, size: int, *, ignored: bool, device: str, seed: int = 1, dims: int = 2
) -> Case:
    """Random logits and targets of ``dims`` spatial axes of ``size`` each (images: 2, volumes: 3).

    With ``ignored`` about 10 % of the pixels are set to ``IGNORE_VALUE``.
    """
    g = torch.Generator().manual_seed(seed)
    spatial = (size,) * dims
    logits = torch.randn(batch, channels, *spatial, generator=g)
    targets = torch.randint(0, max(channels, 2), (batch, *spatial), generator=g)
    if ignored:
        targets[torch.rand(batch, *spatial, generator=g) < 0.1] = IGNORE_VALUE
    return Case(logits.to(device).requires_grad_(True), targets.to(device), IGNORE_VALUE if ignored else None)


def _monai(name: str, **kwargs: object) -> Callable[..., torch.Tensor]:
    import monai.losses

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(monai.losses, name)(**kwargs)


def _quiet(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """MONAI warns on every call for a single channel with ``ignore_index``; keep the output readable."""

    def call(*args: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args)

    return call


def reference(name: str, case: Case) -> tuple[str, Reference]:
    """``(label, fn)``: the reference for registry loss ``name`` on ``case``, with the benchmark's options."""
    label, fn = _reference(name, case)
    t = case.targets
    if name in WARNS_PER_CALL:
        return label, _quiet(lambda x: fn(x, t))
    return label, lambda x: fn(x, t)


def _reference(name: str, case: Case) -> tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """``(label, fn(logits, targets))`` where ``targets`` are the shared raw ``(N, H, W)`` indices."""
    sigmoid = case.channels == 1
    ii = case.ignore_index
    region = {"sigmoid": sigmoid, "softmax": not sigmoid, "to_onehot_y": not sigmoid, "batch": True}
    region_nobg = {**region, "include_background": sigmoid}  # our default scores the foreground only

    def monai_target(t: torch.Tensor) -> torch.Tensor:
        """MONAI's target format: a float mask for one sigmoid channel, else indices (a free view)."""
        return t.unsqueeze(1).float() if sigmoid else t.unsqueeze(1)

    if name in ("ce", "weighted_ce"):
        if sigmoid:
            bce = _bce(4.0 if name == "weighted_ce" else None, ii)
            label = "F.binary_cross_entropy_with_logits" + ("" if ii is None else "(weight=mask)")
            return label, lambda x, t: bce(x, t, t.float())
        weight = None
        if name == "weighted_ce":
            weight = torch.tensor([0.5] + [2.0] * (case.channels - 1), device=case.targets.device)
        kw = {} if ii is None else {"ignore_index": ii}
        return "F.cross_entropy", lambda x, t: F.cross_entropy(x, t, weight=weight, **kw)

    if name == "focal":
        fn = _monai("FocalLoss", gamma=2.0, use_softmax=not sigmoid, to_onehot_y=not sigmoid, ignore_index=ii)
        return "monai FocalLoss", lambda x, t: fn(x, monai_target(t))

    if name in ("dice", "tversky", "focal_tversky"):
        if name == "dice":
            fn = _monai("DiceLoss", smooth_nr=1.0, smooth_dr=1.0, ignore_index=ii, **region_nobg)
            return "monai DiceLoss", lambda x, t: fn(x, monai_target(t))
        tversky = _monai(
            "TverskyLoss", alpha=0.3, beta=0.7, smooth_nr=1.0, smooth_dr=1.0, ignore_index=ii,
            reduction="mean" if name == "tversky" else "none", **region_nobg,
        )  # fmt: skip
        if name == "tversky":
            return "monai TverskyLoss", lambda x, t: tversky(x, monai_target(t))
        return (
            "monai TverskyLoss(none) ** 0.75",
            lambda x, t: tversky(x, monai_target(t)).clamp_min(POW_EPS).pow(FOCAL_TVERSKY_GAMMA).mean(),
        )

    if name == "generalized_dice":
        if ii is None and not sigmoid:
            fn = _monai("GeneralizedDiceLoss", smooth_nr=1.0, smooth_dr=1.0, **region)
            return "monai GeneralizedDiceLoss", lambda x, t: fn(x, monai_target(t))
        fn = _monai("GeneralizedDiceLoss", smooth_nr=1.0, smooth_dr=1.0, batch=True)

        def gdl_masked(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            keep = (
                ((t != ii) if ii is not None else torch.ones_like(t, dtype=torch.bool)).unsqueeze(1).float()
            )
            if sigmoid:  # both classes are scored, as ours does (MONAI's sigmoid mode scores class 1 only)
                p, g = torch.sigmoid(x), monai_target(t) * keep
                probs, onehot = torch.cat([1.0 - p, p], dim=1) * keep, torch.cat([keep - g, g], dim=1)
            else:
                onehot = F.one_hot(torch.where(keep[:, 0] > 0, t, 0), case.classes).movedim(-1, 1) * keep
                probs = torch.softmax(x, dim=1) * keep
            return fn(probs, onehot)

        return "monai GeneralizedDiceLoss (" + ("two channels, " if sigmoid else "") + "masked)", gdl_masked

    if name in ("dice_ce", "dice_focal"):
        if ii is None:
            cls = "DiceCELoss" if name == "dice_ce" else "DiceFocalLoss"
            extra = {"gamma": 2.0} if name == "dice_focal" else {}
            fn = _monai(cls, smooth_nr=1.0, smooth_dr=1.0, **region_nobg, **extra)
            return f"monai {cls}", lambda x, t: fn(x, monai_target(t))
        dice = _monai("DiceLoss", smooth_nr=1.0, smooth_dr=1.0, ignore_index=ii, **region_nobg)
        if name == "dice_focal":
            focal = _monai(
                "FocalLoss", gamma=2.0, use_softmax=not sigmoid, to_onehot_y=not sigmoid, ignore_index=ii
            )

            def dice_focal(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                target = monai_target(t)
                return 0.5 * dice(x, target) + 0.5 * focal(x, target)

            return "monai DiceLoss + monai FocalLoss", dice_focal
        pixel_name, pixel = _reference("ce", case)
        bce = _bce(None, ii)

        def dice_ce(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            target = monai_target(t)
            return 0.5 * dice(x, target) + 0.5 * (bce(x, t, target[:, 0]) if sigmoid else pixel(x, t))

        return f"monai DiceLoss + {pixel_name}", dice_ce

    if name == "unified_focal":
        fn = _monai(
            "AsymmetricUnifiedFocalLoss", to_onehot_y=not sigmoid, num_classes=case.classes, weight=0.5,
            delta=0.6, gamma=0.5, ignore_index=ii,
        )  # fmt: skip
        label = "monai AsymmetricUnifiedFocalLoss"
        label += " (scores classes 0-1 only)" if case.classes > 2 else ""
        if sigmoid:
            return label, lambda x, t: fn(torch.sigmoid(x), monai_target(t))
        return label, lambda x, t: fn(torch.softmax(x, dim=1), monai_target(t))

    if name == "lovasz":
        if sigmoid:
            return "Berman lovasz_hinge (pure torch)", lambda x, t: lovasz_hinge_flat(*_flat(x[:, 0], t, ii))
        return "Berman lovasz_softmax (pure torch)", lambda x, t: lovasz_softmax_flat(
            *_flat_probas(torch.softmax(x, dim=1), t, ii)
        )
    raise KeyError(f"no reference for loss {name!r}")


def _bce(
    pos_weight: float | None, ignore_index: int | None
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """``fn(logits, raw targets, float targets)``: BCE-with-logits, the ignore mask as its ``weight``."""
    weight = None if pos_weight is None else torch.tensor(pos_weight)

    def bce(x: torch.Tensor, t: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pw = None if weight is None else weight.to(x.device)
        if ignore_index is None:
            return F.binary_cross_entropy_with_logits(x[:, 0], target, pos_weight=pw)
        keep = (t != ignore_index).float()
        total = F.binary_cross_entropy_with_logits(
            x[:, 0], target, weight=keep, pos_weight=pw, reduction="sum"
        )
        return total / keep.sum()

    return bce


# --- Berman, Rannen Triki & Blaschko (2018): github.com/bermanmaxim/LovaszSoftmax, pytorch/lovasz_losses.py
def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovász extension w.r.t. sorted errors (Berman et al., Alg. 1)."""
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.float().cumsum(0)
    union = gts + (1 - gt_sorted).float().cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def lovasz_hinge_flat(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary Lovász hinge over flattened pixels (``per_image=False``)."""
    if len(labels) == 0:
        return logits.sum() * 0.0
    signs = 2.0 * labels.float() - 1.0
    errors = 1.0 - logits * signs
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    grad = lovasz_grad(labels[perm])
    return torch.dot(F.relu(errors_sorted), grad)


def lovasz_softmax_flat(probas: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Multi-class Lovász-softmax over flattened pixels ``(P, C)``, averaged over present classes."""
    if probas.numel() == 0:
        return probas.sum() * 0.0
    losses = []
    for c in range(probas.size(1)):
        fg = (labels == c).float()
        if fg.sum() == 0:
            continue
        errors = (fg - probas[:, c]).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg[perm])))
    return torch.stack(losses).mean()


def _flat(
    scores: torch.Tensor, labels: torch.Tensor, ignore: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    scores, labels = scores.reshape(-1), labels.reshape(-1)
    if ignore is None:
        return scores, labels
    keep = labels != ignore
    return scores[keep], labels[keep]


def _flat_probas(
    probas: torch.Tensor, labels: torch.Tensor, ignore: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    c = probas.shape[1]
    probas = probas.movedim(1, -1).reshape(-1, c)  # (N, C, *spatial) -> (pixels, C), 2-D or 3-D
    labels = labels.reshape(-1)
    if ignore is None:
        return probas, labels
    keep = labels != ignore
    return probas[keep], labels[keep]
