"""Issue 11 at the tuner: a refused run never touches a finished one, a failed one says why, SIGTERM is
Ctrl-C, names are printable, shareable files carry no absolute path, the recorded command is complete."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lossadvisor._run_records import RunSummary
from lossadvisor.cli import cli
from lossadvisor.errors import StudyMismatchError
from lossadvisor.tune import tune

REPO = Path(__file__).resolve().parents[2]
SHAREABLE_SUFFIXES = (".json", ".csv", ".html")


def _digests(folder: Path) -> dict[str, str]:
    """md5 of every file below ``folder`` (cache included), by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _cli_args(data: Path, out: Path) -> list[str]:
    return [
        "tune",
        "--images",
        str(data / "images"),
        "--masks",
        str(data / "masks"),
        "--out",
        str(out),
        "--size",
        "32",
        "--epochs",
        "2",
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
    ]


@pytest.fixture
def finished(tiny_dataset, tmp_path, tiny):
    """A finished run folder (report included) and the settings that made it."""
    out = tmp_path / "run"
    tune(tiny_dataset / "images", tiny_dataset / "masks", out=out, n_trials=1, report=True, **tiny)
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    return out


# --- point 1: data loss --------------------------------------------------------------------------------


def test_a_rerun_with_other_settings_is_refused_and_touches_nothing(finished, tiny_dataset, tiny):
    before = _digests(finished)
    with pytest.raises(StudyMismatchError, match=r"epochs: 2 -> 3.*Nothing was changed"):
        tune(
            tiny_dataset / "images", tiny_dataset / "masks", out=finished, n_trials=1, **{**tiny, "epochs": 3}
        )
    assert _digests(finished) == before


def test_a_rerun_with_changed_masks_is_refused_and_touches_nothing(finished, tiny_dataset, tiny):
    before = _digests(finished)
    mask_path = tiny_dataset / "masks" / "tile_05.png"
    mask = np.array(Image.open(mask_path))
    mask[:4, :4] = 255
    Image.fromarray(mask).save(mask_path)
    with pytest.raises(StudyMismatchError, match="made from other data"):
        tune(tiny_dataset / "images", tiny_dataset / "masks", out=finished, n_trials=1, **tiny)
    assert _digests(finished) == before


def test_a_bad_storage_is_refused_before_anything_is_written(tiny_dataset, tmp_path, tiny):
    out = tmp_path / "new-run"
    result = CliRunner().invoke(
        cli, [*_cli_args(tiny_dataset, out), "--storage", "mysql://u:pw@127.0.0.1:1/db", "-q"]
    )
    assert result.exit_code == 1, result.output
    assert "pymysql" in result.output and "psycopg2" not in result.output and "pw@" not in result.output
    assert not out.exists()


def test_a_run_that_fails_after_starting_records_failed_with_its_reason(tiny_dataset, tmp_path, tiny):
    import torch

    class TrainBroken(torch.nn.Conv2d):
        """Passes tune's one-batch check (eval mode), then fails once training starts."""

        def forward(self, x):
            if self.training:
                raise RuntimeError("the model cannot be trained on this machine")
            return super().forward(x)

    def broken_model(in_channels, num_classes):
        return TrainBroken(in_channels, num_classes, 1)

    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="cannot be trained"):
        tune(
            tiny_dataset / "images",
            tiny_dataset / "masks",
            out=out,
            n_trials=1,
            model_factory=broken_model,
            **tiny,
        )
    run = RunSummary.load(out / "run.json")
    assert run.status == "failed" and run.finished
    assert run.error == "RuntimeError: the model cannot be trained on this machine"


# --- points 2, 3 and 8: odd names through the whole tuner -----------------------------------------------

HOSTILE = "evil\x1b[31m\nWARNING forged"


def test_odd_names_never_crash_or_reach_the_terminal_raw(dataset_factory, tmp_path, caplog):
    data = dataset_factory(tmp_path / "data", n=10, n_empty=2)
    images, masks = data / "images", data / "masks"
    latin1 = os.fsdecode(b"tile_caf\xe9")  # a Latin-1 name: not UTF-8, decoded with surrogate escapes
    (images / "tile_00.png").rename(images / f"{latin1}.png")
    (masks / "tile_00.png").rename(masks / f"{latin1}.png")
    Image.open(images / "tile_01.png").save(images / f"{HOSTILE}.png")  # an image without a mask
    Image.open(images / "tile_02.png").convert("RGB").save(images / "tile_02.jpg")  # two images, one stem
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, [*_cli_args(data, out), "--no-report"])
    assert result.exit_code == 0, result.output
    shown = result.output + caplog.text
    assert "\x1b" not in shown and "\nWARNING forged" not in shown and "\udce9" not in shown
    assert "evil\\x1b[31m\\nWARNING forged.png: image without a mask" in shown
    assert "tile_02.jpg, " in shown and "duplicate images" in shown
    assert "tile_02.png: mask without an image" not in shown
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    left_out = "\n".join(run["left_out"])
    assert "duplicate images" in left_out and "evil\\x1b" in left_out
    # the pair with the Latin-1 name was trained on, not skipped
    assert not any("caf" in line for line in run["left_out"])
    # every option the user gave is in the recorded command (point 8)
    assert "--threads 1" in run["command"] and "--no-report" in run["command"]
    assert "--steps-per-epoch 2" in run["command"]


# --- point 4: no absolute path in a shareable file ------------------------------------------------------


