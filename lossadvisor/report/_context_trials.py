"""The tuning sections: trials, LR range test, seed stability and sample predictions.

Built from ``trials.csv``, ``epochs.csv``, ``lr_range_test.json``, ``stability.csv``, ``samples.npz`` and
``result.json`` only. While a study is still running these files hold a snapshot, which is said plainly.
"""

from __future__ import annotations

from typing import Any

from lossadvisor._run_records import RankedConfig, ValidationSet
from lossadvisor.losses import BOUNDED_LR_TEST_NOTE
from lossadvisor.report import _format as fmt
from lossadvisor.report import _plots_stability as stability_plots
from lossadvisor.report import _plots_trials as plots
from lossadvisor.report._load import (
    CONFIRMATION,
    EPOCHS,
    LR_RANGE_TEST,
    RESULT,
    SAMPLES,
    STABILITY,
    TRIALS,
    RunFolder,
)
from lossadvisor.report._table import Cell, Table
from lossadvisor.runfolder import SIZE_BUCKET_BOUNDS_MM3, SIZE_BUCKET_BOUNDS_PX, SIZE_BUCKETS, is_collapse

FINISHED_STATES = ("COMPLETE", "PRUNED", "FAIL")
ENDED = {"interrupted": "was interrupted", "failed": "failed"}  # run.json status -> how a sentence says it
# Optuna parameter names as a reader knows them (the tuner searches the LR as a position in its range).
PARAM_LABELS = {"lr_unit": "learning rate", "lr": "learning rate", "loss": "loss type"}
BOUNDED_LOSS_NOTE = (
    BOUNDED_LR_TEST_NOTE + " Tests marked suspect are shown for completeness; use the tuned learning rate."
)


def trials_section(run: RunFolder) -> dict[str, Any]:
    """Counts, best per loss, the plots users ask for, the full table and the pruned/failed trials."""
    section: dict[str, Any] = {"problems": run.problems_with(TRIALS, EPOCHS, RESULT), "plots": []}
    trials = run.trials
    if trials is None or trials.empty:
        section["missing"] = _no_trials_message(run)
        return section
    trials = trials.sort_values("number")
    counts = trials["state"].value_counts().to_dict()
    section["summary"] = (
        ", ".join(
            f"{counts[s]} {s.lower()}" for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING") if counts.get(s)
        )
        or f"{len(trials)} trials"
    )
    scored = plots.finished(trials)
    best = scored.loc[scored.groupby("loss")["value"].idxmax()] if len(scored) else scored
    section["best"] = Table(
        columns=["loss", "best IoU", "trial", "learning rate", "parameters", "trials of this loss"],
        rows=[
            [
                Cell(r.loss, "code"),
                fmt.num(r.value),
                str(int(r.number)),
                fmt.lr(r.lr),
                Cell(fmt.params(r.params), "code"),
                str(int((trials["loss"] == r.loss).sum())),
            ]
            for r in best.sort_values("value", ascending=False).itertuples()
        ],
        numeric=frozenset({1, 2, 3, 5}),
        id="best-per-loss",
    )
    if len(scored):
        section["plots"].append(plots.best_per_loss(trials))
    if trials["lr"].notna().any():
        searched = {}
        if run.recommendation is not None:
            searched = {e.loss: tuple(e.lr_range) for e in run.recommendation.search_space}
        section["plots"].append(plots.iou_vs_lr(trials, searched))
    if scored["mix"].notna().any():
        section["plots"].append(plots.iou_vs_mix(trials))
    else:
        section.setdefault("notes", []).append(
            "No trial varied the Dice/CE mix weight, so there is no mix plot."
        )
    if run.epochs is not None and len(best):
        section["plots"].append(
            plots.learning_curves(run.epochs, {r.loss: int(r.number) for r in best.itertuples()})
        )
    elif run.epochs is None:
        section.setdefault("notes", []).append("epochs.csv is missing, so no learning curves are drawn.")
    importances = {
        PARAM_LABELS.get(name, name): value
        for name, value in (run.result.param_importances if run.result else {}).items()
    }
    if importances:
        section["plots"].append(plots.param_importances(importances))
    else:
        section.setdefault("notes", []).append(
            "No parameter importances (result.json has none yet: they are computed when the study ends)."
        )
    section["table"] = _trial_table(_with_best_epoch_scores(trials, run.epochs))
    section["dropped"] = _dropped_table(trials)
    return section


