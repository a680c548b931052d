"""The Optuna search: the space from the advice, the search trials and the diagnostic runs."""

from __future__ import annotations

from lossadvisor.tune.search._diagnostics import (
    ATTR_PREFIX,
    DIAGNOSTIC_SEEDS,
    LR_TEST_LOSSES,
    diagnostic_configs,
    run_diagnostics,
    summarise,
)
from lossadvisor.tune.search._search import enqueue_defaults, run_search
from lossadvisor.tune.search._space import BASELINE_LOSS, SearchSpace, equal_lr_ranges

__all__ = [
    "ATTR_PREFIX",
    "BASELINE_LOSS",
    "DIAGNOSTIC_SEEDS",
    "LR_TEST_LOSSES",
    "SearchSpace",
    "diagnostic_configs",
    "enqueue_defaults",
    "equal_lr_ranges",
    "run_diagnostics",
    "run_search",
    "summarise",
]
