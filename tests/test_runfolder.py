"""The run-folder contract (lossadvisor/runfolder.py): the tuner writes, and the report reads, only what it
declares; its writers keep the NaN policy and never leave half a file."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest

from lossadvisor import runfolder
from lossadvisor.report import _load, load_run
from lossadvisor.runfolder import write_atomic, write_csv, write_json

sys.path.insert(0, str(Path(__file__).parent / "report"))
from report_runs import write_run_folder  # noqa: E402

FILE_NAMES = {
    value
    for name, value in vars(runfolder).items()
    if name.isupper() and isinstance(value, str) and "." in value
}


def test_every_file_the_report_opens_is_declared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_run_folder(tmp_path / "run", stage="complete")
    (folder / "study.db").write_bytes(b"")  # present, unreadable: still only looked up by its contract name
    looked_up: list[str] = []
    real = Path.is_file

    def spy(self: Path) -> bool:
        looked_up.append(self.name)
        return real(self)

    monkeypatch.setattr(Path, "is_file", spy)
    load_run(folder)
    assert looked_up and set(looked_up) <= FILE_NAMES, set(looked_up) - FILE_NAMES
    assert set(runfolder.RUN_FILES) <= set(looked_up)  # and it reads every file the contract lists


def test_the_report_sees_only_the_contract_columns(tmp_path: Path) -> None:
    folder = write_run_folder(tmp_path / "run", stage="complete")
    for name in (runfolder.TRIALS_CSV, runfolder.STABILITY_CSV, runfolder.PER_IMAGE_CSV):
        rows = list(csv.DictReader((folder / name).open(encoding="utf-8")))
        with (folder / name).open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=[*rows[0], "undeclared"])
            writer.writeheader()
            writer.writerows({**r, "undeclared": 1} for r in rows)
    run = load_run(folder)
    # the param_<name> columns are gathered into the declared view columns "mix" and "params"
    assert list(run.trials.columns) == [*runfolder.TRIAL_COLUMNS, *runfolder.PARAM_VIEW_COLUMNS]
    assert list(run.epochs.columns) == list(runfolder.EPOCH_COLUMNS)
    assert list(run.stability.columns) == [*runfolder.STABILITY_COLUMNS, *runfolder.PARAM_VIEW_COLUMNS]
    assert "undeclared" not in run.per_image.columns
    assert all(runfolder.is_per_image_column(c) for c in run.per_image.columns)


def test_report_and_tuner_share_the_contract() -> None:
    from lossadvisor.tune.outputs import _outputs

    for name in ("TRIAL_COLUMNS", "EPOCH_COLUMNS", "RUN_COLUMNS", "TILE_COLUMNS"):
        assert getattr(_outputs, name) is getattr(runfolder, name)
    assert _load.RUN_FILES is runfolder.RUN_FILES
    # confirmation.csv is what stability.csv was, plus where a race run sits (level, steps, repetition, fold):
    # the report reads either with one schema
    race = ("level", "steps", "rep", "fold")
    assert [c for c in runfolder.RUN_COLUMNS if c not in race] == list(runfolder.STABILITY_COLUMNS)
    # one name for one concept: collapse, never collapse_kind or collapsed
    for columns in (runfolder.TRIAL_COLUMNS, runfolder.EPOCH_COLUMNS, runfolder.RUN_COLUMNS):
        assert runfolder.COLLAPSE in columns and not {"collapse_kind", "collapsed"} & set(columns)
    assert tuple(f"recall_{b}" for b in runfolder.SIZE_BUCKETS) == runfolder.RECALL_COLUMNS


def test_the_profile_writes_the_declared_per_image_columns(tmp_path: Path) -> None:
    from lossadvisor.profile import profile_masks

    masks = Path(__file__).parents[1] / "examples" / "buildings" / "masks"
    profile_masks(masks, out=tmp_path, progress=False, workers=1)
    with (tmp_path / runfolder.PER_IMAGE_CSV).open(encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert set(runfolder.PER_IMAGE_COLUMNS) <= set(header)
    assert all(runfolder.is_per_image_column(c) for c in header), header


def test_nan_policy_empty_cells_and_null(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "t.csv",
        ("a", "b", "c", "d"),
        [{"a": math.nan, "b": math.inf, "c": {"mix": 0.5}, "d": 0.25, "ignored": 1}],
    )
    assert path.read_text(encoding="utf-8").splitlines() == ["a,b,c,d", ',,"{""mix"": 0.5}",0.25']
    write_json(tmp_path / "r.json", {"x": math.nan, "y": [1.0, -math.inf], "z": (1, 2)})
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8")) == {
        "x": None,
        "y": [1.0, None],
        "z": [1, 2],
    }


def test_an_interrupted_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = write_json(tmp_path / "result.json", {"old": True})

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        write_json(target, {"new": Unserialisable()})
    assert json.loads(target.read_text(encoding="utf-8")) == {"old": True}
    write_atomic(target, b"{}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]  # no temporary file left behind


def test_collapse_vocabulary() -> None:
    assert [runfolder.is_collapse(k) for k in runfolder.COLLAPSE_KINDS] == [False, True, True]
    assert (
        not runfolder.is_collapse("") and not runfolder.is_collapse(None) and not runfolder.is_collapse("yes")
    )