def _no_trials_message(run: RunFolder) -> str:
    states = {k: v for k, v in (run.study_states or {}).items() if k in FINISHED_STATES and v}
    progress = ", ".join(f"{n} {s.lower()}" for s, n in states.items())
    if run.status == "running":
        if progress:
            return (
                f"The study is still running: study.db already holds {progress} trials; the tuner writes "
                "trials.csv when the search phase ends. Rebuild the report then."
            )
        return "The study is still running and no trial has finished yet; rebuild the report later."
    return (
        "No tuning trials: this run folder holds no trials.csv. Run `lossadvisor tune` to confirm the advice "
        "with short training trials."
    )


def _with_best_epoch_scores(trials: Any, epochs: Any) -> Any:
    """trials.csv with ``best_iou``/``best_dice`` filled from epochs.csv where an older tuner left them out.

    Both numbers of a row must come from one epoch (Dice is never below IoU for one prediction), so a missing
    value is taken from the same trial's best epoch in epochs.csv, never from another epoch.
    """
    trials = trials.copy()
    if epochs is None or epochs.empty or not trials[["best_iou", "best_dice"]].isna().any().any():
        return trials
    search = epochs[epochs["phase"].isin(["search", ""])].drop_duplicates(["trial", "epoch"], keep="last")
    scores = search.set_index(["trial", "epoch"])[["val_iou", "val_dice"]]
    for i, r in trials.iterrows():
        key = (r["number"], r["best_epoch"])
        if key in scores.index:
            for ours, theirs in (("best_iou", "val_iou"), ("best_dice", "val_dice")):
                if fmt.is_missing(r[ours]):
                    trials.at[i, ours] = scores.loc[key, theirs]
    return trials


def _trial_table(trials: Any) -> Table:
    rows = []
    for r in trials.itertuples():
        state = Cell(
            r.state.lower(), {"COMPLETE": "", "PRUNED": "muted", "FAIL": "bad"}.get(r.state, "muted")
        )
        collapse = Cell(r.collapse, "bad") if is_collapse(r.collapse) else Cell("no", "muted")
        epoch = (
            f"{fmt.num(r.best_epoch)} of {fmt.num(r.epochs_run)}"
            if not fmt.is_missing(r.best_epoch)
            else fmt.MISSING
        )
        rows.append(
            [
                str(int(r.number)),
                state,
                Cell(r.loss, "code"),
                fmt.lr(r.lr),
                fmt.num(r.mix),
                Cell(fmt.params(r.params), "code"),
                fmt.num(r.best_iou),
                fmt.num(r.best_dice),
                epoch,
                fmt.num(r.val_iou),
                collapse,
                fmt.num(r.grad_spikes),
                fmt.yes_no(r.nonfinite) if r.nonfinite else "no",
                fmt.duration(r.duration_s),
            ]
        )
    return Table(
        columns=[
            "#",
            "state",
            "loss",
            "lr",
            "mix",
            "parameters",
            "IoU",
            "Dice",
            "at epoch",
            "final IoU",
            "collapse",
            "grad spikes",
            "NaN/Inf",
            "time",
        ],
        rows=rows,
        numeric=frozenset({0, 3, 4, 6, 7, 8, 9, 11, 13}),
        optional=frozenset({1, 3, 4, 5, 8, 9, 10, 11, 12, 13}),
        id="trials-table",
        caption="IoU and Dice are both from the trial's best epoch (the search objective), shown as "
        "'at epoch'; final IoU is the last epoch's. Collapse: what the last validation predicted when it "
        "collapsed (all background or all foreground).",
    )


def _dropped_table(trials: Any) -> Table:
    rows = []
    for r in trials[trials["state"].isin(["PRUNED", "FAIL"])].itertuples():
        reason = r.fail_reason or (
            f"pruned after epoch {fmt.num(r.epochs_run)}: IoU {fmt.num(r.value)} was below the pruner's bar"
            if r.state == "PRUNED"
            else "no reason recorded"
        )
        rows.append([str(int(r.number)), r.state.lower(), Cell(r.loss, "code"), fmt.lr(r.lr), reason])
    return Table(
        columns=["#", "state", "loss", "lr", "why"], rows=rows, numeric=frozenset({0, 3}), id="dropped-trials"
    )


