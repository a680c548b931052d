"""The finalists' confirmation as a race of paired k-fold repetitions (``<name>:confirm``), the Bayesian
correlated t-test over the runs, and the verdict."""

from __future__ import annotations

from lossadvisor.tune.confirm._confirm import (
    CONFIRM_STEP_FACTOR,
    DEFAULT_CONFIRM_SEEDS,
    DEFAULT_FINALISTS,
    Collected,
    Finalist,
    collect,
    enqueue_units,
    finalists_from_json,
    finalists_to_json,
    race_alone,
    run_units,
    select_finalists,
)
from lossadvisor.tune.confirm._race import (
    DEFAULT_CONFIRM_BUDGET,
    RaceConfig,
    RaceState,
    Unit,
    final_decision,
    level_runs,
    order_between_levels,
    parse_budget,
    race_state,
)
from lossadvisor.tune.confirm._verdict import DEFAULT_MARGIN, RaceOutcome, race_verdict, run_iou

__all__ = [
    "CONFIRM_STEP_FACTOR",
    "DEFAULT_CONFIRM_BUDGET",
    "DEFAULT_CONFIRM_SEEDS",
    "DEFAULT_FINALISTS",
    "DEFAULT_MARGIN",
    "Collected",
    "Finalist",
    "RaceConfig",
    "RaceOutcome",
    "RaceState",
    "Unit",
    "collect",
    "enqueue_units",
    "final_decision",
    "finalists_from_json",
    "finalists_to_json",
    "level_runs",
    "order_between_levels",
    "parse_budget",
    "race_alone",
    "race_state",
    "race_verdict",
    "run_iou",
    "run_units",
    "select_finalists",
]
