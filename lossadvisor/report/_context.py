"""Everything the template shows, assembled from a :class:`RunFolder`: the verdict first, then the evidence.

Each section is a plain dict with either its content or a ``missing`` sentence that says which file is absent
and which command writes it, so a partial run (a profile alone, profile plus advice, a study still running)
still gives a complete, honest report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from lossadvisor._run_records import RankedConfig, TrainingSetup, TuneOutcome, describe_recipe
from lossadvisor._version import __version__
from lossadvisor.report import _format as fmt
from lossadvisor.report import _plots_verdict as verdict_plots
from lossadvisor.report._context_dataset import advise_command, dataset_section, rules_section
from lossadvisor.report._context_env import environment_section
from lossadvisor.report._context_trials import (
    ENDED,
    FINISHED_STATES,
    lr_range_section,
    samples_section,
    stability_section,
    trials_section,
)
from lossadvisor.report._figure import Plot
from lossadvisor.report._load import RESULT, RunFolder
from lossadvisor.report._table import Cell, Table

# "clear" / "equivalent" / "undecided" / "single" / "none" are the verdict kinds of the confirmation race;
# the others ("tie", "high", ...) are those of older run folders.
CONFIDENCE_CSS = {
    "high": "good", "medium": "warn", "low": "bad", "clear": "good", "equivalent": "good",
    "undecided": "warn", "tie": "warn", "single": "warn", "none": "bad",
}  # fmt: skip

SECTIONS = (
    ("verdict", "Verdict"),
    ("use", "Use it in your training"),
    ("dataset", "The dataset"),
    ("rules", "Rule trace"),
    ("trials", "Trials"),
    ("lr-range", "LR range test"),
    ("stability", "Stability across folds and seeds"),
    ("samples", "Sample predictions"),
    ("environment", "Environment"),
)


def build_context(run: RunFolder, *, on_section: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The template's variables: title, status banner, and one dict per section.

    ``on_section(title)`` is called before each section is built (the progress bar of ``lossadvisor report``).
    """
    name = (
        (run.profile.dataset_name if run.profile else None)
        or (run.recommendation.dataset_name if run.recommendation else None)
        or run.path.name
    )
    builders = {
        "verdict": verdict_section,
        "use": use_section,
        "dataset": dataset_section,
        "rules": rules_section,
        "trials": trials_section,
        "lr-range": lr_range_section,
        "stability": stability_section,
        "samples": samples_section,
        "environment": environment_section,
    }
    sections: dict[str, Any] = {}
    for section_id, title in SECTIONS:
        if on_section is not None:
            on_section(title)
        sections[section_id.replace("-", "_")] = builders[section_id](run)
    return {
        "title": f"lossadvisor report: {name}",
        "dataset_name": name,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "run_dir": str(run.path),
        "stage": _stage(run),
        "banner": _banner(run),
        "sections": SECTIONS,
        **sections,
    }


def _stage(run: RunFolder) -> str:
    if run.status == "running":
        return "tuning still running"
    if run.status in ("interrupted", "failed"):
        return f"tuning {run.status}"
    if run.result is not None:
        return "complete"
    if run.recommendation is not None:
        return "profile and advice (no tuning)"
    if run.profile is not None:
        return "profile only"
    return "incomplete"


def _banner(run: RunFolder) -> tuple[str, str] | None:
    """(css class, sentence) for a run that is not finished, or ``None``."""
    started = (run.run.started if run.run else None) or "an unknown time"
    finished = _finished_trials(run)
    if run.status == "running":
        return (
            "warn",
            f"This study is still running (started {started}). What follows is a snapshot: "
            f"{finished} trials had finished when this report was built. Rebuild it with "
            f"`lossadvisor report {run.path}` when the run ends.",
        )
    if run.status == "interrupted":
        return (
            "bad",
            f"This tuning run was interrupted after {finished} finished trials. Run the same "
            "`lossadvisor tune` command with the same --out folder to resume the study.",
        )
    if run.status == "failed":
        return (
            "bad",
            f"This tuning run failed after {finished} finished trials; the environment section shows the "
            "command. Fix the cause and run it again with the same --out folder to resume the study.",
        )
    return None


def _finished_trials(run: RunFolder) -> int:
    """Finished trials, from trials.csv, or from study.db while the tuner has not written trials.csv yet."""
    if run.trials is not None and not run.trials.empty:
        return int(run.trials["state"].isin(FINISHED_STATES).sum())
    return sum(n for state, n in (run.study_states or {}).items() if state in FINISHED_STATES)


