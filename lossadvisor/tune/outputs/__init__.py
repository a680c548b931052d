"""What a run writes: the CSV tables, result.json, run.json, and a shared study's export."""

from __future__ import annotations

from lossadvisor.tune.outputs._export import export_study
from lossadvisor.tune.outputs._outputs import write_tables
from lossadvisor.tune.outputs._result import finalist_ranking, write_result
from lossadvisor.tune.outputs._runinfo import RunRecord, environment

__all__ = [
    "RunRecord",
    "environment",
    "export_study",
    "finalist_ranking",
    "write_result",
    "write_tables",
]
