"""Run folders and reports shared by the report tests (each report is built once per session: ~1-3 s each)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from report_runs import write_run_folder

from lossadvisor.report import build_report

STAGES = ("profile", "advice", "running", "complete")


@pytest.fixture(scope="session")
def build_stage(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``build_stage(stage)`` -> the report.html of a run folder at that stage (cached per session)."""
    cache: dict[str, Path] = {}

    def build(stage: str) -> Path:
        if stage not in cache:
            folder = write_run_folder(tmp_path_factory.mktemp(f"run-{stage}") / "buildings", stage=stage)
            cache[stage] = build_report(folder)
        return cache[stage]

    return build


@pytest.fixture(scope="session")
def complete_report(build_stage: Callable[[str], Path]) -> Path:
    return build_stage("complete")