# What each confidence level asks of the reader, in one plain sentence.
CONFIDENCE_ADVICE = {
    "high": "Use it.",
    "medium": "Use it; the runner-up is close enough to be worth keeping in mind.",
    "low": (
        "This is a tie: the difference is within the noise, so either loss is defensible. Prefer the simpler "
        "loss (CE, then weighted CE, then Dice+CE), or re-run with more seeds or epochs to separate them."
    ),
    "clear": "Use it: it beat every other finalist by more than the margin, with intervals excluding 0.",
    "tie": (
        "The finalists named below are tied: their differences are within the noise or under the margin, so "
        "the simplest of them is recommended. More folds, seeds or steps may separate them."
    ),
    "equivalent": (
        "Use it: the finalists named below are practically equivalent (their difference is probably within "
        "the margin), so the simplest is recommended."
    ),
    "undecided": (
        "Undecided means the runs cannot yet tell the leader from the finalists named below, not that they "
        "are equal: the leader is recommended (the highest expected IoU at the longest run length "
        "measured). The next-step line says what would decide it."
    ),
    "single": "Only one loss reached the confirmation, so nothing was compared; treat it as untested.",
    "none": "No confirmation run finished; re-run the same command to resume.",
}


def verdict_section(run: RunFolder) -> dict[str, Any]:
    """The tuned recommendation (``result.json``) or, before tuning, the rules' first choice."""
    result = run.result
    section: dict[str, Any] = {"problems": run.problems_with(RESULT)}
    if result is not None and result.recommended is not None:
        rec = result.recommended
        level = result.confidence.level.lower()
        section.update(
            source="tuning",
            loss=rec.loss,
            label=rec.label,
            params=_verdict_params(rec.params),
            lr=fmt.lr(rec.lr),
            confidence=level or fmt.MISSING,
            confidence_css=CONFIDENCE_CSS.get(level, ""),
            confidence_advice=CONFIDENCE_ADVICE.get(level, ""),
            explanation=result.confidence.explanation,
            paired_plot=_paired_plot(result),
            probability_plot=_probability_plot(result),
            next_steps=result.verdict.next_steps if result.verdict else None,
            bought=(result.verdict.race.get("bought") if result.verdict else None),
            time_budget=result.budget.get("bought"),
            comparisons=_comparisons_table(result),
            diagnostics=_diagnostics_table(result.diagnostics),
            order=_order_text(result),
            ranking=_ranking_table(result.ranking, rec.config_id),
            agreement=_agreement(result),
            model=_model_line(result),
            objective=result.training.objective,
        )
        return section
    if run.recommendation is not None:
        top = run.recommendation.top
        section.update(
            source="rules",
            loss=top.loss,
            params=_verdict_params(top.params),
            lr=f"{fmt.lr(top.lr_range[0])} – {fmt.lr(top.lr_range[1])} (range to tune)",
            rationale=top.rationale,
            lr_note=top.lr_note,
            missing=(
                "Not confirmed by training yet: this run folder holds no result.json, so this is the rules' "
                "first choice from the dataset profile. Run `lossadvisor tune` to test the candidates with "
                "short training trials."
            ),
        )
        if RESULT in run.problems:
            section["missing"] = (
                "This run folder's result.json could not be read (see above), so the tuned verdict cannot be "
                "shown; below is only the rules' first choice from the dataset profile, not what was tuned."
            )
        if run.status == "running":
            section["missing"] = (
                "The study is still running: the verdict below is the rules' first choice; "
                "the tuned recommendation appears when the run ends."
            )
        elif run.status in ("interrupted", "failed"):
            section["missing"] = (
                f"The tuning run {ENDED[run.status]} before its final ranking, so below is the rules' first "
                "choice, not yet confirmed by training. Run the same `lossadvisor tune` command with the "
                "same --out folder to resume the study and finish it."
            )
        return section
    section["missing"] = (
        "No recommendation yet: this run folder holds neither result.json nor recommendation.json. Run "
        f"`{advise_command(run)}` for the rules' advice, or `lossadvisor tune` to confirm it with trials."
    )
    return section


def _paired_plot(result: TuneOutcome) -> Plot | None:
    """The winner minus each other finalist, paired, with intervals (``None`` before the paired verdict)."""
    verdict = result.verdict
    if verdict is None or not any(c.mean_diff is not None for c in verdict.comparisons):
        return None
    configs = {r.config_id: r for r in result.ranking}
    winner = configs.get(verdict.winner or "")
    return verdict_plots.paired_differences(
        verdict.comparisons,
        winner=winner.loss if winner else str(verdict.winner),
        labels={cid: r.label or cid for cid, r in configs.items()},
        losses={cid: r.loss for cid, r in configs.items()},
        margin=verdict.margin,
    )


