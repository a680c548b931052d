"""``result.json`` and ``samples.npz``: the final recommendation, its evidence, and sample predictions."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from lossadvisor import runfolder
from lossadvisor._run_records import TuneOutcome, Verdict
from lossadvisor.tune.outputs._outputs import (
    object_recall_by_config,
    snippets,
    validated_setup,
    write_samples,
)
from lossadvisor.tune.training import (
    OBJECT_FOUND_OVERLAP,
    ObjectRecallTally,
    RunContext,
    TrainingRecipe,
    jsonable_params,
)

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


def finalist_ranking(finalists, verdict: Verdict, records: list[dict]) -> list[dict]:
    """The finalists after confirmation, best mean IoU first, with their runs' statistics.

    ``score`` is the mean IoU over the paired runs (kept under that name for readers of older run folders).
    """
    from lossadvisor.tune.confirm import run_iou

    rows = []
    for f, runs in finalists:
        ious = np.array([run_iou(c) for c in runs.runs.values()]) if runs.runs else np.array([])
        own = [r for r in records if r["entry"] == f.entry]
        mean = float(ious.mean()) if ious.size else None
        rows.append(
            {
                "config_id": f.entry,
                "label": f.label,
                "source": "finalist",
                "loss": f.config.loss,
                "params": jsonable_params(f.config.params),
                "lr": f.config.lr,
                "search_iou": f.search_value,
                "search_trial": f.search_trial,
                "mean_iou": mean,
                "std_iou": float(ious.std(ddof=1)) if ious.size > 1 else 0.0 if ious.size else None,
                "collapse_rate": float(np.mean(list(runs.collapsed.values()))) if runs.collapsed else None,
                "failures": int(sum(runs.failed.values())),
                "runs": int(ious.size),
                "seeds": int(ious.size),
                "score": mean,
                "recommended": f.entry == verdict.recommended,
                "duration_s": float(sum(r.get("duration_s") or 0.0 for r in own)),
            }
        )
    return sorted(rows, key=lambda r: -(r["mean_iou"] if r["mean_iou"] is not None else -1.0))


def confidence_from_verdict(verdict: Verdict) -> dict:
    """The ``confidence`` block older readers expect: level "clear" or "tie", margin and interval."""
    comparisons = [c for c in verdict.comparisons if c.mean_diff is not None]
    nearest = min(comparisons, key=lambda c: c.mean_diff, default=None)
    return {
        "level": verdict.kind,
        "margin": nearest.mean_diff if nearest else None,
        "ci_low": nearest.ci_low if nearest else None,
        "ci_high": nearest.ci_high if nearest else None,
        "runner_up": nearest.against if nearest else None,
        "explanation": verdict.explanation,
    }


def write_result(
    run_dir: Path,
    study,
    *,
    ranking: list[dict],
    verdict: Verdict,
    diagnostics: list[dict],
    records: list[dict],
    rec,
    training: dict,
    search: dict,
    ctx: RunContext,
    contexts: list[RunContext],
    finalist_trials: dict[str, int | None],
    model: dict | None = None,
) -> Path:
    """Write ``result.json`` (contract in docs/ARCHITECTURE.md) and ``samples.npz``; return the JSON's path.

    ``agrees_with_rules`` says whether the trials confirmed the rules' first choice: the point of the study.
    """
    best = next((r for r in ranking if r["config_id"] == verdict.recommended), None)
    confirm_ctx = contexts[0] if contexts else ctx
    training = {
        **_training_setup(confirm_ctx, training["steps_per_confirmation_run"], model or {}),
        **training,
    }
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
        "verdict": verdict.to_dict(),
        "confidence": confidence_from_verdict(verdict),
        "ranking": ranking,
        "order": verdict.order.to_dict() if verdict.order is not None else None,
        "diagnostics": diagnostics,
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
            ema_decay=training["recipe"]["ema_decay"],
        )
        if best
        else {},
        "object_recall": object_recall_by_config(records),
        "validation": _validation_set(contexts),
        "model": model,
        "search": search,
        "training": training,
    }
    _write_sample_file(run_dir, ranking, verdict, ctx, finalist_trials)
    # Through the typed record: a field written with the wrong type fails here, in the tuner's tests, rather
    # than in a reader; keys the record does not declare are kept as they are.
    return TuneOutcome.from_dict(runfolder.json_clean(payload)).save(run_dir / runfolder.RESULT_JSON)


def _training_setup(ctx: RunContext, total_steps: int, model: dict) -> dict:
    """What every run trained: the model and its size, optimiser, schedule, steps and tile size."""
    from lossadvisor.tune.training import WEIGHT_DECAY

    scored = "of the weights' moving average " if ctx.recipe.ema_decay is not None else ""
    return {
        "steps_per_run": total_steps,
        "objective": f"search: validation foreground IoU {scored}(best epoch) on one stratified split; "
        f"confirmation: final-epoch foreground IoU {scored}pooled over each fold's validation tiles, paired "
        "across finalists",
        "model": MODEL_LABELS.get(model.get("name"), model.get("name") or "model"),
        "parameters": model.get("parameters"),
        "optimizer": "AdamW",
        "weight_decay": WEIGHT_DECAY,
        "warmup_steps": ctx.warmup_steps,
        "batch_size": ctx.batch_size,
        "tile_px": ctx.data.side,
        "tile_mode": ctx.data.mode,
        "recipe": ctx.recipe.to_dict(),
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
        recipe=TrainingRecipe.from_dict(training["recipe"]).describe(crop=training["tile_mode"] == "crop"),
    )


def _validation_set(contexts: list[RunContext]) -> dict:
    """How much the confirmation's scores rest on: validation tiles over all folds (every tile once), and
    true objects per size bucket (recall's base)."""
    tally = ObjectRecallTally(scale=contexts[0].data.scale if contexts else 1.0)
    tiles = 0
    for ctx in contexts:
        tiles += len(ctx.data.val_masks)
        for mask in ctx.data.val_masks:
            tally.add(mask, mask, num_classes=ctx.num_classes)
    return {
        "tiles": int(tiles),
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


def _write_sample_file(
    run_dir: Path,
    ranking: list[dict],
    verdict: Verdict,
    ctx: RunContext,
    finalist_trials: dict[str, int | None],
) -> None:
    """Sample overlays of finalists only (the recommended one, the best CE and the best Dice-family finalist),
    from their search trials on the search split's validation tiles. Diagnostics never appear here."""
    chosen: dict[str, str] = {}
    recommended = next((r for r in ranking if r["config_id"] == verdict.recommended), None)
    if recommended:
        chosen[recommended["config_id"]] = "recommended: " + recommended["label"]
    for test, what in ((lambda loss: loss == "ce", "best CE"), (lambda loss: "dice" in loss, "best Dice")):
        entry = next((r for r in ranking if test(r["loss"])), None)
        if entry and entry["config_id"] not in chosen:
            chosen[entry["config_id"]] = f"{what}: {entry['label']}"
    predictions = {}
    for cid in chosen:
        number = finalist_trials.get(cid)
        loaded = ctx.load_predictions(f"trial{number}") if number is not None else None
        if loaded is not None:
            predictions[cid] = loaded
    idx = ctx.sample_indices
    write_samples(
        run_dir / runfolder.SAMPLES_NPZ,
        images=display_rgb(ctx.data.val_images[idx]),
        masks=ctx.data.val_masks[idx],
        predictions=predictions,
        labels={cid: chosen[cid] for cid in predictions},
    )
