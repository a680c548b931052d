"""Everything the template shows, assembled from a :class:`RunFolder`: the verdict first, then the evidence.

Each section is a plain dict with either its content or a ``missing`` sentence that says which file is absent
and which command writes it, so a partial run (a profile alone, profile plus advice, a study still running)
still gives a complete, honest report.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from lossadvisor._version import __version__
from lossadvisor.report import _format as fmt
from lossadvisor.report._context_dataset import dataset_section, rules_section
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
from lossadvisor.report._table import Cell, Table, facts

CONFIDENCE_CSS = {"high": "good", "medium": "warn", "low": "bad"}

SECTIONS = (
    ("verdict", "Verdict"),
    ("dataset", "The dataset"),
    ("rules", "Rule trace"),
    ("trials", "Trials"),
    ("lr-range", "LR range test"),
    ("stability", "Stability across seeds"),
    ("samples", "Sample predictions"),
    ("environment", "Environment"),
)


def build_context(run: RunFolder) -> dict[str, Any]:
    """The template's variables: title, status banner, and one dict per section."""
    name = (
        (run.profile.dataset_name if run.profile else None)
        or (run.recommendation.dataset_name if run.recommendation else None)
        or run.path.name
    )
    return {
        "title": f"lossadvisor report: {name}",
        "dataset_name": name,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "run_dir": str(run.path),
        "stage": _stage(run),
        "banner": _banner(run),
        "sections": SECTIONS,
        "verdict": verdict_section(run),
        "dataset": dataset_section(run),
        "rules": rules_section(run),
        "trials": trials_section(run),
        "lr_range": lr_range_section(run),
        "stability": stability_section(run),
        "samples": samples_section(run),
        "environment": environment_section(run),
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
            explanation=str(confidence.get("explanation", "")),
            confidence_facts=facts(
                [
                    ("margin over the runner-up", fmt.num(confidence.get("margin"))),
                    ("spread across seeds (std of IoU)", fmt.num(confidence.get("seed_spread"))),
                ]
            ),
            snippets=[
                (title, str(code))
                for title, code in (
                    ("PyTorch", (result.get("snippets") or {}).get("pytorch")),
                    ("fastai", (result.get("snippets") or {}).get("fastai")),
                )
                if code
            ],
            ranking=_ranking_table(result.get("ranking") or [], str(rec.get("config_id", ""))),
            agreement=_agreement(result),
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
        "`lossadvisor advise` for the rules' advice, or `lossadvisor tune` to confirm it with trials."
    )
    return section


def _verdict_params(params: Any) -> str:
    text = fmt.params(params)
    return "none (the loss's defaults)" if text == fmt.MISSING else text


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
                Cell(fmt.params(r.get("params")), "code"),
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
        columns=[
            "configuration",
            "loss",
            "parameters",
            "lr",
            "seeds",
            "mean IoU",
            "std",
            "collapse rate",
            "failures",
            "score",
        ],
        rows=rows,
        numeric=frozenset({3, 4, 5, 6, 7, 8, 9}),
        id="ranking",
        caption="Ranking over seeds (★ recommended). The score rewards a high mean IoU and penalises spread "
        "and collapse.",
    )
