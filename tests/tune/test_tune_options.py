"""One options record (:class:`TuneOptions`): the CLI, ``tune()``, run.json's recorded command and the study
check all come from it, so an option cannot be left out of one of them."""

from __future__ import annotations

import dataclasses
import json
import shlex

import pytest
from click.testing import CliRunner

from lossadvisor.cli import cli
from lossadvisor.cli._tune import options_from_params, tune_command
from lossadvisor.errors import ConfigError
from lossadvisor.tune import TuneOptions, tune
from lossadvisor.tune.outputs._runinfo import command_line

CLI_ONLY = {"as_json", "quiet"}  # flags of the command that are not options of a run


def _other_value(f: dataclasses.Field, tmp_path):
    """A valid value of field ``f`` that is not its default (paths exist, where the CLI wants them to)."""
    accepts = f.metadata["accepts"]
    if accepts.kind is bool:
        return not f.default
    if accepts.path == "file":
        path = tmp_path / f"{f.name}.json"
        path.write_text("{}")
        return str(path)
    if accepts.path == "dir":
        return str(tmp_path / f.name)
    if accepts.kind is int:
        low = int(accepts.low) if accepts.low is not None else 0
        return max(low, f.default or 0) + 3
    if accepts.kind is float:
        return 0.25 if accepts.high is not None else 7.5
    if f.name == "confirm_budget":  # runs or a time, checked by its own parser
        return "12m"
    if f.name == "time_budget":  # a duration, none or auto, checked by its own parser
        return "7m"
    if accepts.choices is not None:  # a named choice (objective): the last one that is not the default
        return next(c for c in reversed(accepts.choices) if c != f.default)
    return f"{f.name}-value"  # storage, study name, model, device: strings


def test_every_option_with_a_flag_is_a_click_option_and_back():
    flagged = {f.name for f in TuneOptions.cli_fields()}
    assert flagged == {f.name for f in dataclasses.fields(TuneOptions)}  # every option is on the CLI
    params = {p.name for p in tune_command.params} - CLI_ONLY
    assert params == (flagged - {"report"}) | {"no_report"}
    for f in TuneOptions.cli_fields():
        assert f.metadata["flag"] in {o for p in tune_command.params for o in p.opts}, f.name


def test_every_option_round_trips_through_the_recorded_command(tmp_path):
    options = TuneOptions(**{f.name: _other_value(f, tmp_path) for f in dataclasses.fields(TuneOptions)})
    for f in dataclasses.fields(TuneOptions):  # the check below is worth something: nothing is a default
        assert getattr(options, f.name) != f.default, f.name
    command = command_line(options.to_dict())
    words = shlex.split(command)
    assert words[:2] == ["lossadvisor", "tune"]
    ctx = tune_command.make_context("tune", words[2:])  # the real CLI parser, with its types and ranges
    assert options_from_params(ctx.params) == options


def test_the_recorded_command_leaves_out_what_is_not_given(tmp_path):
    command = command_line(TuneOptions(images="im", masks="ma", folds=5).to_dict())
    words = shlex.split(command)
    assert words[words.index("--folds") + 1] == "5"
    assert "--no-report" not in words and "--timeout" not in words and "--model" not in words
    parsed = options_from_params(tune_command.make_context("tune", words[2:]).params)
    assert parsed == TuneOptions(images="im", masks="ma", folds=5)


@pytest.mark.parametrize("field", [f for f in dataclasses.fields(TuneOptions)], ids=lambda f: f.name)
def test_a_bad_value_is_refused_by_name(field):
    accepts = field.metadata["accepts"]
    if accepts.kind is object:
        pytest.skip("checked where it is used (a model callable, a ClassMap)")
    if accepts.kind is bool:
        bad = "yes"
    elif accepts.kind in (int, float) and accepts.low is not None:
        bad = accepts.low - 1
    elif accepts.kind in (int, float):
        bad = "three"
    else:
        bad = 5  # a number where a path or string is expected
    with pytest.raises(ConfigError, match=rf"The '{field.name}' option of tune must be .*; got {bad!r}\."):
        TuneOptions(**{field.name: bad})


def test_a_bad_confirm_budget_is_refused_with_the_forms_it_takes():
    with pytest.raises(
        ConfigError, match=r"--confirm-budget.*number of runs .*, a time such as 8m .* or auto"
    ):
        TuneOptions(confirm_budget="soon")
    assert TuneOptions(confirm_budget=30).confirm_budget == 30


def test_bounds_match_between_tune_and_the_cli():
    assert TuneOptions(margin=0).margin == 0
    with pytest.raises(ConfigError, match=r"'margin' option of tune must be a number in \[0, 1\); got 1"):
        TuneOptions(margin=1)
    with pytest.raises(ConfigError, match=r"'size' option of tune must be None or an integer >= 16; got 8"):
        TuneOptions(size=8)
    runner = CliRunner()
    for args in (["--margin", "1"], ["--size", "8"], ["--folds", "1"], ["--timeout", "0"]):
        result = runner.invoke(cli, ["tune", *args])
        assert result.exit_code == 2 and "Invalid value" in result.output, args


def test_an_unknown_keyword_of_tune_names_the_nearest_option():
    with pytest.raises(TypeError, match=r"'foldz'.*Did you mean 'folds'\?"):
        tune("images", "masks", foldz=5)


def test_the_defaults_are_the_library_defaults():
    from lossadvisor.io import DEFAULT_MAX_PIXELS
    from lossadvisor.tune.confirm import DEFAULT_CONFIRM_SEEDS, DEFAULT_FINALISTS, DEFAULT_MARGIN
    from lossadvisor.tune.data import DEFAULT_FOLDS

    defaults = TuneOptions()
    assert defaults.max_pixels == DEFAULT_MAX_PIXELS
    assert (defaults.folds, defaults.finalists, defaults.seeds) == (
        DEFAULT_FOLDS,
        DEFAULT_FINALISTS,
        DEFAULT_CONFIRM_SEEDS,
    )
    assert defaults.margin == DEFAULT_MARGIN


def test_objective_options_are_those_a_resumed_study_must_share():
    assert set(TuneOptions.objective_names()) == {
        "size", "crop", "epochs", "steps_per_epoch", "batch_size", "warmup_steps", "seed", "folds",
        "objective",  # a study scored by recall is not one scored by IoU (issue 21)
    }  # fmt: skip


@pytest.mark.slow
def test_a_python_run_resumes_from_its_recorded_command(tiny_dataset, tmp_path, tiny, monkeypatch):
    """The bug the record fixes: run.json's command lacked --folds/--finalists/--margin/--heartbeat, so the
    command it recorded for ``tune(folds=2)`` was refused as another study when run again."""
    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path)
    first = tune(
        tiny_dataset / "images", tiny_dataset / "masks", out=out, n_trials=3, folds=2, finalists=2,
        heartbeat=30, report=False, **tiny,
    )  # fmt: skip
    run = json.loads((out / "run.json").read_text())
    words = shlex.split(run["command"])
    for flag, value in (("--folds", "2"), ("--finalists", "2"), ("--heartbeat", "30")):
        assert words[words.index(flag) + 1] == value
    assert "--no-report" in words
    assert run["settings"]["folds"] == 2 and run["settings"]["heartbeat"] == 30
    result = CliRunner().invoke(cli, [*words[1:], "-q"])
    assert result.exit_code == 0, result.output
    again = json.loads((out / "run.json").read_text())
    assert again["status"] == "complete"
    assert again["trials"] == first.trials == 3  # the same study, resumed: no trial added
