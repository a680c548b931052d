"""Extending a finished run (issue 17 point 4, issue 20 point 5): a raised --n-trials runs the new trials,
re-chooses the finalists and trains only the confirmation runs not done yet; a finished run's recorded command
is accepted again; nothing is ever left waiting or ignored in silence."""

from __future__ import annotations

import json
import logging
import shlex

from click.testing import CliRunner
from optuna.trial import TrialState
from tune_studies import finished_units, open_studies

from lossadvisor.cli import cli
from lossadvisor.tune import tune
from lossadvisor.tune.study import counted_trials
from lossadvisor.tune.study._session import PLAN_ATTR, PLAN_TRIALS_ATTR


def test_a_raised_n_trials_extends_the_finished_run(tiny_dataset, tmp_path, tiny, caplog):
    out = tmp_path / "run"
    settings = dict(out=out, folds=2, finalists=2, report=False, **{**tiny, "confirm_budget": "12"})
    tune(tiny_dataset / "images", tiny_dataset / "masks", n_trials=2, **settings)
    study, cstudy = open_studies(out)
    before_units = finished_units(cstudy)
    before_finalists = study.user_attrs[PLAN_ATTR]
    assert counted_trials(study) == 2 and study.user_attrs[PLAN_TRIALS_ATTR] == 2

    with caplog.at_level(logging.WARNING, logger="lossadvisor"):  # a CLI test may have quietened it
        tune(tiny_dataset / "images", tiny_dataset / "masks", n_trials=3, **settings)
    study, cstudy = open_studies(out)
    assert counted_trials(study) == 3  # the new trials ran
    assert not study.get_trials(states=(TrialState.WAITING,))  # no default trial left waiting
    assert not cstudy.get_trials(states=(TrialState.WAITING, TrialState.RUNNING))
    assert "Extending the finished search from 2 to 3 trials" in caplog.text
    after = finished_units(cstudy)
    if study.user_attrs[PLAN_ATTR] != before_finalists:  # the new trial changed the choice: chosen again
        assert study.user_attrs[PLAN_TRIALS_ATTR] == 3
    else:  # the same finalists as before: nothing re-chosen, and every run read back, none trained again
        assert study.user_attrs[PLAN_TRIALS_ATTR] == 2 and after == before_units
    kept = {e["entry"] for e in before_finalists} & {e["entry"] for e in study.user_attrs[PLAN_ATTR]}
    assert kept  # CE's default trial is still CE's best: its finalist and its runs stay
    for key, number in before_units.items():  # a kept finalist's runs are read back, never trained again
        if key.split("/", 1)[0] in kept:
            assert after[key] == number
    entries = {e["entry"] for e in study.user_attrs[PLAN_ATTR]}
    result = json.loads((out / "result.json").read_text())
    assert {r["config_id"] for r in result["ranking"]} == entries  # the verdict is over the new finalists
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["trials"] == 3 and run["settings"]["n_trials"] == 3


def test_the_recorded_command_of_a_finished_run_is_accepted_again(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    args = [
        "tune", "--images", str(tiny_dataset / "images"), "--masks", str(tiny_dataset / "masks"),
        "--out", str(out), "--size", "32", "--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "4",
        "--n-trials", "2", "--seeds", "1", "--folds", "2", "--finalists", "2", "--margin", "0.02",
        "--confirm-budget", "12", "--threads", "1", "--no-report",
    ]  # fmt: skip
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    run = json.loads((out / "run.json").read_text())
    recorded = shlex.split(run["command"])
    assert recorded[:2] == ["lossadvisor", "tune"]
    for flag in ("--folds", "--finalists", "--margin", "--confirm-budget"):
        assert flag in recorded
    study, cstudy = open_studies(out)
    units = finished_units(cstudy)
    again = CliRunner().invoke(cli, recorded[1:])
    assert again.exit_code == 0, again.output
    assert "nothing new to train" in again.output  # said, not silent
    study, cstudy = open_studies(out)
    assert counted_trials(study) == 2 and finished_units(cstudy) == units  # nothing trained twice
    # run.json now describes the re-read, and keeps the record of the run that did the training
    rerun = json.loads((out / "run.json").read_text())
    assert rerun["timings"]["runs"] == 0 and run["timings"]["runs"] > 0
    (kept,) = rerun["earlier_invocations"]
    assert kept == {
        "command": run["command"], "status": "complete", "started": run["started"],
        "finished": run["finished"], "duration_s": run["duration_s"], "train_s": run["timings"]["train_s"],
        "runs": run["timings"]["runs"],
    }  # fmt: skip
    third = CliRunner().invoke(cli, recorded[1:])
    assert third.exit_code == 0, third.output
    history = json.loads((out / "run.json").read_text())["earlier_invocations"]
    assert [h["started"] for h in history] == [run["started"], rerun["started"]]  # oldest first
