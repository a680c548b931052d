"""``--time-budget`` end to end on tiny tiles: a budget too small for the defaults stops the search at its
minimum and races fewer finalists, and says so in the summary and result.json; the same command on the
finished folder trains nothing; a larger budget extends the run."""

from __future__ import annotations

import json
import logging
import shlex

from click.testing import CliRunner
from tune_studies import finished_units, open_studies

from lossadvisor.cli import cli
from lossadvisor.tune.study import counted_trials


def _args(data, out, budget: str) -> list[str]:
    return [
        "tune", "--images", str(data / "images"), "--masks", str(data / "masks"), "--out", str(out),
        "--size", "32", "--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "4", "--n-trials", "6",
        "--seeds", "1", "--folds", "2", "--confirm-budget", "18", "--threads", "1", "--no-report",
        "--time-budget", budget,
    ]  # fmt: skip


def test_a_tiny_time_budget_cuts_the_search_and_the_race_and_says_so(tiny_dataset, tmp_path, caplog):
    out = tmp_path / "run"
    # 1 second cannot pay even for the LR range tests: the search runs its minimum (one default trial of
    # as many losses as --finalists, 3), the race its smallest form (2 finalists), and the summary says so
    first = CliRunner().invoke(cli, _args(tiny_dataset, out, "1s"))
    assert first.exit_code == 0, first.output
    result = json.loads((out / "result.json").read_text())
    budget = result["budget"]
    assert budget["time_budget"] == "1s" and budget["seconds"] == 1.0
    assert budget["search"] == {
        "trials": 3, "n_trials": 6, "seconds": budget["search"]["seconds"], "stopped_by_budget": True,
        "share": 0.35,
    }  # fmt: skip
    plan = budget["confirmation"]["plan"]
    assert plan["finalists"] == 2 and not plan["fits"]
    assert plan["minimum_runs"] == 2 * 2 * 3  # 2 finalists x 2 folds x ceil(5 / 2) repetitions
    assert len(result["ranking"]) == 2 and "ce" in {r["loss"] for r in result["ranking"]}
    assert budget["confirmation"]["runs"] == plan["minimum_runs"]  # the smallest race, nothing beyond it
    assert budget["kept"] is False and budget["over_s"] > 0
    bought = budget["bought"]
    assert bought.startswith("The 1-second budget bought: 3 search trials (")
    assert "stopped by the budget before 6" in bought and "4 diagnostic runs" in bought
    assert "2 finalists (the search's leader and CE)" in bought and "exceeded by" in bought
    assert bought in first.output  # the terminal summary says it too
    study, cstudy = open_studies(out)
    assert counted_trials(study) == 3

    # the recorded command resumes the finished folder: nothing is trained again, nothing re-planned
    run = json.loads((out / "run.json").read_text())
    words = shlex.split(run["command"])
    assert words[words.index("--time-budget") + 1] == "1s"
    units = finished_units(cstudy)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lossadvisor"):  # a CLI test may have quietened it
        again = CliRunner().invoke(cli, words[1:])
    assert again.exit_code == 0, again.output
    assert "nothing new to train" in caplog.text and "planned again" not in caplog.text
    study, cstudy = open_studies(out)
    assert counted_trials(study) == 3 and finished_units(cstudy) == units
    assert json.loads((out / "result.json").read_text())["ranking"] == result["ranking"]

    # a larger budget extends: the search goes on to --n-trials, the race is planned again for the time
    # left (3 finalists), and only the runs not done yet are trained
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lossadvisor"):
        bigger = CliRunner().invoke(cli, _args(tiny_dataset, out, "10m"))
    assert bigger.exit_code == 0, bigger.output
    assert "planned again for --time-budget 10m" in caplog.text
    study, cstudy = open_studies(out)
    assert counted_trials(study) == 6
    after = finished_units(cstudy)
    extended = json.loads((out / "result.json").read_text())
    kept = {r["config_id"] for r in result["ranking"]} & {r["config_id"] for r in extended["ranking"]}
    assert kept  # CE's best is still a finalist: its runs are read back, not trained again
    for key, number in units.items():
        if key.split("/", 1)[0] in kept:
            assert after[key] == number
    assert len(after) > len(units)
    budget = extended["budget"]
    assert budget["search"]["trials"] == 6 and not budget["search"]["stopped_by_budget"]
    assert budget["confirmation"]["plan"]["finalists"] == 3 and budget["kept"] is True
    assert len(extended["ranking"]) == 3
