"""A finished run folder written by an earlier version (the committed ``reports/example-buildings/``) still
opens, resumes from its recorded command without training anything, and reports: the result it writes
again is the one it had, field for field."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lossadvisor._run_records import LRRangeTests, RunSummary, TuneOutcome
from lossadvisor.cli import cli
from lossadvisor.report import load_run

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "reports" / "example-buildings"


def test_the_example_folder_opens_as_records():
    outcome = TuneOutcome.load(EXAMPLE / "result.json")
    assert outcome.verdict is not None and outcome.verdict.comparisons
    assert outcome.recommended.config_id == outcome.verdict.recommended
    assert all(c.per_run for c in outcome.verdict.comparisons)
    run = RunSummary.load(EXAMPLE / "run.json")
    assert run.status == "complete" and run.timings is not None and run.timings.phases["total_s"] > 0
    assert not run.extra  # every key of run.json is declared
    tests = LRRangeTests.load(EXAMPLE / "lr_range_test.json").tests
    assert {t.loss for t in tests} == {"ce", "dice"} and all(len(t.lrs) == len(t.losses) > 10 for t in tests)
    folder = load_run(EXAMPLE)
    assert folder.result is not None and folder.lr_range_tests == tests


@pytest.mark.slow
def test_the_example_folder_resumes_from_its_command_and_reports(tmp_path, monkeypatch):
    out = tmp_path / "example"
    shutil.copytree(EXAMPLE, out)
    before = json.loads((EXAMPLE / "result.json").read_text())
    words = shlex.split(RunSummary.load(EXAMPLE / "run.json").command)
    words[words.index("--out") + 1] = str(out)
    monkeypatch.chdir(ROOT)  # the recorded data folders are relative to the repository
    result = CliRunner().invoke(cli, [*words[1:], "--threads", "1", "-q"])
    assert result.exit_code == 0, result.output
    run = RunSummary.load(out / "run.json")
    assert run.status == "complete" and run.trials == 10
    assert run.timings.runs == 0  # nothing was trained again: every trial and run was read back
    after = json.loads((out / "result.json").read_text())
    # Optuna's parameter importances are a random forest's (unseeded): everything else is the stored runs'
    before.pop("param_importances"), after.pop("param_importances")
    # what the budget bought is counted from the stored runs (30: 18 at the first level, 12 at the second),
    # and the plan made when the example ran is read back, not made again; the wall time of this resume is not
    # the example's, so the rest of the budget block is compared field by field where it is about the runs
    budget, kept = after.pop("budget"), before.pop("budget")
    assert budget["confirmation"]["runs"] == kept["confirmation"]["runs"] == 30
    assert budget["confirmation"]["plan"] == kept["confirmation"]["plan"]
    assert after == before
    assert (out / "report.html").stat().st_size > 10_000