def lr_range_section(run: RunFolder) -> dict[str, Any]:
    """The LR range test curves, suggested LRs and the 'suspect for bounded losses' warning."""
    section: dict[str, Any] = {"problems": run.problems_with(LR_RANGE_TEST), "note": BOUNDED_LOSS_NOTE}
    tests = run.lr_range_tests
    if not tests:
        section["missing"] = "No LR range test in this run (lr_range_test.json is missing or empty)."
        return section
    section["table"] = Table(
        columns=["loss", "suggested LR", "method", "trust", "note"],
        rows=[
            [
                Cell(t.loss, "code"),
                fmt.lr(t.suggested_lr),
                t.method,
                Cell("suspect", "bad") if t.suspect else Cell("usable", "good"),
                t.note,
            ]
            for t in tests
        ],
        numeric=frozenset({1}),
    )
    if any(t.lrs and t.losses for t in tests):
        section["plot"] = plots.lr_range_tests(tests)
    return section


def stability_section(run: RunFolder) -> dict[str, Any]:
    """Every seed's IoU per configuration (a plot of the raw runs) and the object recall per size bucket.

    The aggregates (mean, spread, collapse rate, failures, score) are result.json's and appear once, in the
    verdict's ranking; recall per bucket is result.json's ``object_recall``. Nothing is averaged here.
    """
    section: dict[str, Any] = {"problems": run.problems_with(CONFIRMATION, STABILITY, RESULT)}
    data = run.stability
    if data is None or data.empty:
        section["missing"] = _no_stability_message(run, written=data is not None)
        return section
    data = data.copy()
    data["label"] = data["label"].where(data["label"] != "", data["config_id"])
    ranking = run.result.ranking if run.result else ()
    label_of = {r.config_id: r.label or r.config_id for r in ranking}
    order = [label_of[c] for c in label_of if c in set(data["config_id"])]
    order += [label for label in dict.fromkeys(data["label"]) if label not in order]
    section["plot"] = stability_plots.seed_spread(data, order)
    validation = run.result.validation if run.result else None
    section["validation"] = _validation_sentence(validation)
    recall = run.result.object_recall if run.result else {}
    if run.result is None:
        section["notes"] = [
            "The averages over seeds (mean IoU, spread, collapse rate, score) and the object recall come "
            "from result.json, written when the run ends; the plot shows the runs finished so far."
        ]
    elif recall:
        section["recall"] = _recall_table(
            recall, ranking, validation.objects if validation else {},
            unit=validation.size_unit if validation else "px",
        )  # fmt: skip
    if validation is not None and validation.spacing:
        section["spacing"] = spacing_table(validation.spacing)
    return section


def spacing_table(spacing: dict[str, Any]) -> Table:
    """Voxel spacing per axis of the validated volumes, and how anisotropic they are (result.json)."""
    axes = spacing.get("axes") or ["D", "H", "W"]
    rows = [
        [axis, *[fmt.num((spacing.get(key) or [None] * 3)[i]) for key in ("median_mm", "min_mm", "max_mm")]]
        for i, axis in enumerate(axes)
    ]
    threshold = spacing.get("anisotropy_threshold", 3.0)
    return Table(
        columns=["axis", "median spacing (mm)", "min (mm)", "max (mm)"],
        rows=rows,
        numeric=frozenset({1, 2, 3}),
        id="spacing-table",
        caption=(
            f"Voxel spacing of the {fmt.num(spacing.get('volumes'))} validated volumes (trained at native "
            f"spacing). Anisotropy (largest over smallest spacing of a volume): median "
            f"{fmt.num(spacing.get('median_anisotropy'))}, largest {fmt.num(spacing.get('max_anisotropy'))}; "
            f"{fmt.num(spacing.get('anisotropic_volumes'))} volume(s) above {fmt.num(threshold)}, the ratio "
            "beyond which nnU-Net treats a volume as anisotropic."
        ),
    )


def _validation_sentence(validation: ValidationSet | None) -> str:
    """How much the validation scores rest on: tiles and true objects per size bucket."""
    if validation is None or validation.tiles is None:
        return ""
    tiles, objects = validation.tiles, validation.objects
    per_bucket = ", ".join(f"{fmt.num(objects.get(b, 0))} {b}" for b in SIZE_BUCKETS)
    volumes = validation.size_unit == "mm³"
    what = "volumes" if volumes else "tiles"
    sizes = "physical volumes in mm³" if volumes else "sizes at native resolution"
    return (
        f"Validation set: {fmt.num(tiles)} {what} holding {per_bucket} objects ({sizes}). "
        f"Every IoU in this report is measured on these {what}; a bucket with few objects moves in large "
        "steps (with one object, recall can only be 0 or 1)."
    )


