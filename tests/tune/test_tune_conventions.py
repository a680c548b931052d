"""Fitting the tools users already run: `tune --json`, CSVs that load flat in pandas, shell completion, and
optuna-dashboard on a run's study.db (started for real, read through its HTTP API)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

BIN = Path(sys.executable).parent
DASHBOARD_START_S = 90  # the dashboard imports optuna and opens the storage before it answers


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", **extra}


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    """One tiny study run through the real console script with --json: (run folder, stdout, stderr)."""
    spec = importlib.util.spec_from_file_location("tune_tiles", Path(__file__).with_name("conftest.py"))
    tiles = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiles)  # make_dataset, outside a function-scoped fixture
    make_dataset = tiles.make_dataset
    root = tmp_path_factory.mktemp("conventions")
    data = make_dataset(root / "data")
    out = root / "run"
    args = [
        str(BIN / "lossadvisor"), "tune", "--images", str(data / "images"), "--masks", str(data / "masks"),
        "--out", str(out), "--size", "32", "--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "4",
        "--seeds", "1", "--confirm-budget", "18", "--threads", "1", "--n-trials", "3", "--no-report",
        "--json",
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout, proc.stderr


def test_json_prints_result_json_and_nothing_else(json_run):
    out, stdout, stderr = json_run
    printed = json.loads(stdout)  # the whole of stdout is one JSON document
    assert printed == json.loads((out / "result.json").read_text())
    assert printed["model"]["name"] == "compact" and printed["recommended"]["loss"]
    assert "Wrote" in stderr  # the chatter went to stderr


def test_csvs_load_flat_in_pandas(json_run):
    out, _, _ = json_run
    for name in ("trials.csv", "confirmation.csv", "diagnostics.csv", "confirmation_tiles.csv", "epochs.csv"):
        frame = pd.read_csv(out / name)
        assert "params" not in frame.columns
        for column in frame.columns:
            text = [v for v in frame[column].dropna() if isinstance(v, str)]
            assert not any(v.startswith(("{", "[")) for v in text), f"{name}:{column} holds JSON"
    trials = pd.read_csv(out / "trials.csv")
    study = json.loads((out / "result.json").read_text())
    assert study["rules_first_choice"]["loss"] in set(trials["loss"])
    # the imbalance-aware parameter of whichever of weighted CE / Tversky the rules ranked in: a float column,
    # on the side of the rare foreground (pos_weight above 1; Tversky's false-negative weight beta, searched
    # over [0.5, 0.9], at least 0.5)
    weighted = trials[trials["loss"] == "weighted_ce"]
    tversky = trials[trials["loss"] == "tversky"]
    assert not (weighted.empty and tversky.empty)
    if not weighted.empty:
        assert weighted["param_pos_weight"].dtype.kind == "f" and (weighted["param_pos_weight"] > 1).all()
    if not tversky.empty:
        assert tversky["param_beta"].dtype.kind == "f" and (tversky["param_beta"] >= 0.5).all()
    dice_ce = trials[trials["loss"] == "dice_ce"]
    assert not dice_ce.empty and dice_ce["param_mix"].between(0, 1).all()
    # a loss without the parameter leaves the cell empty
    assert trials.loc[trials["loss"] == "ce", "param_mix"].isna().all()


def test_shell_completion_script_and_model_presets():
    exe = str(BIN / "lossadvisor")
    source = subprocess.run([exe], capture_output=True, text=True, timeout=60,
                            env=_env(_LOSSADVISOR_COMPLETE="bash_source"))  # fmt: skip
    assert "_lossadvisor_completion" in source.stdout and "complete " in source.stdout
    words = subprocess.run(
        [exe], capture_output=True, text=True, timeout=60,
        env=_env(_LOSSADVISOR_COMPLETE="bash_complete", COMP_WORDS="lossadvisor tune --model monai",
                 COMP_CWORD="3"),
    )  # fmt: skip
    assert words.stdout.split() == ["plain,monai-unet", "plain,monai-segresnet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode("utf-8"))


@pytest.mark.skipif(shutil.which("optuna-dashboard", path=str(BIN)) is None, reason="optuna-dashboard absent")
def test_optuna_dashboard_shows_every_trial_with_loss_and_real_lr(json_run, tmp_path):
    out, _, _ = json_run
    trials = pd.read_csv(out / "trials.csv")
    port = _free_port()
    log = (tmp_path / "dashboard.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "optuna-dashboard"), f"sqlite:///{out / 'study.db'}", "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DASHBOARD_START_S
        while True:
            try:
                studies = _get(f"http://127.0.0.1:{port}/api/studies")
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "dashboard.log").read_text()
                assert time.monotonic() < deadline, "optuna-dashboard did not answer"
                time.sleep(0.5)
        ids = {s["study_name"]: s["study_id"] for s in studies["study_summaries"]}
        detail = _get(f"http://127.0.0.1:{port}/api/studies/{ids['lossadvisor']}?after=0")
        confirm = _get(f"http://127.0.0.1:{port}/api/studies/{ids['lossadvisor:confirm']}?after=0")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    shown = {t["number"]: t for t in detail["trials"]}
    assert sorted(shown) == sorted(trials["number"])
    for row in trials.itertuples():
        trial = shown[row.number]
        params = {p["name"]: p["param_external_value"] for p in trial["params"]}
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert params["loss"] == row.loss
        assert math.isclose(float(attrs["lr"]), row.lr, rel_tol=1e-9)  # the real learning rate
        assert json.loads(attrs["params"]) == {
            k[len("param_") :]: v for k, v in row._asdict().items() if k.startswith("param_") and v == v
        }
    settings = {a["key"]: a["value"] for a in detail["user_attrs"]}
    assert json.loads(settings["objective_settings"])["model"] == "compact"
    # the confirmation runs: one trial per (finalist, level, repetition, fold) of the companion study, same
    # loss and lr
    confirmation = pd.read_csv(out / "confirmation.csv")
    runs = {}
    for trial in confirm["trials"]:
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        if trial["state"] == "Complete":
            key = (attrs["entry"], int(attrs["level"]), int(attrs["rep"]), int(attrs["fold"]))
            runs[key] = (attrs, trial["values"][0])
    assert len(runs) == len(confirmation) > 0
    for row in confirmation.itertuples():
        attrs, value = runs[(row.config_id, row.level, row.rep, row.fold)]
        assert attrs["loss"] == row.loss and math.isclose(float(attrs["lr"]), row.lr, rel_tol=1e-9)
        assert math.isclose(value, row.val_iou if row.val_iou == row.val_iou else 0.0, abs_tol=1e-9)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"mix": 0.3},
        {"pos_weight": 4.73, "batch_dice": True},
        {"class_weights": [0.5, 1.0, 20.0], "gamma": 2},
    ],
)
def test_param_columns_round_trip(params):
    from lossadvisor.runfolder import flat_params, params_from_flat

    flat = flat_params(params)
    assert all(k.startswith("param_") and not isinstance(v, (list, dict)) for k, v in flat.items())
    assert params_from_flat({"lr": 0.01, "loss": "x", **flat}) == params


def test_every_option_of_every_command_is_in_the_readme():
    from lossadvisor.cli import cli

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [
        f"lossadvisor {name} {opt}"
        for name, command in sorted(cli.commands.items())
        for param in command.params
        for opt in getattr(param, "opts", [])
        if opt.startswith("--") and opt not in readme
    ]
    assert not missing, f"options not documented in README.md: {missing}"
    assert "_LOSSADVISOR_COMPLETE=bash_source lossadvisor" in readme
    assert "optuna-dashboard sqlite:///" in readme
