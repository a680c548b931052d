"""`lossadvisor losses`: the registry as a table, one entry in detail, JSON, errors; no torch import."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from lossadvisor.cli import cli
from lossadvisor.losses import LOSSES


def test_table_lists_every_loss_with_its_tuned_ranges():
    result = CliRunner().invoke(cli, ["losses"])
    assert result.exit_code == 0, result.output
    for name, spec in LOSSES.items():
        assert f"\n{name} " in result.output and spec.reference in result.output
    assert "mix=0.5 [0.1, 0.9]" in result.output
    assert "beta=0.7 [0.5, 0.9]" in result.output
    assert "gamma=0.75 [0.5, 3] log" in result.output


def test_one_loss_in_detail():
    result = CliRunner().invoke(cli, ["losses", "tversky"])
    assert result.exit_code == 0
    assert "alpha=None: a float in [0, 1] or None" in result.output
    assert "Weight of FALSE POSITIVES" in result.output and "Weight of FALSE NEGATIVES" in result.output
    assert 'build_loss("tversky", ...) or TverskyLoss(...)' in result.output


def test_json_round_trips_the_registry():
    result = CliRunner().invoke(cli, ["losses", "--json"])
    payload = json.loads(result.output)
    assert [entry["name"] for entry in payload] == list(LOSSES)
    mix = next(p for p in payload[list(LOSSES).index("dice_ce")]["params"] if p["name"] == "mix")
    assert (mix["low"], mix["high"], mix["tunable"], mix["bounds"]) == (0.1, 0.9, True, [0.0, 1.0])
    single = json.loads(CliRunner().invoke(cli, ["losses", "focal", "--json"]).output)
    assert single["class_name"] == "FocalLoss"


def test_unknown_name_is_one_error_line_with_a_suggestion():
    result = CliRunner().invoke(cli, ["losses", "lovas"])
    assert result.exit_code == 1
    assert "Error: Unknown loss 'lovas'. Did you mean 'lovasz'?" in result.output


def test_help_has_an_example_block():
    result = CliRunner().invoke(cli, ["losses", "-h"])
    assert result.exit_code == 0 and "lossadvisor losses dice_ce" in result.output


def test_the_command_does_not_import_torch():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from lossadvisor.cli import cli\n"
        "result = CliRunner().invoke(cli, ['losses', '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
