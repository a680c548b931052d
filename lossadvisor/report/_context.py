"""Everything the template shows, assembled from a :class:`RunFolder`: the verdict first, then the evidence.

Each section is a plain dict with either its content or a ``missing`` sentence that says which file is absent
and which command writes it, so a partial run (a profile alone, profile plus advice, a study still running)
still gives a complete, honest report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from lossadvisor._version import __version__
from lossadvisor.report import _format as fmt
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
from lossadvisor.report._load import RESULT, RunFolder
from lossadvisor.report._table import Cell, Table

# "clear" / "tie" / "single" / "none" are the verdict kinds of the paired confirmation; the others are those
# of older run folders.
CONFIDENCE_CSS = {
    "high": "good", "medium": "warn", "low": "bad", "clear": "good", "tie": "warn", "single": "warn",
    "none": "bad",
}  # fmt: skip

SECTIONS = (
    ("verdict", "Verdict"),
    ("use", "Use it in your training"),
    ("dataset", "The dataset"),
    ("rules", "Rule trace"),
    ("trials", "Trials"),
    ("lr-range", "LR range test"),
    ("stability", "Stability across seeds"),
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
    started = (run.run or {}).get("started") or "an unknown time"
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
    "single": "Only one loss reached the confirmation, so nothing was compared; treat it as untested.",
    "none": "No confirmation run finished; re-run the same command to resume.",
}


def verdict_section(run: RunFolder) -> dict[str, Any]:
    """The tuned recommendation (``result.json``) or, before tuning, the rules' first choice."""
    result = run.result
    section: dict[str, Any] = {"problems": run.problems_with(RESULT)}
    if result and result.get("recommended"):
        rec = result["recommended"]
        confidence = result.get("confidence") or {}
        level = str(confidence.get("level", "")).lower()
        section.update(
            source="tuning",
            loss=str(rec.get("loss", "")),
            label=str(rec.get("label", "")),
            params=_verdict_params(rec.get("params")),
            lr=fmt.lr(rec.get("lr")),
            confidence=level or fmt.MISSING,
            confidence_css=CONFIDENCE_CSS.get(level, ""),
            confidence_advice=CONFIDENCE_ADVICE.get(level, ""),
            explanation=str(confidence.get("explanation", "")),
            comparisons=_comparisons_table(result),
            diagnostics=_diagnostics_table(result.get("diagnostics") or []),
            order=_order_text(result),
            ranking=_ranking_table(result.get("ranking") or [], str(rec.get("config_id", ""))),
            agreement=_agreement(result),
            model=_model_line(result),
            objective=str((result.get("training") or {}).get("objective", "")),
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


def _comparisons_table(result: dict[str, Any]) -> Table | None:
    """The winner against each other finalist: mean paired difference, 95% interval, runs won, verdict."""
    verdict = result.get("verdict") or {}
    rows = [
        [
            Cell(str(c.get("against_loss", "")), "code"),
            fmt.num(c.get("mean_diff")),
            f"{fmt.num(c.get('ci_low'))} – {fmt.num(c.get('ci_high'))}",
            f"{c.get('runs_won', 0)} of {c.get('runs', 0)}",
            Cell("clear" if c.get("clear") else "tie", "good" if c.get("clear") else "warn"),
        ]
        for c in verdict.get("comparisons") or []
    ]
    if not rows:
        return None
    return Table(
        columns=["winner against", "mean IoU difference", "95% interval", "paired runs won", "verdict"],
        rows=rows,
        numeric=frozenset({1, 2, 3}),
        id="comparisons",
        caption="Paired over the same folds, seeds and tiles; clear = interval excludes 0 and the gain is "
        f"at least {fmt.num(verdict.get('margin'))} IoU.",
    )


def _diagnostics_table(diagnostics: list[dict[str, Any]]) -> Table | None:
    """What a finder-picked learning rate would have given: shown apart, never ranked."""
    if not diagnostics:
        return None
    rows = [
        [
            str(d.get("label", "")),
            fmt.lr(d.get("lr")),
            fmt.num(d.get("runs")),
            fmt.num(d.get("mean_iou")),
            fmt.num(d.get("std_iou")),
            Cell(fmt.pct(d.get("collapse_rate"), 0), "bad" if d.get("collapse_rate") else ""),
        ]
        for d in diagnostics
    ]
    return Table(
        columns=["configuration", "lr", "runs", "mean IoU", "std", "collapse rate"],
        rows=rows,
        numeric=frozenset({1, 2, 3, 4, 5}),
        id="diagnostics",
        caption="Not ranked: plain CE and Dice at the LR range test's rate, on the search split at the "
        "search budget.",
    )


def _order_text(result: dict[str, Any]) -> str:
    order = result.get("order") or {}
    if not order.get("search"):
        return ""
    if order.get("held"):
        return "The search's order of the finalists held after the longer confirmation runs."
    names = {r.get("config_id"): r.get("loss") for r in result.get("ranking") or []}
    moves = ", ".join(
        f"{names.get(o['entry'], o['entry'])} overtook {names.get(o['overtook'], o['overtook'])}"
        for o in order.get("overtook") or []
    )
    return f"The search's order of the finalists did not hold after the longer confirmation runs: {moves}."


def _verdict_params(params: Any) -> str:
    text = fmt.params(params)
    return "none (the loss's defaults)" if text == fmt.MISSING else text


def _model_line(result: dict[str, Any]) -> str:
    """"Confirmed on monai-unet, 1,626,753 parameters." ("" when result.json does not name the model)."""
    model = result.get("model") or {}
    if not model.get("name"):
        return ""
    count = model.get("parameters")
    size = f", {count:,} parameters" if isinstance(count, int) else ""
    return f"Confirmed on {model['name']}{size}: the network every trial and seed run trained."


def _agreement(result: dict[str, Any]) -> str:
    """Whether the trials confirmed the rules' first choice, in words ("" when result.json does not say)."""
    first = result.get("rules_first_choice") or {}
    if "agrees_with_rules" not in result or not first:
        return ""
    choice = f"{first.get('loss', '')} ({fmt.params(first.get('params'))})"
    if result["agrees_with_rules"]:
        return f"The trials confirm the rules' first choice, {choice}."
    return (
        f"The trials overrule the rules' first choice, {choice}: on this data another loss did better "
        "across seeds."
    )


def _ranking_table(ranking: list[dict[str, Any]], recommended: str) -> Table:
    """Every aggregate as result.json has it, never recomputed: mean, spread, collapse, failures, score."""
    rows = []
    for r in ranking:
        chosen = str(r.get("config_id", "")) == recommended
        rows.append(
            [
                Cell(
                    str(r.get("label") or r.get("config_id", "")) + (" ★" if chosen else ""),
                    "good" if chosen else "",
                ),
                Cell(str(r.get("loss", "")), "code"),
                fmt.lr(r.get("lr")),
                fmt.num(r.get("seeds")),
                fmt.num(r.get("mean_iou")),
                fmt.num(r.get("std_iou")),
                fmt.pct(r.get("collapse_rate"), 0),
                fmt.num(r.get("failures")),
                fmt.num(r.get("score")),
            ]
        )
    return Table(
        columns=["configuration", "loss", "lr", "seeds", "mean IoU", "std", "collapse", "failed", "score"],
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
    result = run.result or {}
    section: dict[str, Any] = {"problems": run.problems_with(RESULT)}
    snippets = [
        (title, str(code))
        for title, code in (
            ("PyTorch", (result.get("snippets") or {}).get("pytorch")),
            ("fastai", (result.get("snippets") or {}).get("fastai")),
        )
        if code
    ]
    if not snippets:
        section["missing"] = (
            "No code yet: result.json (written when `lossadvisor tune` ends) holds the snippets with the "
            "tested loss and learning rate."
            if run.result is None
            else "result.json has no code snippets."
        )
        return section
    section["snippets"] = snippets
    section["validated"] = _validated_sentence(result.get("training") or {})
    return section


def _validated_sentence(training: dict[str, Any]) -> str:
    """What the trials trained, from result.json's ``training`` (empty when an older tuner did not say)."""
    if not training.get("optimizer"):
        return ""
    parameters = training.get("parameters")
    size = f"a {parameters / 1e6:.2g} M-parameter " if isinstance(parameters, (int, float)) else "a "
    warmup = training.get("warmup_steps") or 0
    schedule = (
        f"a {warmup}-step linear warm-up, then a constant learning rate"
        if warmup
        else "a constant learning rate"
    )
    tiles = (
        f"random {training.get('tile_px')}-px crops at native resolution"
        if training.get("tile_mode") == "crop"
        else f"{training.get('tile_px')}-px tiles (resized)"
    )
    return (
        f"What was validated: {size}{training.get('model', 'model')} trained from scratch with "
        f"{training['optimizer']} (weight decay {training.get('weight_decay', 0):g}) at {schedule}, for "
        f"{fmt.num(training.get('steps_per_run'))} steps of batch {fmt.num(training.get('batch_size'))} on "
        f"{tiles}. The learning rate transfers to another model, schedule or resolution only approximately: "
        "use it as the starting point of a short check there."
    )
