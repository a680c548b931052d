"""Issue 20 at the tuner: nothing lost, nothing wrong in silence (1-bit masks, NaN tiles, reserved names,
impossible settings refused in the plan phase, memory, full disks, re-queued trials)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lossadvisor.cli import cli
from lossadvisor.errors import ConfigError
from lossadvisor.tune import tune


def _make_dataset(root: Path) -> Path:
    """conftest's ``make_dataset`` (a module-scoped fixture cannot ask for the function-scoped factory)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_tune_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_dataset(root)


TINY = {"size": 32, "epochs": 2, "steps_per_epoch": 2, "batch_size": 4, "seeds": 1, "threads": 1}


def _digests(folder: Path) -> dict[str, str]:
    """md5 of every file below ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished run (no report), shared by the tests that must leave it untouched: (data, run folder)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("finished")
    data = _make_dataset(root / "data")
    tune(data / "images", data / "masks", out=root / "run", n_trials=1, report=False, progress=False, **TINY)
    torch.set_num_threads(threads)
    return data, root / "run"


def _cli_tune(data: Path, out: Path, *extra: str):
    args = ["tune", "--images", str(data / "images"), "--masks", str(data / "masks"), "--out", str(out)]
    args += ["--size", "32", "--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "4"]
    args += ["--n-trials", "1", "--seeds", "1", "--threads", "1", "--no-report", *extra]
    return CliRunner().invoke(cli, args)


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def _one_bit_masks(data: Path) -> None:
    for path in (data / "masks").glob("*.png"):
        Image.fromarray(np.asarray(Image.open(path)) > 0).convert("1").save(path)


# --- point 1: 1-bit PNG masks, and a size switch bounded on a CPU ----------------------------------------


def test_one_bit_png_masks_train(tiny_dataset, tmp_path, tiny):
    _one_bit_masks(tiny_dataset)
    assert Image.open(next((tiny_dataset / "masks").glob("*.png"))).mode == "1"
    result = tune(
        tiny_dataset / "images",
        tiny_dataset / "masks",
        out=tmp_path / "run",
        n_trials=1,
        report=False,
        **tiny,
    )
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "complete" and result.recommended is not None


def test_the_size_switch_is_capped_on_a_cpu(monkeypatch):
    import lossadvisor.rules as rules
    from lossadvisor.tune._phases.advise import CPU_MAX_SWITCH_SIZE, follow_size_advice

    asked = SimpleNamespace(size=600, measured_share=0.4, profiled_size=128, text="")
    monkeypatch.setattr(rules, "training_size_advice", lambda profile, thresholds: asked)
    rec = SimpleNamespace(thresholds={})
    free = follow_size_advice(None, rec)
    assert free["size"] == 608  # 600 rounded up to a multiple of 16
    capped = follow_size_advice(None, rec, max_size=CPU_MAX_SWITCH_SIZE)
    assert capped["size"] == CPU_MAX_SWITCH_SIZE == 256
    assert "asks for 608 px, capped at 256 px on a CPU" in capped["message"]
    assert "--size 608" in capped["message"]


# --- point 2: NaN / Inf in a float image -----------------------------------------------------------------


@pytest.mark.parametrize(("bad", "found"), [(np.nan, "16 NaN value"), (np.inf, "16 infinite value")])
def test_a_float_image_with_nan_or_inf_is_skipped_and_listed(tmp_path, bad, found):
    import tifffile

    from lossadvisor.tune.data._cache import build_train_data
    from lossadvisor.tune.data._pairing import Pair

    pairs = []
    for i in range(6):
        image = np.random.default_rng(i).random((16, 16, 3)).astype(np.float32)
        if i == 0:
            image[2:6, 2:6, 0] = bad  # 16 pixels of one channel
        mask = np.zeros((16, 16), np.uint8)
        mask[4:9, 4:9] = 1
        tifffile.imwrite(tmp_path / f"t{i}.tif", image, photometric="rgb")
        Image.fromarray(mask).save(tmp_path / f"t{i}.png")
        pairs.append(Pair(f"t{i}", tmp_path / f"t{i}.tif", tmp_path / f"t{i}.png"))
    data = build_train_data(
        pairs, read_mask=lambda p: np.asarray(Image.open(p)), cache_dir=tmp_path / "c", fingerprint="x",
        size=16, save=False,
    )  # fmt: skip
    assert len(data.train_names) + len(data.val_names) == 5 and "t0" not in data.train_names + data.val_names
    assert len(data.skipped) == 1 and data.skipped[0].startswith("t0: ") and found in data.skipped[0]


# --- point 3: reserved study names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["lossadvisor:confirm", "lossadvisor:tasks", "x:files", "lossadvisor:confirm:tasks", " "]
)
def test_a_reserved_study_name_is_refused_and_touches_nothing(finished, name):
    data, run = finished
    before = _digests(run)
    line = _one_error_line(_cli_tune(data, run, "--study", name))
    assert "study name" in line and "Nothing was written" in line or "non-empty" in line
    assert _digests(run) == before


def test_names_that_only_look_like_companions_are_accepted():
    from lossadvisor.tune.study import check_study_name

    for name in ("lossadvisor", "roads:v2", "x:confirmation", "tasks", "files:x"):
        check_study_name(name)
    with pytest.raises(ConfigError, match="':tasks'"):
        check_study_name("roads:tasks")


# --- point 4: crop and size against the tiles and the memory, before the model's forward pass -------------


@pytest.fixture
def no_model_check(monkeypatch):
    """Fail the test if the model's check (its forward pass) runs: the refusal must come before it."""
    import lossadvisor.tune._phases.plan as plan

    def forbidden(*args, **kwargs):
        raise AssertionError("the model's forward pass ran before the refusal")

    monkeypatch.setattr(plan, "check_model", forbidden)


