"""Diagnostics: plain CE and plain Dice at the learning rate an LR range test picks, never ranked.

"What a finder-picked learning rate would have given you": the fastai habit of training at the LR finder's
suggestion, measured on this data. It shows the collapse a high suggested rate can cause, and how far the
tuned finalists are from it; it is not a contender (the suggestion for a bounded loss reflects the sweep,
not the data, and lies outside the searched range), so it is never in the ranking, never the runner-up and
never a sample overlay. Each configuration is trained with ``DIAGNOSTIC_SEEDS`` seeds on the search split at
the search budget; runs are stored as study user attributes (``diagnostic:<config_id>:<seed>``) the moment
they finish, so a resume reads them back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from lossadvisor._run_records import RankedConfig
from lossadvisor.runfolder import COLLAPSE, is_collapse
from lossadvisor.tune.search._space import SearchSpace
from lossadvisor.tune.training import (
    Configuration,
    RunContext,
    config_id,
    describe,
    jsonable_params,
    outcome_summary,
)

LR_TEST_LOSSES = ("ce", "dice")
DIAGNOSTIC_SEEDS = 2
ATTR_PREFIX = "diagnostic:"


@dataclass(frozen=True)
class DiagnosticConfig:
    """A configuration at an LR-range-test rate."""

    config_id: str
    label: str
    config: Configuration


def diagnostic_configs(space: SearchSpace, lr_suggestions: dict[str, float]) -> list[DiagnosticConfig]:
    """Plain CE and plain Dice (the rules' fixed parameters, e.g. batch Dice) at their suggested rates."""
    out = []
    for loss in LR_TEST_LOSSES:
        if loss not in lr_suggestions:
            continue
        base = space.default_configuration(loss) if loss in space.entries else Configuration(loss, {}, 0.0)
        config = Configuration(loss, base.params, float(lr_suggestions[loss]))
        out.append(
            DiagnosticConfig(config_id(config), f"{loss} at the LR-test rate: {describe(config)}", config)
        )
    return out


def run_diagnostics(
    study,
    configs: list[DiagnosticConfig],
    ctx: RunContext,
    *,
    seeds: int = DIAGNOSTIC_SEEDS,
    on_run: Callable[[], None] | None = None,
    queue=None,
) -> list[dict]:
    """Run every (configuration, seed) not yet stored in the study; return all records.

    With ``queue`` (a :class:`~._tasks.TaskQueue`), each run is a unit of the study's task queue, done by
    exactly one of the workers sharing the study; every worker returns the same records.
    """
    if queue is not None:
        units = {
            f"{ATTR_PREFIX}{dc.config_id}:{ctx.seed + k}": (dc, ctx.seed + k)
            for dc in configs
            for k in range(seeds)
        }

        def work(key: str, spec: dict) -> dict:
            dc, seed = units[key]
            return _diagnostic_run(dc, seed, ctx)

        queue.ensure({key: {"config_id": dc.config_id, "seed": seed} for key, (dc, seed) in units.items()})
        stored = queue.run(units, work, on_done=on_run)
        return [stored[key] for key in units]
    records = []
    for dc in configs:
        for k in range(seeds):
            seed = ctx.seed + k
            key = f"{ATTR_PREFIX}{dc.config_id}:{seed}"
            stored = study.user_attrs.get(key)
            if stored is None:
                stored = _diagnostic_run(dc, seed, ctx)
                study.set_user_attr(key, stored)
                if on_run is not None:
                    on_run()
            records.append(stored)
    return records


def _diagnostic_run(dc: DiagnosticConfig, seed: int, ctx: RunContext) -> dict:
    outcome = ctx.train(dc.config, seed=seed)
    return {
        "config_id": dc.config_id,
        "label": dc.label,
        "source": "lr_range_test",
        "loss": dc.config.loss,
        "lr": dc.config.lr,
        "params": jsonable_params(dc.config.params),
        "seed": seed,
        **outcome_summary(outcome),
        "epochs": [asdict(r) for r in outcome.epochs],
    }


def summarise(records: list[dict]) -> tuple[RankedConfig, ...]:
    """One row per configuration: mean and spread of the final IoU, collapse rate, failures (failed = 0)."""
    rows = []
    for cid in dict.fromkeys(r["config_id"] for r in records):
        runs = [r for r in records if r["config_id"] == cid]
        ious = np.array([0.0 if r["failed"] or r["val_iou"] is None else r["val_iou"] for r in runs])
        first = runs[0]
        rows.append(
            RankedConfig(
                config_id=cid,
                label=first["label"],
                loss=first["loss"],
                lr=first["lr"],
                params=first["params"],
                runs=len(runs),
                mean_iou=float(ious.mean()),
                std_iou=float(ious.std(ddof=1)) if len(ious) > 1 else 0.0,
                collapse_rate=float(np.mean([r["failed"] or is_collapse(r.get(COLLAPSE)) for r in runs])),
                failures=int(sum(bool(r["failed"]) for r in runs)),
            )
        )
    return tuple(rows)