def _probability_plot(result: TuneOutcome) -> Plot | None:
    """The three probabilities of each comparison as stacked bars (``None`` for older result.json files)."""
    verdict = result.verdict
    if verdict is None or not any(c.p_better is not None for c in verdict.comparisons):
        return None
    configs = {r.config_id: r for r in result.ranking}
    leader = configs.get(verdict.winner or "")
    return verdict_plots.probability_bars(
        verdict.comparisons,
        leader=leader.loss if leader else str(verdict.winner),
        level=float(verdict.extra.get("decision_level", 0.95)),
    )


def _comparisons_table(result: TuneOutcome) -> Table | None:
    """The leader against each other finalist: mean paired difference, the three probabilities, the state
    (older result.json files: the bootstrap interval, runs won, clear or tie)."""
    verdict = result.verdict
    if verdict is None or not verdict.comparisons:
        return None
    if any(c.p_better is not None for c in verdict.comparisons):
        css = {"better": "good", "equivalent": "good", "worse": "bad", "open": "warn"}
        return Table(
            columns=["leader against", "mean IoU difference", "P(better)", "P(equivalent)", "P(worse)",
                     "paired runs", "run length", "state", "resolvable over"],
            rows=[
                [
                    Cell(c.against_loss, "code"), fmt.num(c.mean_diff), fmt.pct(c.p_better),
                    fmt.pct(c.p_equivalent), fmt.pct(c.p_worse), str(c.runs), f"{c.steps} steps",
                    Cell(c.state or "", css.get(c.state or "", "")), fmt.num(c.resolvable_diff),
                ]
                for c in verdict.comparisons
            ],
            numeric=frozenset({1, 2, 3, 4, 5, 8}),
            optional=frozenset({5, 6, 8}),
            id="comparisons",
            caption="Bayesian correlated t-test (Benavoli et al. 2017) on the paired runs at the longest run "
            f"length both finalists reached; equivalent = within ±{fmt.num(verdict.margin)} IoU. A side is "
            f"taken at {100 * float(verdict.extra.get('decision_level', 0.95)):g}%; open = not yet told "
            "apart. Resolvable over: the smallest difference that any number of repetitions at this spread "
            "could call clear (runs on one data set stay correlated).",
        )  # fmt: skip
    rows = [
        [
            Cell(c.against_loss, "code"),
            fmt.num(c.mean_diff),
            f"{fmt.num(c.ci_low)} – {fmt.num(c.ci_high)}",
            f"{c.runs_won} of {c.runs}",
            Cell("clear" if c.clear else "tie", "good" if c.clear else "warn"),
        ]
        for c in verdict.comparisons
    ]
    return Table(
        columns=["winner against", "mean IoU difference", "95% interval", "paired runs won", "verdict"],
        rows=rows,
        numeric=frozenset({1, 2, 3}),
        optional=frozenset({3}),
        id="comparisons",
        caption="Paired over the same folds, seeds and tiles; clear = interval excludes 0 and the gain is "
        f"at least {fmt.num(verdict.margin)} IoU. A tie means: either loss is defensible, so the simplest "
        "tied loss is recommended.",
    )


def _diagnostics_table(diagnostics: tuple[RankedConfig, ...]) -> Table | None:
    """What a finder-picked learning rate would have given: shown apart, never ranked."""
    if not diagnostics:
        return None
    rows = [
        [
            d.label,
            fmt.lr(d.lr),
            fmt.num(d.runs),
            fmt.num(d.mean_iou),
            fmt.num(d.std_iou),
            Cell(fmt.pct(d.collapse_rate, 0), "bad" if d.collapse_rate else ""),
        ]
        for d in diagnostics
    ]
    return Table(
        columns=["configuration", "lr", "runs", "mean IoU", "std", "collapse rate"],
        rows=rows,
        numeric=frozenset({1, 2, 3, 4, 5}),
        optional=frozenset({1, 2, 4}),
        id="diagnostics",
        caption="Not ranked: plain CE and Dice at the LR range test's rate, on the search split at the "
        "search budget.",
    )


def _order_text(result: TuneOutcome) -> str:
    order = result.order
    if order is None or not order.search:
        return ""
    if order.held:
        return "The search's order of the finalists held after the longer confirmation runs."
    names = {r.config_id: r.loss for r in result.ranking}
    moves = ", ".join(
        f"{names.get(o.entry, o.entry)} overtook {names.get(o.overtook, o.overtook)}" for o in order.overtook
    )
    return f"The search's order of the finalists did not hold after the longer confirmation runs: {moves}."


