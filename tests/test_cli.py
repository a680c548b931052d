"""The command line: exit codes (0 ok, 1 data error, 2 usage error), --version, -h, docs for every command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lossadvisor import __version__
from lossadvisor.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def test_version_and_help(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    for flag in ("-h", "--help"):
        result = runner.invoke(cli, [flag])
        assert result.exit_code == 0 and "profile" in result.output


def test_profile_table_and_files(runner, example_data, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        cli,
        [
            "profile",
            str(example_data / "masks"),
            "--out",
            str(out),
            "--quiet",
            "--train-size",
            "128",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Dataset buildings: 31 of 31 files read, 0 skipped" in result.output
    assert "resized to 128" in result.output
    assert (out / "profile.json").is_file() and (out / "per_image.csv").is_file()


def test_profile_json_and_default_run_dir(runner, example_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["profile", str(example_data / "masks"), "--json", "--workers", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["files_read"] == 31 and data["task"] == "binary"
    assert (tmp_path / "reports" / "buildings" / "profile.json").is_file()


def test_profile_lists_skipped_files(runner, tmp_path):
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[2:4, 2:4] = 255
    Image.fromarray(mask).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"")
    result = runner.invoke(
        cli, ["profile", str(tmp_path), "--out", str(tmp_path / "o"), "-q", "--workers", "1"]
    )
    assert result.exit_code == 0
    assert "Skipped files (1):" in result.output and "broken.png: expected a mask image" in result.output


def test_data_errors_exit_1_without_traceback(runner, tmp_path):
    result = runner.invoke(cli, ["profile", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: SOURCE") and "Traceback" not in result.output
    result = runner.invoke(cli, ["profile", str(tmp_path)])  # an empty folder
    assert result.exit_code == 1 and result.output.startswith("Error: No mask files in")
    (tmp_path / "a.png").write_bytes(b"")
    result = runner.invoke(cli, ["profile", str(tmp_path), "--workers", "1", "--quiet"])
    assert result.exit_code == 1 and "Error: No usable mask" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [["profile"], ["profile", ".", "--connectivity", "5"], ["profile", ".", "--workers", "0"], ["nonsense"]],
)
def test_usage_errors_exit_2(runner, args):
    assert runner.invoke(cli, args).exit_code == 2


def test_every_command_has_help_and_is_in_the_readme(runner):
    readme = README.read_text(encoding="utf-8")
    for name, command in sorted(cli.commands.items()):
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert command.help and len(command.help.split()) >= 5, f"`lossadvisor {name}` has no real help text"
        assert f"lossadvisor {name}" in readme, f"`lossadvisor {name}` is not documented in README.md"
