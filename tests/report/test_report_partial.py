"""Partial runs render, and say plainly what is missing; damaged files and bad arguments fail clearly."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from html_tables import parse
from report_runs import write_multiclass_run_folder, write_run_folder

from lossadvisor.errors import ConfigError, DataError
from lossadvisor.report import build_report


def _sections(path: Path) -> dict[str, str]:
    return parse(path.read_text(encoding="utf-8")).section_text


def test_profile_only(build_stage: Callable[[str], Path]) -> None:
    text = _sections(build_stage("profile"))
    assert "No recommendation yet" in text["verdict"]
    assert "9 : 1" in text["dataset"]  # the dataset section is complete
    assert "no recommendation.json" in text["rules"]
    assert "no trials.csv" in text["trials"]
    assert "lr_range_test.json is missing" in text["lr-range"]
    assert "no stability.csv" in text["stability"]
    assert "samples.npz is missing" in text["samples"]
    assert "No run.json" in text["environment"]


def test_profile_and_advice(build_stage: Callable[[str], Path]) -> None:
    text = _sections(build_stage("advice"))
    assert "Not confirmed by training yet" in text["verdict"]
    assert "dice_ce" in text["verdict"] and "1.0e-04 – 1.0e-02" in text["verdict"]  # rules' first choice
    assert "rule_imbalance_level" in text["rules"]
    assert "no trials.csv" in text["trials"]


def test_running_study(build_stage: Callable[[str], Path]) -> None:
    report = build_stage("running")
    html = report.read_text(encoding="utf-8")
    assert 'id="status-banner"' in html
    assert "This study is still running" in html
    assert "16 trials had finished" in html  # 14 complete + 1 pruned + 1 failed
    text = _sections(report)
    assert "the tuned recommendation appears when the run ends" in text["verdict"]
    assert "none has finished yet" in text["stability"]


def test_running_study_before_trials_csv(tmp_path: Path) -> None:
    folder = write_run_folder(tmp_path / "run", stage="running")
    (folder / "trials.csv").write_text("number,state,loss,lr,mix,params,value\n")  # header only
    text = _sections(build_report(folder))
    assert "no trial has finished yet" in text["trials"]


def test_running_study_progress_is_read_from_study_db(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    folder = write_run_folder(tmp_path / "run", stage="running")
    (folder / "trials.csv").unlink()  # the tuner writes trials.csv when the search phase ends
    (folder / "epochs.csv").unlink()
    study = optuna.create_study(
        storage=f"sqlite:///{folder / 'study.db'}", study_name="s", direction="maximize"
    )
    for value in (0.5, 0.6):
        study.add_trial(optuna.trial.create_trial(value=value))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED))
    study.enqueue_trial({})  # WAITING: not finished, not counted
    html = build_report(folder).read_text(encoding="utf-8")
    assert "3 trials had finished" in html  # 2 complete + 1 pruned
    assert "study.db already holds 2 complete, 1 pruned trials" in _sections(folder / "report.html")["trials"]


def test_damaged_file_is_reported_not_fatal(tmp_path: Path) -> None:
    folder = write_run_folder(tmp_path / "run", stage="complete")
    (folder / "result.json").write_text("{ not json")
    text = _sections(build_report(folder))
    assert "Could not read result.json: JSONDecodeError" in text["verdict"]
    # falls back to the rules' advice, saying it is not what was tuned (issue 20.12)
    assert "result.json could not be read" in text["verdict"] and "not what was tuned" in text["verdict"]
    assert "holds no result.json" not in text["verdict"]
    assert "dice_ce" in text["trials"]


def test_missing_folder_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not exist or is not a folder.*--out"):
        build_report(tmp_path / "nope")
    with pytest.raises(DataError, match=r"holds none of the run files.*lossadvisor profile"):
        build_report(tmp_path)


def test_out_argument_is_checked(tmp_path: Path) -> None:
    folder = write_run_folder(tmp_path / "run", stage="profile")
    with pytest.raises(ConfigError, match=r"'out' argument .* must be a file path; got the folder"):
        build_report(folder, out=tmp_path)
    with pytest.raises(ConfigError, match=r"must end in \.html; got .*report\.txt"):
        build_report(folder, out=tmp_path / "report.txt")
    target = build_report(folder, out=tmp_path / "elsewhere" / "review.html")
    assert target == tmp_path / "elsewhere" / "review.html" and target.is_file()


def test_lr_range_test_as_mapping_per_loss(tmp_path: Path) -> None:
    folder = write_run_folder(tmp_path / "run", stage="complete")
    tests = json.loads((folder / "lr_range_test.json").read_text())
    (folder / "lr_range_test.json").write_text(json.dumps({t["loss"]: t for t in tests}))
    text = _sections(build_report(folder))
    assert "suspect" in text["lr-range"] and "3.0e-03" in text["lr-range"]


def test_importing_the_report_does_not_import_plotting() -> None:
    code = (
        "import sys, lossadvisor.report, lossadvisor.cli; "
        "print(sorted(m for m in ('matplotlib', 'seaborn', 'torch', 'optuna') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_figures_left_open(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    build_report(write_run_folder(tmp_path / "run", stage="advice"))
    assert plt.get_fignums() == before


def test_multiclass_run(tmp_path: Path) -> None:
    report = build_report(write_multiclass_run_folder(tmp_path / "run"))
    html = report.read_text(encoding="utf-8")
    assert "Plot not drawn" not in html
    parser = parse(html)
    classes = [row[1] for row in parser.tables["classes"][1:]]
    assert classes == ["background", "building", "road"]
    assert "17 : 1" in parser.section_text["dataset"]  # majority / minority pixels, from profile.json
    assert "road (5.0 % of pixels)" in parser.section_text["dataset"]


@pytest.mark.parametrize(
    ("status", "sentence"),
    [
        ("interrupted", "This tuning run was interrupted after 0 finished trials"),
        ("failed", "This tuning run failed"),
    ],
)
def test_interrupted_and_failed_runs_say_so(tmp_path: Path, status: str, sentence: str) -> None:
    folder = write_run_folder(tmp_path / "run", stage="advice")
    run = {
        "status": status,
        "command": "lossadvisor tune --images i --masks m",
        "started": "2026-11-28T20:00:00",
    }
    (folder / "run.json").write_text(json.dumps(run))
    html = build_report(folder).read_text(encoding="utf-8")
    assert 'id="status-banner"' in html and sentence in html
    assert f"stage: <strong>tuning {status}</strong>" in html


def test_float_sample_images_are_rescaled(tmp_path: Path) -> None:
    import numpy as np

    from lossadvisor.report import load_run

    folder = write_run_folder(tmp_path / "run", stage="profile")
    images = np.full((2, 8, 8, 3), 0.5, dtype=np.float32)  # normalised tiles
    images[:, 0, 0] = 1.0
    masks = np.zeros((2, 8, 8), dtype=np.int64)
    np.savez(
        folder / "samples.npz", images=images, masks=masks, pred__a=masks, labels=np.array('{"a": "ce"}')
    )
    samples = load_run(folder).samples
    assert samples.images.dtype == np.uint8
    assert samples.images[0, 0, 0, 0] == 255 and samples.images[0, 1, 1, 0] == 127  # 0.5 * 255 = 127.5
    assert samples.labels == {"a": "ce"}