def _recall_table(
    recall: dict[str, Any], ranking: tuple[RankedConfig, ...], objects: dict[str, Any], *, unit: str = "px"
) -> Table:
    """result.json's ``object_recall`` per configuration in ranking order; empty buckets left out.

    Buckets are areas in px for tiles, physical volumes in mm³ for volumes (``unit``).
    """
    buckets = [b for b in SIZE_BUCKETS if any(not fmt.is_missing((v or {}).get(b)) for v in recall.values())]
    physical = unit == "mm³"
    table = SIZE_BUCKET_BOUNDS_MM3 if physical else SIZE_BUCKET_BOUNDS_PX
    bounds = {name: (lo, hi) for name, lo, hi in table}
    unit = "mm³" if physical else "px"
    ids = [r.config_id for r in ranking if r.config_id in recall]
    ids += [c for c in recall if c not in ids]
    labels = {r.config_id: r.label or r.config_id for r in ranking}
    header = []
    for b in buckets:
        lo, hi = bounds[b]
        size = f"{fmt.num(lo)}–{fmt.num(hi)} {unit}" if hi != float("inf") else f"≥ {fmt.num(lo)} {unit}"
        count = f", {fmt.num(objects[b])} objects" if b in objects else ""
        header.append(f"{b} ({size}{count})")
    return Table(
        columns=["configuration", *header],
        rows=[[labels.get(c, c), *[fmt.num((recall.get(c) or {}).get(b)) for b in buckets]] for c in ids],
        numeric=frozenset(range(1, len(buckets) + 1)),
        id="recall-table",
        caption=(
            "Object recall per size bucket (physical volume in mm³, 26-connected regions of one class in the "
            "validation volumes), final epoch, mean over seeds: the share of true objects with at least half "
            "of their voxels predicted as their class."
            if physical
            else "Object recall per size bucket (area in px at native resolution), final epoch, mean over "
            "seeds: the share of true objects (connected regions of one class in the validation masks) with "
            "at least half of their pixels predicted as their class."
        ),
    )


def _no_stability_message(run: RunFolder, *, written: bool) -> str:
    if run.status == "running":
        return "Seed-stability runs start after the search; none has finished yet."
    if written or run.status in ("interrupted", "failed"):
        return (
            f"No seed-stability run finished: the tuning run {ENDED.get(run.status, 'stopped')} before that "
            "phase. Resume it with the same `lossadvisor tune` command and --out folder."
        )
    return (
        "No seed-stability runs: this run folder holds no stability.csv (`lossadvisor tune` re-runs the best "
        "configurations with several seeds)."
    )


def samples_section(run: RunFolder) -> dict[str, Any]:
    """Validation tiles with the truth and each saved configuration's prediction overlaid."""
    section: dict[str, Any] = {"problems": run.problems_with(SAMPLES)}
    samples = run.samples
    if samples is None or not samples.predictions:
        section["missing"] = (
            "No sample predictions: samples.npz is missing (written at the end of `lossadvisor tune`)."
        )
        return section
    rec = run.result.recommended if run.result else None
    recommended = rec.config_id if rec else ""
    ids = sorted(samples.predictions, key=lambda k: (k != recommended, samples.labels.get(k, k)))
    section["columns"] = [_sample_label(samples.labels.get(k, k), recommended=k == recommended) for k in ids]
    section["rows"] = stability_plots.sample_rows(samples, ids)
    section["legend"] = [
        ("correct foreground", stability_plots.TRUE_POSITIVE),
        ("false positive", stability_plots.FALSE_POSITIVE),
        ("missed foreground", stability_plots.FALSE_NEGATIVE),
    ]
    section["shows"] = (
        "validation volumes, each on the slice through the largest and the smallest lesion of each class; "
        "foreground IoU on the slice"
        if samples.captions
        else "validation tiles, foreground IoU per tile"
    )
    return section


def _sample_label(label: str, *, recommended: bool) -> str:
    if recommended and "recommended" not in label.lower():
        return f"{label} (recommended)"
    return label
