from __future__ import annotations

import inspect

import pytest
from click.testing import CliRunner

import lossadvisor.tune as tune_pkg
from lossadvisor._run_records import TuneOutcome
from lossadvisor.cli import cli
from lossadvisor.cli._tune import EXIT_INTERRUPTED, tune_command


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_help_has_an_example(runner):
    result = runner.invoke(cli, ["tune", "-h"])
    assert result.exit_code == 0
    assert "lossadvisor tune --images examples/buildings/images" in result.output


def test_cli_defaults_match_the_python_api():
    api = inspect.signature(tune_pkg.tune).parameters
    options = {p.name: p.default for p in tune_command.params}
    names = ("size", "epochs", "batch_size", "warmup_steps", "n_trials", "seeds", "seed", "device")
    for name in (*names, "objective"):
        assert options[name] == api[name].default, name


def test_missing_folder_is_one_error_line(runner, tmp_path):
    result = runner.invoke(cli, ["tune", "--images", str(tmp_path / "nope"), "--masks", str(tmp_path)])
    assert result.exit_code == 1
    assert "Error: The images folder" in result.output


def test_ctrl_c_exits_130_and_says_how_to_resume(runner, monkeypatch, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tune_pkg, "tune", interrupted)
    result = runner.invoke(cli, ["tune", "--storage", "postgresql://me:hunter2@db/optuna", "-q"])
    assert result.exit_code == EXIT_INTERRUPTED == 130
    assert "Run the same command again" in result.output
    assert "hunter2" not in result.output and "me:***@db" in result.output


def test_a_tiny_study_from_the_command_line(runner, tiny_dataset, tmp_path):
    out = tmp_path / "run"
    args = [
        "tune",
        "--images",
        str(tiny_dataset / "images"),
        "--masks",
        str(tiny_dataset / "masks"),
        "--out",
        str(out),
        "--size",
        "32",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "4",
        "--n-trials",
        "1",
        "--seeds",
        "1",
        "--confirm-budget",
        "18",
        "--threads",
        "1",
        "--no-report",
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "finalist" in result.output and "confirm" in result.output and "Recommended:" in result.output
    assert "Diagnostics, not ranked" in result.output
    outcome = TuneOutcome.load(out / "result.json")
    assert outcome.recommended.loss in result.output
    assert f"Confirmed on compact, {outcome.model.parameters:,} parameters." in result.output
