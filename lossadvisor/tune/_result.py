"""``result.json`` and ``samples.npz``: the final recommendation, its evidence, and sample predictions."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from lossadvisor import runfolder
from lossadvisor.tune._metrics import OBJECT_FOUND_OVERLAP, ObjectRecallTally
from lossadvisor.tune._outputs import (
    object_recall_by_config,
    snippets,
    validated_setup,
    write_json,
    write_samples,
)
from lossadvisor.tune._search import RunContext

logger = logging.getLogger(__name__)
# How the report's "What was validated" sentence names a preset; a MODULE:CALLABLE is shown as given.
MODEL_LABELS = {"compact": "compact U-Net", "monai-unet": "MONAI UNet", "monai-segresnet": "MONAI SegResNet"}


def _param_importances(study) -> dict[str, float]:
    import optuna
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 3:
        return {}
    try:
        with warnings.catch_warnings():  # "few trials per regime" is expected in a short study
            warnings.simplefilter("ignore")
            return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError, ZeroDivisionError) as exc:
        logger.info("Parameter importances unavailable: %s", exc)
        return {}


def write_result(
    run_dir: Path,
    study,
    ranking: list[dict],
    conf: dict,
    records: list[dict],
    rec,
    total_steps: int,
    ctx: RunContext,
    *,
    model: dict | None = None,
) -> Path:
    """Write ``result.json`` (contract in docs/ARCHITECTURE.md) and ``samples.npz``; return the JSON's path.

    ``agrees_with_rules`` says whether the trials confirmed the rules' first choice: the point of the study.
    """
    best = ranking[0] if ranking else None
    training = _training_setup(ctx, total_steps, model or {})
    payload = {
        "recommended": (
            {k: best[k] for k in ("loss", "params", "lr", "label", "config_id")}
            | {
                "mean_iou": best["mean_iou"],
                "std_iou": best["std_iou"],
                "collapse_rate": best["collapse_rate"],
            }
            if best
            else None
        ),
        "confidence": conf,
        "ranking": ranking,
        "rules_first_choice": {"loss": rec.top.loss, "params": dict(rec.top.params)},
        "agrees_with_rules": bool(best and best["loss"] == rec.top.loss),
        "param_importances": _param_importances(study),
        "snippets": snippets(
            best["loss"],
            best["params"],
            best["lr"],
            num_classes=ctx.num_classes,
            epochs_hint=10,
            validated=_validated(training, best["lr"]),
        )
        if best
        else {},
        "object_recall": object_recall_by_config(records),
        "validation": _validation_set(ctx),
        "model": model,
        "training": training,
    }
    _write_sample_file(run_dir, ranking, ctx)
    return write_json(run_dir / runfolder.RESULT_JSON, payload)


def _training_setup(ctx: RunContext, total_steps: int, model: dict) -> dict:
    """What every run trained: the model and its size, optimiser, schedule, steps and tile size."""
    from lossadvisor.tune._train import WEIGHT_DECAY

    return {
        "steps_per_run": total_steps,
        "objective": "validation foreground IoU (best epoch) in the "
        "search; final-epoch IoU over seeds in the stability phase",
        "model": MODEL_LABELS.get(model.get("name"), model.get("name") or "model"),
        "parameters": model.get("parameters"),
        "optimizer": "AdamW",
        "weight_decay": WEIGHT_DECAY,
        "warmup_steps": ctx.warmup_steps,
        "batch_size": ctx.batch_size,
        "tile_px": ctx.data.side,
        "tile_mode": ctx.data.mode,
    }


def _validated(training: dict, lr: float) -> str:
    return validated_setup(
        model=training["model"],
        parameters=training["parameters"],
        lr=lr,
        steps=training["steps_per_run"],
        batch_size=training["batch_size"],
        side=training["tile_px"],
        crop=training["tile_mode"] == "crop",
        warmup_steps=training["warmup_steps"],
        weight_decay=training["weight_decay"],
    )


def _validation_set(ctx: RunContext) -> dict:
    """How much the validation scores rest on: tiles, and true objects per size bucket (recall's base)."""
    tally = ObjectRecallTally(scale=ctx.data.scale)
    for mask in ctx.data.val_masks:
        tally.add(mask, mask, num_classes=ctx.num_classes)
    return {
        "tiles": int(len(ctx.data.val_masks)),
        "objects": {bucket: int(n) for bucket, n in tally.total.items()},
        "object_found_overlap": OBJECT_FOUND_OVERLAP,
    }


def display_rgb(images: np.ndarray) -> np.ndarray:
    """``(n, H, W, C)`` tiles as ``(n, H, W, 3)`` uint8 for the report's overlays.

    RGB uint8 tiles are kept; one channel is repeated to grey; other data (multi-band stacks, float values
    from in-memory data) show their first three channels (or the first), each stretched between its 1st and
    99th percentile.
    """
    if images.dtype == np.uint8 and images.shape[-1] == 3:
        return images
    bands = images[..., :3] if images.shape[-1] >= 3 else images[..., :1]
    bands = bands.astype(np.float64)
    lo = np.percentile(bands, 1, axis=(0, 1, 2), keepdims=True)
    hi = np.percentile(bands, 99, axis=(0, 1, 2), keepdims=True)
    scaled = np.clip((bands - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
    rgb = np.round(scaled * 255).astype(np.uint8)
    return np.repeat(rgb, 3, axis=-1) if rgb.shape[-1] == 1 else rgb


def _write_sample_file(run_dir: Path, ranking: list[dict], ctx: RunContext) -> None:
    chosen: dict[str, str] = {}
    if ranking:
        chosen[ranking[0]["config_id"]] = "recommended: " + ranking[0]["label"]
    for loss, what in (("ce", "best CE"), ("dice", "best Dice")):
        entry = next((r for r in ranking if r["loss"] == loss), None)
        if entry and entry["config_id"] not in chosen:
            chosen[entry["config_id"]] = f"{what}: {entry['label']}"
    predictions = {
        cid: np.load(ctx.preds_dir / f"{cid}.npy")
        for cid in chosen
        if (ctx.preds_dir / f"{cid}.npy").is_file()
    }
    idx = ctx.sample_indices
    write_samples(
        run_dir / runfolder.SAMPLES_NPZ,
        images=display_rgb(ctx.data.val_images[idx]),
        masks=ctx.data.val_masks[idx],
        predictions=predictions,
        labels={cid: chosen[cid] for cid in predictions},
    )
