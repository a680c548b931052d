"""The finalists' paired k-fold confirmation (``<name>:confirm``) and the verdict over it."""

from __future__ import annotations

from lossadvisor.tune.confirm._confirm import (
    CONFIRM_STEP_FACTOR,
    DEFAULT_CONFIRM_SEEDS,
    DEFAULT_FINALISTS,
    collect,
    enqueue_units,
    finalists_from_json,
    finalists_to_json,
    run_units,
    select_finalists,
)
from lossadvisor.tune.confirm._verdict import DEFAULT_MARGIN, decide, run_iou

__all__ = [
    "CONFIRM_STEP_FACTOR",
    "DEFAULT_CONFIRM_SEEDS",
    "DEFAULT_FINALISTS",
    "DEFAULT_MARGIN",
    "collect",
    "decide",
    "enqueue_units",
    "finalists_from_json",
    "finalists_to_json",
    "run_iou",
    "run_units",
    "select_finalists",
]