def test_shareable_files_carry_no_absolute_path(tiny_dataset, tmp_path, monkeypatch):
    elsewhere = tmp_path / "work" / "here"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    data = os.path.relpath(tiny_dataset, elsewhere)
    out = Path("../../run")
    result = CliRunner().invoke(cli, [*_cli_args(Path(data), out), "-q"])
    assert result.exit_code == 0, result.output
    run_dir = (elsewhere / out).resolve()
    files = [p for p in run_dir.rglob("*") if p.is_file() and p.suffix in SHAREABLE_SUFFIXES]
    assert {"run.json", "result.json", "report.html", "profile.json", "per_image.csv", "trials.csv"} <= {
        p.name for p in files
    }
    roots = {str(tmp_path), str(tmp_path.resolve()), str(REPO), os.path.expanduser("~")} - {"/"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for root in roots:
            assert root not in text, f"{path.name} holds the absolute path {root}"
    run = json.loads((run_dir / "run.json").read_text())
    assert run["storage"] == "sqlite:///study.db"
    assert run["settings"]["masks"] == f"{data}/masks"


# --- point 7: SIGTERM is Ctrl-C ------------------------------------------------------------------------

_SLOW_CLI = textwrap.dedent(
    """
    import sys, time
    import lossadvisor.tune.training._run as run
    real = run.train_trial

    def slow(*args, **kwargs):  # a trial that is surely running when the signal comes
        print("TRIAL-STARTED", flush=True)
        time.sleep(120)
        return real(*args, **kwargs)

    run.train_trial = slow
    from lossadvisor.cli import cli
    cli(sys.argv[1:], prog_name="lossadvisor")
    """
)


def test_sigterm_mid_trial_marks_it_interrupted_exits_143_and_resumes(tiny_dataset, tmp_path, tiny):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CLI, *_cli_args(tiny_dataset, out), "-q", "--no-report"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        line = ""
        while "TRIAL-STARTED" not in line and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line and child.poll() is not None:
                break
        assert "TRIAL-STARTED" in line, child.stderr.read()
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 143, err
    assert "Run the same command again" in err and "Traceback" not in err
    run = RunSummary.load(out / "run.json")
    assert run.status == "interrupted" and "SIGTERM" in run.reason
    with sqlite3.connect(out / "study.db") as db:
        states = db.execute(
            "SELECT t.state, a.value_json FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "LEFT JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'fail_reason' "
            "WHERE s.study_name = 'lossadvisor'"  # not the companion studies (<name>:tasks, <name>:files)
        ).fetchall()
    assert states == [("FAIL", '"interrupted"')]
    result = tune(tiny_dataset / "images", tiny_dataset / "masks", out=out, n_trials=1, report=False, **tiny)
    assert result.trials == 1
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


# --- point 6: void entries of a class map reach training ------------------------------------------------


def test_void_pixels_of_a_class_map_are_ignored_by_training(dataset_factory, tmp_path, tiny):
    data = dataset_factory(tmp_path / "data", n=10, n_empty=2)
    for path in sorted((data / "masks").glob("*.png")):
        grey = np.array(Image.open(path))
        rgb = np.zeros((*grey.shape, 3), np.uint8)
        rgb[grey == 0] = (0, 128, 0)
        rgb[grey > 0] = (255, 0, 0)
        rgb[0, :] = (0, 0, 0)  # a void border row, as many land-cover sets have
        Image.fromarray(rgb).save(path)
    cmap = tmp_path / "classes.json"
    cmap.write_text(
        json.dumps(
            [
                {"title": "background", "color": "#008000"},
                {"title": "building", "color": "#ff0000"},
                {"title": "void", "color": "#000000"},
            ]
        )
    )
    out = tmp_path / "run"
    result = tune(data / "images", data / "masks", out=out, n_trials=2, class_map=cmap, report=False, **tiny)
    trials = (out / "trials.csv").read_text()
    assert "out of range" not in trials and "FAIL" not in trials
    assert result.trials == 2
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["settings"]["ignore_index"] is None


def test_storage_messages_name_the_run_folder_not_its_resolved_path(tmp_path):
    from lossadvisor.tune.study._urls import default_storage_url, scrub

    url = default_storage_url(Path("reports/x"))
    assert url.startswith("sqlite:////")  # absolute, for the connection only
    absolute = url[len("sqlite:///") :]
    message = f"(sqlite3.OperationalError) unable to open database file: {absolute}"
    assert scrub(message, url, "reports/x/study.db") == (
        "(sqlite3.OperationalError) unable to open database file: reports/x/study.db"
    )


def test_a_refused_run_on_shared_storage_creates_no_run_folder(tiny_dataset, tmp_path, tiny, postgres_url):
    import uuid

    study = f"robust-{uuid.uuid4().hex[:8]}"
    common = {"n_trials": 1, "storage": postgres_url, "study_name": study, "report": False}
    tune(tiny_dataset / "images", tiny_dataset / "masks", out=tmp_path / "first", **common, **tiny)
    with pytest.raises(StudyMismatchError, match="epochs: 2 -> 3") as caught:
        tune(
            tiny_dataset / "images",
            tiny_dataset / "masks",
            out=tmp_path / "second",
            **common,
            **{**tiny, "epochs": 3},
        )
    assert not (tmp_path / "second").exists()
    assert "lossadvisor-ci" not in str(caught.value)  # the password never shows


def test_a_latin1_class_map_stops_tune_with_one_error_line(tiny_dataset, tmp_path):
    cmap = tmp_path / "classes.json"
    cmap.write_bytes('{"arri\u00e8re-plan": 0, "b\u00e2timent": 255}'.encode("latin-1"))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, [*_cli_args(tiny_dataset, out), "--class-map", str(cmap), "-q"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.startswith("Error:")] == [
        f"Error: --class-map: {cmap} is not UTF-8 text (byte 0xe8 at position 6); expected a UTF-8 JSON "
        "or CSV file. Re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8."
    ]
    assert not out.exists()
