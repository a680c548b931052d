"""The stability phase: re-run the promising configurations with several seeds and rank them.

A single short trial says little about a loss whose failure mode is chaos: DESIGN.md saw Dice runs that were
very good or useless by chance. So the best configurations of the search, the best of every loss, and plain CE
and plain Dice at the learning rate an LR range test suggests (what a fastai user would train with) are re-run
with ``seeds`` seeds. Each run's IoU is its *final* validation IoU (the model a user keeps when training ends,
without picking the best epoch on the validation set), and a run that collapsed or failed counts as such.

Score (higher is better)::

    score = mean_iou - STD_PENALTY * std_iou - COLLAPSE_PENALTY * collapse_rate

A failed run counts as IoU 0 and as collapsed. Confidence compares the winner with the best configuration of a
*different* loss (the choice the user makes is the loss): "high" when the score margin is at least
``HIGH_CONFIDENCE_SPREADS`` seed standard deviations, "medium" from ``MEDIUM_CONFIDENCE_SPREADS``, else "low".
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from lossadvisor._atomic import write_bytes
from lossadvisor.runfolder import is_collapse
from lossadvisor.tune._search import RunContext, jsonable_params, outcome_summary
from lossadvisor.tune._space import Configuration, SearchSpace

logger = logging.getLogger(__name__)

STD_PENALTY = 1.0  # one seed standard deviation of IoU costs as much as one IoU point
COLLAPSE_PENALTY = 0.5  # a run in two that collapses costs 0.25 IoU on top of its own low IoU
HIGH_CONFIDENCE_SPREADS = 2.0
MEDIUM_CONFIDENCE_SPREADS = 0.5
MIN_SPREAD = 0.005  # seed spread floor: three seeds can agree by chance
TOP_K = 2
DEFAULT_MAX_CONFIGS = 8
LR_TEST_LOSSES = ("ce", "dice")
ATTR_PREFIX = "stability:"


@dataclass(frozen=True)
class StabilityConfig:
    """A configuration to re-run, where it came from, and the search trial that already ran its first seed."""

    config_id: str
    label: str
    source: str  # top / family_best / lr_range_test / recommended
    config: Configuration
    trial_number: int | None = None


def config_id(config: Configuration) -> str:
    """A stable id from the loss, its parameters and the learning rate (4 significant digits).

    Example:
        >>> config_id(Configuration("ce", {}, 1e-3))
        'ce-641449'
    """
    key = json.dumps([config.loss, jsonable_params(config.params), f"{config.lr:.4g}"], sort_keys=True)
    return f"{config.loss}-{hashlib.sha1(key.encode()).hexdigest()[:6]}"


def _describe(config: Configuration) -> str:
    shown = {k: v for k, v in config.params.items() if k in ("mix", "gamma", "beta", "alpha", "delta")}
    extra = ", ".join(f"{k}={v:.2g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
    return f"{config.loss}" + (f" ({extra})" if extra else "") + f" lr={config.lr:.2g}"


def select_configs(
    study,
    space: SearchSpace,
    *,
    lr_suggestions: dict[str, float],
    recommended: Configuration | None,
    max_configs: int = DEFAULT_MAX_CONFIGS,
) -> list[StabilityConfig]:
    """Pick what to re-run, most informative first, without duplicates, at most ``max_configs``.

    Order: the best trial; plain CE and plain Dice at their LR-range-test rates; the best trial of every other
    loss; the runner-up trial; the rules' top candidate untuned.
    """
    from optuna.trial import TrialState

    done = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: -t.value)
    picks: list[StabilityConfig] = []

    def add(config: Configuration, source: str, label: str, trial_number: int | None = None) -> None:
        cid = config_id(config)
        if all(p.config_id != cid for p in picks):
            picks.append(StabilityConfig(cid, f"{label}: {_describe(config)}", source, config, trial_number))

    def from_trial(t) -> Configuration:
        return Configuration(
            t.params["loss"], dict(t.user_attrs.get("params", {})), float(t.user_attrs["lr"])
        )

    if done:
        add(from_trial(done[0]), "top", "best trial", done[0].number)
    for loss in LR_TEST_LOSSES:
        if loss in lr_suggestions:
            base = space.default_configuration(loss) if loss in space.entries else Configuration(loss, {}, 0)
            add(
                Configuration(loss, base.params, lr_suggestions[loss]),
                "lr_range_test",
                f"{loss} at LR-test rate",
            )
    best_of: dict[str, object] = {}
    for t in done:
        best_of.setdefault(t.params["loss"], t)
    for loss, t in best_of.items():
        add(from_trial(t), "family_best", f"best {loss}", t.number)
    for t in done[1:TOP_K]:
        add(from_trial(t), "top", "runner-up trial", t.number)
    if recommended is not None:
        add(recommended, "recommended", "rules' first choice, untuned")
    return picks[:max_configs]


def run_stability(
    study,
    configs: list[StabilityConfig],
    ctx: RunContext,
    *,
    seeds: int,
    on_run: Callable[[], None] | None = None,
) -> list[dict]:
    """Run every (configuration, seed) not yet stored in the study; return all records.

    Seed ``ctx.seed`` is the search's own seed, so for a configuration that came from a completed search
    trial that trial *is* the first seed's run and is reused (bit-identical on CPU). Records are stored as
    study user attributes (``stability:<config_id>:<seed>``) the moment they finish, so an interrupted phase
    resumes where it stopped, also on shared storage.
    """
    records = []
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    for sc in configs:
        for k in range(seeds):
            seed = ctx.seed + k
            key = f"{ATTR_PREFIX}{sc.config_id}:{seed}"
            stored = study.user_attrs.get(key)
            if stored is not None:
                records.append(stored)
                continue
            base = {
                "config_id": sc.config_id,
                "label": sc.label,
                "source": sc.source,
                "loss": sc.config.loss,
                "lr": sc.config.lr,
                "params": jsonable_params(sc.config.params),
                "seed": seed,
            }
            trial = trials.get(sc.trial_number) if sc.trial_number is not None else None
            if k == 0 and trial is not None and "summary" in trial.user_attrs:
                record = {
                    **base,
                    **trial.user_attrs["summary"],
                    "epochs": trial.user_attrs.get("epochs", []),
                    "reused_trial": trial.number,
                }
                src = ctx.preds_dir / f"trial{trial.number}.npy"
                if src.is_file():
                    write_bytes(ctx.preds_dir / f"{sc.config_id}.npy", src.read_bytes())
            else:
                outcome = ctx.train(sc.config, seed=seed, keep_samples=k == 0)
                record = {
                    **base,
                    **outcome_summary(outcome),
                    "epochs": [asdict(r) for r in outcome.epochs],
                    "reused_trial": None,
                }
                if k == 0:
                    ctx.save_predictions(sc.config_id, outcome)
            study.set_user_attr(key, record)
            records.append(record)
            if on_run is not None:
                on_run()
    return records


def rank_configs(records: list[dict], configs: list[StabilityConfig]) -> list[dict]:
    """Aggregate the seeds of each configuration and sort by score (best first)."""
    ranking = []
    for sc in configs:
        runs = [r for r in records if r["config_id"] == sc.config_id]
        if not runs:
            continue
        ious = np.array([0.0 if r["failed"] or r["val_iou"] is None else r["val_iou"] for r in runs])
        collapsed = np.array([r["failed"] or is_collapse(r.get("collapse")) for r in runs], dtype=float)
        std = float(ious.std(ddof=1)) if len(ious) > 1 else 0.0
        mean = float(ious.mean())
        rate = float(collapsed.mean())
        ranking.append(
            {
                "config_id": sc.config_id,
                "label": sc.label,
                "source": sc.source,
                "loss": sc.config.loss,
                "params": jsonable_params(sc.config.params),
                "lr": sc.config.lr,
                "mean_iou": mean,
                "std_iou": std,
                "collapse_rate": rate,
                "failures": int(sum(bool(r["failed"]) for r in runs)),
                "seeds": len(runs),
                "score": mean - STD_PENALTY * std - COLLAPSE_PENALTY * rate,
            }
        )
    return sorted(ranking, key=lambda r: -r["score"])


def confidence(ranking: list[dict]) -> dict:
    """How sure the recommendation is: the score margin over the best other loss against the seed spread."""
    if not ranking:
        return {
            "level": "low",
            "margin": None,
            "seed_spread": None,
            "explanation": "No configuration finished its stability runs.",
        }
    best = ranking[0]
    other = next((r for r in ranking[1:] if r["loss"] != best["loss"]), None)
    if other is None:
        return {
            "level": "low",
            "margin": None,
            "seed_spread": best["std_iou"],
            "explanation": "Only one loss reached the stability phase, so there is nothing to compare with.",
        }
    margin = best["score"] - other["score"]
    spread = max(best["std_iou"], other["std_iou"], MIN_SPREAD)
    ratio = margin / spread
    level = (
        "high"
        if ratio >= HIGH_CONFIDENCE_SPREADS
        else "medium"
        if ratio >= MEDIUM_CONFIDENCE_SPREADS
        else "low"
    )
    explanation = (
        f"{best['loss']} scores {margin:.3f} above the best other loss ({other['label']}), which is "
        f"{ratio:.1f}x the seed spread of IoU ({spread:.3f}); high needs {HIGH_CONFIDENCE_SPREADS:g}x, "
        f"medium {MEDIUM_CONFIDENCE_SPREADS:g}x."
    )
    if level == "low":
        explanation += (
            " The difference is within seed noise: either choice is defensible; more seeds or epochs "
        )
        explanation += "would separate them."
    return {
        "level": level,
        "margin": margin,
        "seed_spread": spread,
        "explanation": explanation,
        "runner_up": other["config_id"],
    }