def _verdict_params(params: Any) -> str:
    text = fmt.params(params)
    return "none (the loss's defaults)" if text == fmt.MISSING else text


def _model_line(result: TuneOutcome) -> str:
    """ "Confirmed on monai-unet, 1,626,753 parameters." ("" when result.json does not name the model)."""
    model = result.model
    if model is None or not model.name:
        return ""
    size = f", {model.parameters:,} parameters" if model.parameters is not None else ""
    return f"Confirmed on {model.name}{size}: the network every trial and seed run trained."


def _agreement(result: TuneOutcome) -> str:
    """Whether the trials confirmed the rules' first choice, in words ("" when result.json does not say)."""
    first = result.rules_first_choice
    if result.agrees_with_rules is None or not first:
        return ""
    choice = f"{first.get('loss', '')} ({fmt.params(first.get('params'))})"
    if result.agrees_with_rules:
        return f"The trials confirm the rules' first choice, {choice}."
    winner = result.recommended.loss if result.recommended is not None else "another loss"
    return (
        f"The trials do not confirm the rules' first choice, {choice}: the paired confirmation runs "
        f"recommend {winner} (see the verdict above)."
    )


def _ranking_table(ranking: tuple[RankedConfig, ...], recommended: str) -> Table:
    """Every aggregate as result.json has it, never recomputed: mean, spread, collapse, failures, score."""
    rows = []
    for r in ranking:
        chosen = r.config_id == recommended
        rows.append(
            [
                Cell((r.label or r.config_id) + (" ★" if chosen else ""), "good" if chosen else ""),
                Cell(r.loss, "code"),
                fmt.lr(r.lr),
                fmt.num(r.runs if r.runs is not None else r.seeds),
                fmt.num(r.mean_iou),
                fmt.num(r.std_iou),
                fmt.pct(r.collapse_rate, 0),
                fmt.num(r.failures),
                fmt.num(r.score),
            ]
        )
    return Table(
        columns=["configuration", "loss", "lr", "runs", "mean IoU", "std", "collapse", "failed", "score"],
        rows=rows,
        numeric=frozenset({2, 3, 4, 5, 6, 7, 8}),
        optional=frozenset({1, 2, 3, 5, 6, 7}),
        id="ranking",
        caption="Ranking (★ recommended), as result.json has it. Finalists: mean final-epoch IoU over the "
        "paired confirmation runs (folds x seeds), a failed run counted as 0; the score is that mean. "
        "Older run folders: score over seeds, penalising spread and collapse.",
    )


def use_section(run: RunFolder) -> dict[str, Any]:
    """The copy-paste code, headed by exactly what the trials validated (never more)."""
    result = run.result
    section: dict[str, Any] = {"problems": run.problems_with(RESULT)}
    snippets = [
        (title, result.snippets[key])
        for title, key in (("PyTorch", "pytorch"), ("fastai", "fastai"))
        if result is not None and result.snippets.get(key)
    ]
    if result is None or not snippets:
        section["missing"] = (
            "No code yet: result.json (written when `lossadvisor tune` ends) holds the snippets with the "
            "tested loss and learning rate."
            if result is None
            else "result.json has no code snippets."
        )
        return section
    section["snippets"] = snippets
    section["validated"] = _validated_sentence(result.training)
    return section


def _validated_sentence(training: TrainingSetup) -> str:
    """What the trials trained, from result.json's ``training`` (empty when an older tuner did not say)."""
    if not training.optimizer:
        return ""
    size = f"a {training.parameters / 1e6:.2g} M-parameter " if training.parameters is not None else "a "
    schedule = (
        f"a {training.warmup_steps}-step linear warm-up, then a constant learning rate"
        if training.warmup_steps
        else "a constant learning rate"
    )
    tiles = (
        f"random {training.tile_px}-px crops at native resolution"
        if training.tile_mode == "crop"
        else f"{training.tile_px}-px tiles (resized)"
    )
    recipe = describe_recipe(training.recipe, crop=training.tile_mode == "crop")
    recipe = f"; {recipe}" if recipe else ""
    return (
        f"What was validated: {size}{training.model or 'model'} trained from scratch with "
        f"{training.optimizer} (weight decay {training.weight_decay or 0:g}) at {schedule}, for "
        f"{fmt.num(training.steps_per_run)} steps of batch {fmt.num(training.batch_size)} on "
        f"{tiles}{recipe}. The learning rate transfers to another model, schedule or resolution only "
        "approximately: use it as the starting point of a short check there."
    )