def test_a_crop_larger_than_the_tiles_is_refused_before_the_forward_pass(
    tiny_dataset, tmp_path, no_model_check
):
    line = _one_error_line(_cli_tune(tiny_dataset, tmp_path / "run", "--crop", "10000"))
    assert "--crop 10000 is larger than the smallest tile (32 px" in line
    assert not (tmp_path / "run").exists()


def test_a_size_that_cannot_fit_in_memory_is_refused_with_the_estimate(
    tiny_dataset, tmp_path, no_model_check
):
    from lossadvisor.tune.training import available_memory

    free = available_memory("cpu")
    line = _one_error_line(_cli_tune(tiny_dataset, tmp_path / "run", "--size", "8192"))
    needed = float(line.split("needs about ")[1].split(" GiB")[0])
    shown_free = float(line.split("cpu has ")[1].split(" GiB")[0])
    assert needed > shown_free and abs(shown_free - free / 2**30) < 2  # the machine's own free memory
    assert "--size 8192 with --batch-size 4" in line and "64 px probe" in line
    assert not (tmp_path / "run").exists()


def test_the_step_estimate_scales_with_area_and_batch_and_refuses_over_the_available():
    from lossadvisor.tune.training import check_step_memory, estimate_step_memory, resolve_model

    factory = resolve_model("compact").factory
    one = estimate_step_memory(factory, in_channels=3, out_channels=1, side=128, batch=1)
    big = estimate_step_memory(factory, in_channels=3, out_channels=1, side=256, batch=2)
    assert big.activations == pytest.approx(8 * one.activations, rel=1e-6)  # 4x the area, 2x the batch
    assert big.weights == one.weights > 0
    kwargs = {
        "in_channels": 3,
        "out_channels": 1,
        "side": 128,
        "batch": 1,
        "device": "cpu",
        "option": "--size 128",
    }
    check_step_memory(factory, available=one.peak + 1, **kwargs)
    with pytest.raises(ConfigError, match=r"needs about 0\.\d GiB .* cpu has 0\.0 GiB available"):
        check_step_memory(factory, available=one.peak - 1, **kwargs)


# --- point 6: folds against the pairs, in the plan phase ----------------------------------------------------


