"""``result.json`` and ``samples.npz``: the final recommendation, its evidence, and sample predictions."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from lossadvisor import runfolder
from lossadvisor._run_records import (
    Confidence,
    ModelUsed,
    RankedConfig,
    Recommended,
    TrainingSetup,
    TuneOutcome,
    ValidationSet,
    Verdict,
    describe_recipe,
)
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
    jsonable_params,
)

logger = logging.getLogger(__name__)
# How the report's "What was validated" sentence names a preset; a MODULE:CALLABLE is shown as given.
METRIC_LABELS = {"iou": "foreground IoU", "dice": "foreground Dice", "recall": "foreground pixel recall"}
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


def finalist_ranking(finalists, verdict: Verdict, records: list[dict]) -> tuple[RankedConfig, ...]:
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
            RankedConfig(
                config_id=f.entry,
                label=f.label,
                source="finalist",
                loss=f.config.loss,
                params=jsonable_params(f.config.params),
                lr=f.config.lr,
                search_iou=f.search_value,
                mean_iou=mean,
                std_iou=float(ious.std(ddof=1)) if ious.size > 1 else 0.0 if ious.size else None,
                collapse_rate=float(np.mean(list(runs.collapsed.values()))) if runs.collapsed else None,
                failures=int(sum(runs.failed.values())),
                runs=int(ious.size),
                seeds=int(ious.size),
                score=mean,
                recommended=f.entry == verdict.recommended,
                extra={
                    "search_trial": f.search_trial,
                    "duration_s": float(sum(r.get("duration_s") or 0.0 for r in own)),
                },
            )
        )
    return tuple(sorted(rows, key=lambda r: -(r.mean_iou if r.mean_iou is not None else -1.0)))


def confidence_from_verdict(verdict: Verdict) -> Confidence:
    """The ``confidence`` block older readers expect: the verdict kind as level, the nearest rival's mean
    difference as margin (the interval only in older verdicts; the comparisons hold the probabilities)."""
    comparisons = [c for c in verdict.comparisons if c.mean_diff is not None]
    nearest = min(comparisons, key=lambda c: c.mean_diff, default=None)
    return Confidence(
        level=verdict.kind,
        margin=nearest.mean_diff if nearest else None,
        ci_low=nearest.ci_low if nearest else None,
        ci_high=nearest.ci_high if nearest else None,
        runner_up=nearest.against if nearest else None,
        explanation=verdict.explanation,
    )


def write_result(
    run_dir: Path,
    study,
    *,
    ranking: tuple[RankedConfig, ...],
    verdict: Verdict,
    diagnostics: tuple[RankedConfig, ...],
    records: list[dict],
    rec,
    training: dict,
    search: dict,
    ctx: RunContext,
    contexts: list[RunContext],
    finalist_trials: dict[str, int | None],
    model: ModelUsed | None = None,
    budget: dict | None = None,
) -> Path:
    """Write ``result.json`` (contract in docs/ARCHITECTURE.md) and ``samples.npz``; return the JSON's path.

    ``training`` holds the step counts and confirmation facts the phase knows (kept besides the declared
    fields of :class:`TrainingSetup`). ``agrees_with_rules`` says whether the trials confirmed the rules'
    first choice: the point of the study.
    """
    best = next((r for r in ranking if r.config_id == verdict.recommended), None)
    confirm_ctx = contexts[0] if contexts else ctx
    setup = _training_setup(confirm_ctx, training["steps_per_confirmation_run"], model, extra=training)
    outcome = TuneOutcome(
        recommended=(
            Recommended(
                loss=best.loss,
                params=best.params,
                lr=best.lr,
                label=best.label,
                config_id=best.config_id,
                mean_iou=best.mean_iou,
                std_iou=best.std_iou,
                collapse_rate=best.collapse_rate,
            )
            if best
            else None
        ),  # fmt: skip
        confidence=confidence_from_verdict(verdict),
        ranking=ranking,
        verdict=verdict,
        diagnostics=diagnostics,
        order=verdict.order,
        object_recall=object_recall_by_config(records),
        validation=_validation_set(contexts),
        model=model,
        training=setup,
        snippets=snippets(
            best.loss,
            best.params,
            best.lr,
            num_classes=ctx.num_classes,
            epochs_hint=10,
            validated=_validated(setup, best.lr),
            ema_decay=setup.recipe.get("ema_decay"),
        )
        if best
        else {},
        param_importances=_param_importances(study),
        search=runfolder.json_clean(search),
        rules_first_choice={"loss": rec.top.loss, "params": dict(rec.top.params)},
        agrees_with_rules=bool(best and best.loss == rec.top.loss),
        budget=runfolder.json_clean(budget or {}),
    )
    _write_sample_file(run_dir, ranking, verdict, ctx, finalist_trials)
    return outcome.save(run_dir / runfolder.RESULT_JSON)


def _training_setup(
    ctx: RunContext, total_steps: int, model: ModelUsed | None, *, extra: dict
) -> TrainingSetup:
    """What every run trained: the model and its size, optimiser, schedule, steps and tile size."""
    from lossadvisor.tune.training import WEIGHT_DECAY

    name = model.name if model is not None else ""
    scored = "of the weights' moving average " if ctx.recipe.ema_decay is not None else ""
    return TrainingSetup(
        steps_per_run=total_steps,
        objective=f"search: validation {METRIC_LABELS[ctx.objective]} {scored}(best epoch) on one stratified "
        f"split; confirmation: final-epoch {METRIC_LABELS[ctx.objective]} {scored}pooled over each fold's "
        "validation tiles, paired across finalists",
        scored_metric=ctx.objective,
        model=MODEL_LABELS.get(name, name or "model"),
        parameters=model.parameters if model is not None else None,
        optimizer="AdamW",
        weight_decay=WEIGHT_DECAY,
        warmup_steps=ctx.warmup_steps,
        batch_size=ctx.batch_size,
        tile_px=ctx.data.side,
        tile_mode=ctx.data.mode,
        recipe=ctx.recipe.to_dict(),
        extra=runfolder.json_clean(extra),
    )


def _validated(training: TrainingSetup, lr: float) -> str:
    return validated_setup(
        model=training.model,
        parameters=training.parameters,
        lr=lr,
        steps=training.steps_per_run,
        batch_size=training.batch_size,
        side=training.tile_px,
        crop=training.tile_mode == "crop",
        warmup_steps=training.warmup_steps,
        weight_decay=training.weight_decay,
        recipe=describe_recipe(training.recipe, crop=training.tile_mode == "crop"),
    )


def _validation_set(contexts: list[RunContext]) -> ValidationSet:
    """How much the confirmation's scores rest on: validation tiles over all folds (every tile once), and
    true objects per size bucket (recall's base)."""
    tally = ObjectRecallTally.for_data(contexts[0].data) if contexts else ObjectRecallTally()
    tiles = 0
    for ctx in contexts:
        tiles += len(ctx.data.val_masks)
        spacings = ctx.data.val_spacing or [None] * len(ctx.data.val_masks)
        for mask, spacing in zip(ctx.data.val_masks, spacings, strict=True):
            tally.add(mask, mask, num_classes=ctx.num_classes, spacing=spacing)
    volumes = bool(contexts) and contexts[0].data.patch is not None
    spacings = [s for ctx in contexts for s in ctx.data.val_spacing or []]
    return ValidationSet(
        tiles=int(tiles),
        objects={bucket: int(n) for bucket, n in tally.total.items()},
        object_found_overlap=OBJECT_FOUND_OVERLAP,
        size_unit="mm³" if volumes else "px",
        spacing=spacing_summary(spacings) if volumes else None,
    )


ANISOTROPY_THRESHOLD = 3.0  # nnU-Net treats a volume as anisotropic when its spacings differ more than 3x


def spacing_summary(spacings: list) -> dict:
    """Voxel spacing per axis (D, H, W) over the validated volumes (each volume once), and anisotropy.

    Example:
        >>> s = spacing_summary([(5.0, 0.8, 0.8), (1.0, 1.0, 1.0)])
        >>> s["median_mm"], s["anisotropic_volumes"], s["max_anisotropy"]
        ([3.0, 0.9, 0.9], 1, 6.25)
    """
    array = np.asarray(spacings, dtype=float).reshape(-1, 3)
    ratio = array.max(axis=1) / np.maximum(array.min(axis=1), 1e-12)
    return {
        "axes": ["D", "H", "W"],
        "volumes": int(len(array)),
        "median_mm": [round(float(v), 4) for v in np.median(array, axis=0)],
        "min_mm": [round(float(v), 4) for v in array.min(axis=0)],
        "max_mm": [round(float(v), 4) for v in array.max(axis=0)],
        "median_anisotropy": round(float(np.median(ratio)), 3),
        "max_anisotropy": round(float(ratio.max()), 3),
        "anisotropic_volumes": int((ratio > ANISOTROPY_THRESHOLD).sum()),
        "anisotropy_threshold": ANISOTROPY_THRESHOLD,
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
    ranking: tuple[RankedConfig, ...],
    verdict: Verdict,
    ctx: RunContext,
    finalist_trials: dict[str, int | None],
) -> None:
    """Sample overlays of finalists only (the recommended one, the best CE and the best Dice-family finalist),
    from their search trials on the search split's validation tiles. Diagnostics never appear here."""
    chosen: dict[str, str] = {}
    recommended = next((r for r in ranking if r.config_id == verdict.recommended), None)
    if recommended:
        chosen[recommended.config_id] = "recommended: " + recommended.label
    for test, what in ((lambda loss: loss == "ce", "best CE"), (lambda loss: "dice" in loss, "best Dice")):
        entry = next((r for r in ranking if test(r.loss)), None)
        if entry and entry.config_id not in chosen:
            chosen[entry.config_id] = f"{what}: {entry.label}"
    predictions = {}
    for cid in chosen:
        number = finalist_trials.get(cid)
        loaded = ctx.load_predictions(f"trial{number}") if number is not None else None
        if loaded is not None:
            predictions[cid] = loaded
    idx = ctx.sample_indices
    captions = None
    if ctx.data.patch is not None:  # volumes: slices through the largest and smallest lesion
        from lossadvisor.tune.training import sample_views, stack_slices

        views = sample_views(ctx.data, idx)
        images = stack_slices({v.volume: ctx.data.val_images[v.volume] for v in views}, views)
        masks = stack_slices({v.volume: ctx.data.val_masks[v.volume] for v in views}, views)
        captions = [v.caption for v in views]
    else:
        images, masks = ctx.data.val_images[idx], ctx.data.val_masks[idx]
    write_samples(
        run_dir / runfolder.SAMPLES_NPZ,
        images=display_rgb(images),
        masks=masks,
        predictions=predictions,
        labels={cid: chosen[cid] for cid in predictions},
        captions=captions,
    )
