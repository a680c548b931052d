"""The tuning sections: trials, LR range test, seed stability and sample predictions.

Built from ``trials.csv``, ``epochs.csv``, ``lr_range_test.json``, ``stability.csv``, ``samples.npz`` and
``result.json`` only. While a study is still running these files hold a snapshot, which is said plainly.
"""

from __future__ import annotations

from typing import Any

from lossadvisor.report import _format as fmt
from lossadvisor.report import _plots_stability as stability_plots
from lossadvisor.report import _plots_trials as plots
from lossadvisor.report._load import EPOCHS, LR_RANGE_TEST, RESULT, SAMPLES, STABILITY, TRIALS, RunFolder
from lossadvisor.report._table import Cell, Table

FINISHED_STATES = ("COMPLETE", "PRUNED", "FAIL")
ENDED = {"interrupted": "was interrupted", "failed": "failed"}  # run.json status -> how a sentence says it
# Optuna parameter names as a reader knows them (the tuner searches the LR as a position in its range).
PARAM_LABELS = {"lr_unit": "learning rate", "lr": "learning rate", "loss": "loss type"}
BOUNDED_LOSS_NOTE = (
    "LR range tests are not to be trusted for bounded losses (Dice and its relatives): their smoothed loss "
    "barely moves, the usual 'stop at 4× the minimum' never fires, and the suggested learning rate comes out "
    "nearly the same whatever the data. Tests marked suspect are shown for completeness; the tuned learning "
    "rate from the trials is what to use."
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
        for name, value in ((run.result or {}).get("param_importances") or {}).items()
    }
    if importances:
        section["plots"].append(plots.param_importances(importances))
    else:
        section.setdefault("notes", []).append(
            "No parameter importances (result.json has none yet: they are computed when the study ends)."
        )
    section["table"] = _trial_table(trials)
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


def _trial_table(trials: Any) -> Table:
    rows = []
    for r in trials.itertuples():
        state = Cell(
            r.state.lower(), {"COMPLETE": "", "PRUNED": "muted", "FAIL": "bad"}.get(r.state, "muted")
        )
        collapse = Cell(r.collapse_kind or "yes", "bad") if r.collapsed else Cell("no", "muted")
        rows.append(
            [
                str(int(r.number)),
                state,
                Cell(r.loss, "code"),
                fmt.lr(r.lr),
                fmt.num(r.mix),
                Cell(fmt.params(r.params), "code"),
                fmt.num(r.value),
                fmt.num(r.val_dice),
                fmt.num(r.best_epoch),
                fmt.num(r.epochs_run),
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
            "best epoch",
            "epochs",
            "collapsed",
            "grad spikes",
            "NaN/Inf",
            "time",
        ],
        rows=rows,
        numeric=frozenset({0, 3, 4, 6, 7, 8, 9, 11, 13}),
        id="trials-table",
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
                Cell(str(t.get("loss", "")), "code"),
                fmt.lr(t.get("suggested_lr")),
                str(t.get("method", "")),
                Cell("suspect", "bad") if t.get("suspect") else Cell("usable", "good"),
                str(t.get("note", "")),
            ]
            for t in tests
        ],
        numeric=frozenset({1}),
    )
    if any(t.get("lrs") and t.get("losses") for t in tests):
        section["plot"] = plots.lr_range_tests(tests)
    return section


def stability_section(run: RunFolder) -> dict[str, Any]:
    """Seed spread, collapse rate and small-object recall per configuration."""
    section: dict[str, Any] = {"problems": run.problems_with(STABILITY)}
    data = run.stability
    if data is None or data.empty:
        section["missing"] = _no_stability_message(run, written=data is not None)
        return section
    data = data.copy()
    data["label"] = data["label"].where(data["label"] != "", data["config_id"])
    groups = data.groupby("label", sort=False)
    summary = groups.agg(
        loss=("loss", "first"),
        source=("source", "first"),
        lr=("lr", "first"),
        params=("params", "first"),
        seeds=("seed", "count"),
        mean=("val_iou", "mean"),
        std=("val_iou", "std"),
        low=("val_iou", "min"),
        high=("val_iou", "max"),
        collapse=("collapsed", "mean"),
        failed=("failed", "sum"),
    )
    summary = summary.sort_values("mean", ascending=False)
    recall_columns = [
        c for c in ("recall_tiny", "recall_small", "recall_medium", "recall_large") if data[c].notna().any()
    ]
    recall = groups[recall_columns].mean() if recall_columns else None
    rows = []
    for label, r in summary.iterrows():
        collapse = Cell(fmt.pct(r.collapse, 0), "bad" if r.collapse > 0 else "")
        rows.append(
            [
                label,
                Cell(r.loss, "code"),
                r.source,
                fmt.lr(r.lr),
                Cell(fmt.params(r.params), "code"),
                str(int(r.seeds)),
                fmt.num(r["mean"]),
                fmt.num(r["std"]),
                f"{fmt.num(r.low)} – {fmt.num(r.high)}",
                collapse,
                str(int(r.failed)),
            ]
            + [fmt.num(recall.loc[label, c]) for c in recall_columns]
        )
    section["table"] = Table(
        columns=[
            "configuration",
            "loss",
            "chosen as",
            "lr",
            "parameters",
            "seeds",
            "mean IoU",
            "std",
            "range",
            "collapse rate",
            "failed",
            *[f"recall {c.removeprefix('recall_')}" for c in recall_columns],
        ],
        rows=rows,
        numeric=frozenset({3, 5, 6, 7, 8, 9, 10, *range(11, 11 + len(recall_columns))}),
        caption="Recall per object-size bucket: share of true objects of that size the prediction touches.",
        id="stability-table",
    )
    section["plot"] = stability_plots.seed_spread(data, list(summary.index))
    return section


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
    recommended = str(((run.result or {}).get("recommended") or {}).get("config_id", ""))
    ids = sorted(samples.predictions, key=lambda k: (k != recommended, samples.labels.get(k, k)))
    section["columns"] = [_sample_label(samples.labels.get(k, k), recommended=k == recommended) for k in ids]
    section["rows"] = stability_plots.sample_rows(samples, ids)
    section["legend"] = [
        ("correct foreground", stability_plots.TRUE_POSITIVE),
        ("false positive", stability_plots.FALSE_POSITIVE),
        ("missed foreground", stability_plots.FALSE_NEGATIVE),
    ]
    return section


def _sample_label(label: str, *, recommended: bool) -> str:
    if recommended and "recommended" not in label.lower():
        return f"{label} (recommended)"
    return label
