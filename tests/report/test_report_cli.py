"""`lossadvisor report`: a thin shell over build_report (path printed, exit codes, help)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from report_runs import write_run_folder

from lossadvisor.cli import cli


def test_report_writes_into_the_run_folder_and_prints_the_path(tmp_path: Path) -> None:
    folder = write_run_folder(tmp_path / "run", stage="advice")
    result = CliRunner().invoke(cli, ["report", str(folder), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(folder / "report.html")  # -q: nothing on stderr either
    assert (folder / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_report_out_option(tmp_path: Path) -> None:
    folder = write_run_folder(tmp_path / "run", stage="profile")
    target = tmp_path / "review.html"
    result = CliRunner().invoke(cli, ["report", str(folder), "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(target) and target.is_file()
    assert not (folder / "report.html").exists()
    # progress on stderr, one step per section, named (drawing the plots takes seconds on a real run)
    assert "The dataset" in result.stderr and "writing the HTML" in result.stderr
    assert "11/11" in result.stderr


def test_report_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "does not exist" in missing.output  # usage error
    empty = runner.invoke(cli, ["report", str(tmp_path)])
    assert empty.exit_code == 1
    assert "Error: The folder" in empty.output and "holds none of the run files" in empty.output


def test_profile_only_report_gives_an_advise_command_that_works(tmp_path: Path) -> None:
    import shlex

    from html_tables import parse

    from lossadvisor.report import build_report

    folder = write_run_folder(tmp_path / "my run", stage="profile")
    text = parse(build_report(folder).read_text(encoding="utf-8")).section_text["rules"]
    command = text.split("`")[1]
    argv = shlex.split(command)
    assert argv[:2] == ["lossadvisor", "advise"]
    result = CliRunner().invoke(cli, [*argv[1:], "--quiet"])
    assert result.exit_code == 0, result.output
    assert (folder / "recommendation.json").is_file()


def test_report_help() -> None:
    result = CliRunner().invoke(cli, ["report", "-h"])
    assert result.exit_code == 0
    assert "lossadvisor report reports/buildings" in result.output and "--out" in result.output