def test_folds_the_pairs_cannot_fill_are_refused_before_anything_runs(
    dataset_factory, tmp_path, no_model_check
):
    data = dataset_factory(tmp_path / "eight", n=8, n_empty=2)
    line = _one_error_line(_cli_tune(data, tmp_path / "run", "--folds", "5"))
    assert "5-fold confirmation needs at least 10 image/mask pairs (2 per fold); got 8" in line
    assert "--folds 4 or fewer" in line
    assert not (tmp_path / "run").exists()


def test_folds_100_on_a_finished_run_changes_nothing(finished):
    data, run = finished
    before = _digests(run)
    line = _one_error_line(_cli_tune(data, run, "--folds", "100"))
    assert "100-fold confirmation needs at least 200 image/mask pairs" in line and "got 12" in line
    assert _digests(run) == before


# --- point 7: class values that are not 0..C-1 --------------------------------------------------------------


def _values_0_1_7(data: Path) -> None:
    for i, path in enumerate(sorted((data / "masks").glob("*.png"))):
        mask = (np.asarray(Image.open(path)) > 0).astype(np.uint8)
        if i % 2:
            mask[mask > 0] = 7
        Image.fromarray(mask).save(path)


def test_class_values_0_1_7_without_a_class_map_are_refused_in_the_plan(
    tiny_dataset, tmp_path, no_model_check
):
    _values_0_1_7(tiny_dataset)
    line = _one_error_line(_cli_tune(tiny_dataset, tmp_path / "run"))
    assert "class values 0, 1, 7" in line and "0..2" in line and "--class-map" in line
    assert not (tmp_path / "run").exists()


def test_class_values_0_1_7_with_a_class_map_agree_everywhere(tiny_dataset, tmp_path, tiny):
    _values_0_1_7(tiny_dataset)
    (tmp_path / "classes.json").write_text('{"background": 0, "small": 1, "large": 7}')
    result = tune(
        tiny_dataset / "images", tiny_dataset / "masks", out=tmp_path / "run", n_trials=1, report=False,
        class_map=tmp_path / "classes.json", **tiny,
    )  # fmt: skip
    profile = json.loads((tmp_path / "run" / "profile.json").read_text())
    assert profile["num_classes"] == 3 and result.recommended is not None


# --- point 9: a dead worker's trial comes back with its fixed parameters ------------------------------------


def test_a_requeued_default_trial_keeps_its_fixed_learning_rate():
    import optuna

    from lossadvisor.tune.study._workers import RETRY_ATTR, requeue

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    study.enqueue_trial({"loss": "ce", "lr": 0.00173}, user_attrs={"default_of": "ce"})
    dead = study.ask()
    assert dead.suggest_categorical("loss", ["ce", "dice"]) == "ce"  # killed before it drew its lr
    study.tell(dead, state=optuna.trial.TrialState.FAIL)
    requeue(study, study.trials[0])
    again = study.ask()
    assert again.user_attrs["default_of"] == "ce" and again.user_attrs[RETRY_ATTR] == 0
    assert again.suggest_categorical("loss", ["ce", "dice"]) == "ce"
    assert again.suggest_float("lr", 1e-5, 1e-1, log=True) == 0.00173


# --- point 12: every file carries a schema version; a newer one is refused with one line --------------------

VERSIONED_JSON = ("profile.json", "recommendation.json", "result.json", "run.json", "lr_range_test.json")


def _versions() -> dict[str, int]:
    from lossadvisor._run_records import RESULT_SCHEMA_VERSION, RUN_SCHEMA_VERSION
    from lossadvisor.profile import PROFILE_SCHEMA_VERSION
    from lossadvisor.rules._schema import RECOMMENDATION_SCHEMA_VERSION
    from lossadvisor.runfolder import LR_RANGE_TEST_VERSION

    return {
        "profile.json": PROFILE_SCHEMA_VERSION,
        "recommendation.json": RECOMMENDATION_SCHEMA_VERSION,
        "result.json": RESULT_SCHEMA_VERSION,
        "run.json": RUN_SCHEMA_VERSION,
        "lr_range_test.json": LR_RANGE_TEST_VERSION,
    }


def test_every_json_and_npz_of_a_run_carries_its_schema_version(finished):
    _, run = finished
    for name, version in _versions().items():
        assert version >= 1 and json.loads((run / name).read_text())["schema_version"] == version, name
    with np.load(run / "samples.npz") as npz:
        assert int(npz["schema_version"]) == 1


def _loaders():
    from lossadvisor._run_records import RunSummary, TuneOutcome
    from lossadvisor.profile import DatasetProfile
    from lossadvisor.report._readers import read_lr_range_tests
    from lossadvisor.rules import Recommendation

    return {
        "profile.json": DatasetProfile.load,
        "recommendation.json": Recommendation.load,
        "result.json": TuneOutcome.load,
        "run.json": RunSummary.load,
        "lr_range_test.json": read_lr_range_tests,
    }


@pytest.mark.parametrize("name", VERSIONED_JSON)
def test_a_newer_schema_version_is_refused_with_one_line(finished, tmp_path, name):
    from lossadvisor.errors import DataError

    _, run = finished
    data = json.loads((run / name).read_text())
    data["schema_version"] = 99
    (tmp_path / name).write_text(json.dumps(data))
    with pytest.raises(DataError) as info:
        _loaders()[name](tmp_path / name)
    message = str(info.value)
    assert "\n" not in message and f"{name} has schema version 99" in message
    assert f"reads versions up to {_versions()[name]}" in message and "upgrade" in message


def test_a_newer_samples_npz_and_a_newer_result_in_the_report(finished, tmp_path):
    import shutil

    from lossadvisor.errors import DataError
    from lossadvisor.report import build_report
    from lossadvisor.report._readers import read_samples

    _, run = finished
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    with np.load(folder / "samples.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez(folder / "samples.npz", **{**arrays, "schema_version": np.array(2)})
    with pytest.raises(DataError, match="samples.npz has schema version 2"):
        read_samples(folder / "samples.npz")
    result = json.loads((folder / "result.json").read_text())
    (folder / "result.json").write_text(json.dumps({**result, "schema_version": 2}))
    html = build_report(folder).read_text()
    assert "result.json has schema version 2" in html and "holds no result.json" not in html


def test_a_result_json_with_renamed_keys_is_not_taken_for_no_result(tmp_path):
    from lossadvisor._run_records import TuneOutcome

    (tmp_path / "result.json").write_text(json.dumps({"best": {"loss": "ce"}, "certainty": "clear"}))
    with pytest.raises(TypeError, match="holds none of the keys of a TuneOutcome"):
        TuneOutcome.load(tmp_path / "result.json")


def test_the_committed_example_without_versions_still_reports(tmp_path):
    import shutil

    from lossadvisor.report import build_report

    example = Path(__file__).resolve().parents[2] / "reports" / "example-buildings"
    folder = tmp_path / "example"
    shutil.copytree(example, folder)
    for path in folder.glob("*.json"):  # as written before schema versions (issue 20.12): no version key
        data = json.loads(path.read_text())
        data.pop("schema_version", None)
        path.write_text(json.dumps(data))
    assert "schema_version" not in json.loads((folder / "result.json").read_text())  # an older file
    html = build_report(folder).read_text()
    assert "Could not read" not in html and "holds no result.json" not in html


# --- point 10: a full disk ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["report.html", "_fold0.npz"])
def test_a_full_disk_is_one_error_line_and_never_a_complete_run(tiny_dataset, tmp_path, monkeypatch, target):
    """ENOSPC from the OS (simulated at the atomic writer's rename) while writing the report or a fold
    cache."""
    import errno
    import os

    real = os.replace

    def replace(src, dst):
        if str(dst).endswith(target):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    args = ["tune", "--images", str(tiny_dataset / "images"), "--masks", str(tiny_dataset / "masks")]
    args += ["--out", str(tmp_path / "run"), "--size", "32", "--epochs", "2", "--steps-per-epoch", "2"]
    args += ["--batch-size", "4", "--n-trials", "1", "--seeds", "1", "--threads", "1", "--folds", "2"]
    args += ["--finalists", "2"]
    line = _one_error_line(CliRunner().invoke(cli, args))
    assert f"{target}: No space left on device" in line and "Free space on that disk" in line
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "failed" and target in run["error"]
    assert not (tmp_path / "run" / "report.html").exists()


# --- point 13: SIGTERM never leaves a confirmation unit RUNNING ---------------------------------------------


@pytest.mark.parametrize("where", ["claim", "train", "after_train", "store"])
def test_sigterm_anywhere_in_a_unit_never_leaves_it_running(monkeypatch, where):
    """A real SIGTERM at each point of a unit's life (claim, training, scoring, storing), five times each."""
    import os
    import signal

    import optuna
    from optuna.trial import TrialState

    import lossadvisor.tune.confirm._confirm as confirm
    from lossadvisor.tune._signals import Terminated, sigterm_as_interrupt
    from lossadvisor.tune.study import Session
    from lossadvisor.tune.study._workers import WORKER_ATTR
    from lossadvisor.tune.training import Configuration

    def kill():
        os.kill(os.getpid(), signal.SIGTERM)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    finalist = confirm.Finalist("ce-1", "ce", Configuration("ce", {}, 1e-3), 0.5, 0)
    outcome = SimpleNamespace(failed=False, image_counts=np.ones((1, 3, 2), np.int64), epochs=[])

    def train(config, seed):
        if where == "train":
            kill()
        return outcome

    def summary(out):
        if where == "after_train":
            kill()
        return {"val_iou": 0.5, "val_score": 0.5}  # outcome_summary's keys (val_score: the scored metric)

    monkeypatch.setattr(confirm, "outcome_summary", summary)
    data = SimpleNamespace(val_names=["t"])
    ctx = SimpleNamespace(
        train=train, data=data, num_classes=2, ignore_index=None, epochs=1, steps_per_epoch=1
    )
    worker = SimpleNamespace(worker=SimpleNamespace(tag={"pid": os.getpid()}))
    for _ in range(5):
        study = optuna.create_study()
        confirm.enqueue_units(study, [finalist], [confirm.Unit(0, 0, 0, "ce-1")])
        storage = study._storage
        real_attr, real_state = storage.set_trial_user_attr, storage.set_trial_state_values

        def set_attr(trial_id, key, value, real=real_attr):
            if where == "claim" and key == WORKER_ATTR:
                kill()
            return real(trial_id, key, value)

        def set_state(trial_id, state, values=None, real=real_state):
            if where == "store" and state == TrialState.COMPLETE:
                kill()
            return real(trial_id, state, values)

        monkeypatch.setattr(storage, "set_trial_user_attr", set_attr)
        monkeypatch.setattr(storage, "set_trial_state_values", set_state)
        with pytest.raises(Terminated), sigterm_as_interrupt():
            take = lambda s=study: Session.take(worker, s)  # noqa: E731
            confirm.run_units(study, [finalist], lambda unit: ctx, base_seed=0, take=take)
        states = [t.state for t in study.get_trials(deepcopy=False)]
        assert TrialState.RUNNING not in states, where
        if where == "store":  # the signal came while storing: the unit finished, whole
            assert states == [TrialState.COMPLETE] and confirm.RECORD_ATTR in study.trials[0].user_attrs
        else:
            assert states == [TrialState.FAIL] and study.trials[0].user_attrs["fail_reason"] == "interrupted"


# --- point 14: the decoded data is held at the training size, not at the raw tiles' -------------------------


def test_decoding_holds_one_raw_tile_at_a_time(tmp_path):
    import tracemalloc

    from lossadvisor.tune.data._cache import build_train_data
    from lossadvisor.tune.data._pairing import Pair

    side, n = 512, 12
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(n):
        mask = np.zeros((side, side), np.uint8)
        mask[100:200, 50 + i : 150 + i] = 255
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(tmp_path / f"i{i}.png")
        Image.fromarray(mask).save(tmp_path / f"m{i}.png")
        pairs.append(Pair(f"t{i}", tmp_path / f"i{i}.png", tmp_path / f"m{i}.png"))
    decoded = n * side * side * 3  # the raw images alone: 9.4 MB
    read = lambda p: (np.asarray(Image.open(p)) > 0).astype(np.uint8)  # noqa: E731
    settings = {"read_mask": read, "size": 32, "save": False}
    build_train_data(pairs[:6], cache_dir=tmp_path / "w", fingerprint="w", **settings)
    tracemalloc.start()  # after a warm-up: the imports it makes (cv2, sklearn) are not data
    data = build_train_data(pairs, cache_dir=tmp_path / "c", fingerprint="x", **settings)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(data.train_names) + len(data.val_names) == n and data.val_images.shape[1:] == (32, 32, 3)
    assert peak < 0.35 * decoded, f"peak {peak / 2**20:.1f} MiB for {decoded / 2**20:.1f} MiB of raw images"


# --- point 15: the smaller ones ----------------------------------------------------------------------------


def test_report_storage_on_a_missing_sqlite_file_creates_nothing(tmp_path):
    db = tmp_path / "nonexist.db"
    result = CliRunner().invoke(cli, ["report", "--storage", f"sqlite:///{db}", "--out", str(tmp_path / "r")])
    line = _one_error_line(result)
    assert "does not exist" in line and "nothing was created" in line
    assert not db.exists()


def test_a_journal_storage_in_a_missing_folder_is_refused_like_sqlite(tmp_path):
    from lossadvisor.tune.study import open_storage

    missing = tmp_path / "no" / "such" / "folder"
    with pytest.raises(ConfigError, match="folder of the journal storage .* does not exist"):
        open_storage(f"journal:{missing / 'study.journal'}")
    assert not (tmp_path / "no").exists()


def test_a_full_disk_at_study_creation_is_one_line_without_driver_or_path(tmp_path, monkeypatch):
    import optuna

    from lossadvisor.tune.study import open_storage

    def full(*args, **kwargs):
        raise RuntimeError(f"(sqlite3.OperationalError) database or disk is full: {tmp_path}/study.db")

    monkeypatch.setattr(optuna.storages, "RDBStorage", full)
    with pytest.raises(ConfigError) as info:
        open_storage(f"sqlite:///{tmp_path / 'study.db'}", label="reports/x/study.db")
    message = str(info.value)
    assert "reports/x/study.db: its disk is full" in message and "Free space" in message
    assert "driver" not in message and str(tmp_path) not in message and "\n" not in message


def _runs(entry: str, loss: str, with_runs: bool):
    from lossadvisor.tune.confirm._verdict import FinalistRuns

    counts = np.array([[[0, 5], [0, 6], [0, 7]]], dtype=np.int64)  # intersection, predicted, labelled
    return FinalistRuns(entry, loss, loss, {(0, 0): counts} if with_runs else {})


def _single_verdict(finalists):
    """The race's verdict when one finalist alone has runs (nothing to compare)."""
    from lossadvisor.tune.confirm import RaceOutcome, RaceState, race_verdict

    state = RaceState(pending=[], finished=True, stop_reason="single", level=0, alive=[finalists[0].entry])
    return race_verdict(finalists, RaceOutcome(None, 0, {}, state, [], {0: 10}, "5m", 3), [], margin=0.01)


def test_the_single_verdict_says_only_what_is_known():
    alone = _single_verdict([_runs("ce-1", "ce", True)])
    assert alone.kind == "single" and "failed or were pruned" not in alone.explanation
    assert "brought no other loss" in alone.explanation
    unfinished = _single_verdict([_runs("ce-1", "ce", True), _runs("dice-1", "dice", False)])
    assert unfinished.kind == "single" and "dice has none" in unfinished.explanation


def test_an_image_symlink_loop_is_listed_not_dropped(tiny_dataset):
    import os

    from lossadvisor.tune.data import pair_files

    loop = tiny_dataset / "images" / "loop.png"
    os.symlink(loop, loop)  # points at itself
    pairing = pair_files(tiny_dataset / "images", tiny_dataset / "masks")
    lines = [p for p in pairing.problems() if "loop.png" in p]
    assert len(lines) == 1 and "symbolic-link loop" in lines[0]
