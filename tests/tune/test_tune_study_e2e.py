"""End-to-end studies on a tiny synthetic dataset (32x32 tiles, 2 epochs of 2 steps)."""

from __future__ import annotations

import contextlib
import csv
import json
import uuid

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState

from lossadvisor._run_records import LRRangeTests, RunSummary, TuneOutcome
from lossadvisor.errors import ConfigError, StudyMismatchError
from lossadvisor.tune import _api, tune
from lossadvisor.tune.outputs._outputs import EPOCH_COLUMNS, RUN_COLUMNS, TILE_COLUMNS, TRIAL_COLUMNS
from lossadvisor.tune.study._urls import driver_url
from lossadvisor.tune.training import _run

RUN_FILES = (
    "profile.json",
    "per_image.csv",
    "recommendation.json",
    "run.json",
    "study.db",
    "trials.csv",
    "epochs.csv",
    "confirmation.csv",
    "confirmation_tiles.csv",
    "diagnostics.csv",
    "lr_range_test.json",
    "result.json",
    "samples.npz",
)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _study(run_dir):
    return optuna.load_study(study_name="lossadvisor", storage=f"sqlite:///{run_dir / 'study.db'}")


def test_study_end_to_end_writes_every_file(tiny_dataset, tmp_path, tiny):
    out = tmp_path / "run"
    result = tune(tiny_dataset / "images", tiny_dataset / "masks", out=out, n_trials=3, report=True, **tiny)
    for name in (*RUN_FILES, "report.html"):
        assert (out / name).is_file(), name
    trials = _rows(out / "trials.csv")
    assert len(trials) == 3
    assert [c for c in trials[0] if not c.startswith("param_")] == list(TRIAL_COLUMNS)
    assert list(_rows(out / "epochs.csv")[0]) == list(EPOCH_COLUMNS)
    diagnostics = _rows(out / "diagnostics.csv")
    assert [c for c in diagnostics[0] if not c.startswith("param_")] == list(RUN_COLUMNS)
    # plain CE and plain Dice at the LR-test rate run as diagnostics, 2 seeds each, never as finalists
    assert (
        sorted((r["loss"], r["source"]) for r in diagnostics)
        == [("ce", "lr_range_test")] * 2 + [("dice", "lr_range_test")] * 2
    )
    confirmation = _rows(out / "confirmation.csv")
    assert [c for c in confirmation[0] if not c.startswith("param_")] == list(RUN_COLUMNS)
    finalists = {r["config_id"] for r in confirmation}
    # every finalist ran the same units: the race's minimum at the tiny budget, 2 repetitions x 3 folds
    units = {
        cid: {(r["level"], r["rep"], r["fold"]) for r in confirmation if r["config_id"] == cid}
        for cid in finalists
    }
    assert all(u == {("0", str(r), str(f)) for r in range(2) for f in range(3)} for u in units.values())
    assert "ce" in {r["loss"] for r in confirmation}
    tiles = _rows(out / "confirmation_tiles.csv")
    assert list(tiles[0]) == list(TILE_COLUMNS)
    for cid in finalists:  # every tile validated exactly once per repetition: 12 tiles over 3 folds
        for rep in ("0", "1"):
            assert sorted(r["tile"] for r in tiles if r["config_id"] == cid and r["rep"] == rep) == [
                f"tile_{i:02d}" for i in range(12)
            ]
    run = RunSummary.load(out / "run.json")
    assert run.status == "complete" and run.fingerprint and run.storage.startswith("sqlite:///")
    assert set(run.timings.phases) >= {"search_s", "confirmation_s", "total_s"}
    res = TuneOutcome.load(out / "result.json")
    assert res.recommended.loss == result.recommended.loss
    assert res.confidence.level in ("clear", "equivalent", "undecided")
    assert res.verdict.kind == res.confidence.level
    assert all(c.p_better + c.p_equivalent + c.p_worse == pytest.approx(1.0) for c in res.verdict.comparisons)
    assert "build_loss(" in res.snippets["pytorch"] and "Learner" not in res.snippets["pytorch"]
    means = [r.mean_iou for r in res.ranking]
    assert means == sorted(means, reverse=True)
    # diagnostics are never ranked, never compared, never in the sample overlays
    diag_ids = {d.config_id for d in res.diagnostics}
    assert len(diag_ids) == 2 and not diag_ids & {r.config_id for r in res.ranking}
    assert not diag_ids & {c.against for c in res.verdict.comparisons}
    assert {r.source for r in res.ranking} == {"finalist"}
    steps = res.training.extra  # the phase's step counts, kept beside the declared setup
    # the tiny budget buys only the race's first level: runs as long as a search trial
    assert steps["steps_per_confirmation_run"] == steps["steps_per_search_trial"]
    # the same learning-rate range for every loss, containing the LR range test's suggestions
    ranges = {tuple(r) for r in res.search["lr_ranges"].values()}
    assert len(ranges) == 1
    low, high = ranges.pop()
    lr = LRRangeTests.load(out / "lr_range_test.json").tests
    assert all(low <= t.suggested_lr <= high for t in lr if t.suggested_lr)
    assert all(low <= float(t["lr"]) <= high for t in _rows(out / "trials.csv"))
    assert [t.loss for t in lr] == ["ce", "dice"] and lr[1].suspect is True
    samples = np.load(out / "samples.npz")
    assert samples["images"].dtype == np.uint8 and samples["images"].shape[-1] == 3
    assert any(k.startswith("pred__") for k in samples.files)
    assert not diag_ids & {k.removeprefix("pred__") for k in samples.files}
    # the decoded cache was reused by every run: one file for the search split, one per fold and repetition
    assert len(list((out / "cache").glob("data_*.npz"))) == 1 + 3 * 2


def test_interrupted_run_resumes_and_keeps_completed_trials(tiny_dataset, tmp_path, monkeypatch, tiny):
    out = tmp_path / "run"
    real = _run.train_trial
    calls = []

    def interrupt_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_run, "train_trial", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        tune(tiny_dataset / "images", tiny_dataset / "masks", out=out, n_trials=3, report=False, **tiny)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "interrupted"
    states = [(t.state, t.user_attrs.get("fail_reason")) for t in _study(out).trials]
    assert states[:2] == [(TrialState.COMPLETE, None), (TrialState.FAIL, "interrupted")]
    first_value = _study(out).trials[0].value

    monkeypatch.setattr(_run, "train_trial", real)
    tune(tiny_dataset / "images", tiny_dataset / "masks", out=out, n_trials=3, report=False, **tiny)
    trials = _study(out).trials
    assert trials[0].state == TrialState.COMPLETE and trials[0].value == first_value  # kept, not re-run
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 3  # the interrupted trial is redone; the budget is not exceeded
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_changed_dataset_is_refused(tmp_path, dataset_factory, tiny):
    data = dataset_factory(tmp_path / "data", n=10)
    out = tmp_path / "run"
    tune(data / "images", data / "masks", out=out, n_trials=1, report=False, **tiny)
    dataset_factory(tmp_path / "data", n=12, seed=1)  # two more tiles and new contents
    with pytest.raises(StudyMismatchError, match="was made from other data"):
        tune(data / "images", data / "masks", out=out, n_trials=1, report=False, **tiny)


def test_nan_configuration_fails_with_reason_and_the_study_goes_on(tiny_dataset, tmp_path, monkeypatch, tiny):
    real_factory = _api._loss_factory

    def nan_except_ce(ignore_index):
        build = real_factory(ignore_index)

        def factory(name, params):
            loss = build(name, params)
            if name == "ce":
                return loss

            class NaN(torch.nn.Module):
                def forward(self, logits, target):
                    return loss(logits, target) * float("nan")

            return NaN()

        return factory

    monkeypatch.setattr(_api, "_loss_factory", nan_except_ce)
    out = tmp_path / "run"
    result = tune(tiny_dataset / "images", tiny_dataset / "masks", out=out, n_trials=3, report=False, **tiny)
    trials = _rows(out / "trials.csv")
    assert [t["loss"] for t in trials][0] == "ce"  # the baseline's default trial runs first
    assert trials[0]["state"] == "COMPLETE"
    for t in trials[1:]:  # the other losses fail with the reason, and the study went on to the next trial
        assert t["state"] == "FAIL" and t["fail_reason"] == "non-finite loss (nan) at epoch 1, step 1"
    # no other loss finished a search trial, so CE is the only finalist and nothing was compared
    assert [r.loss for r in result.ranking] == ["ce"]
    assert result.verdict.kind == "single" and result.recommended.loss == "ce"


def test_bad_options_are_refused_before_any_work(tiny_dataset, tmp_path):
    with pytest.raises(ConfigError, match="multiple of 16"):
        tune(tiny_dataset / "images", tiny_dataset / "masks", out=tmp_path, size=40)
    with pytest.raises(ConfigError, match="'n_trials' option of tune must be an integer >= 1; got 0"):
        tune(tiny_dataset / "images", tiny_dataset / "masks", out=tmp_path, n_trials=0)
    assert not (tmp_path / "profile.json").exists()


def test_postgres_storage_and_no_password_in_files(tiny_dataset, tmp_path, postgres_url, tiny):
    out = tmp_path / "run"
    name = f"lossadvisor-test-{uuid.uuid4().hex[:10]}"
    try:
        result = tune(
            tiny_dataset / "images",
            tiny_dataset / "masks",
            out=out,
            n_trials=1,
            storage=postgres_url,
            study_name=name,
            report=True,
            **tiny,
        )
        study = optuna.load_study(study_name=name, storage=driver_url(postgres_url))
        assert len(study.trials) == 1 and study.trials[0].state == TrialState.COMPLETE
        assert not (out / "study.db").exists()
        password = postgres_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert password not in result.storage and "***" in result.storage
        for path in out.rglob("*"):
            if path.is_file() and path.suffix in (".json", ".csv", ".html"):
                assert password not in path.read_text(errors="ignore"), path.name
        confirm = optuna.load_study(study_name=f"{name}:confirm", storage=driver_url(postgres_url))
        # every confirmation run the ranking counts is stored on the server (whole repetitions of 3 folds)
        stored = sum(t.state == TrialState.COMPLETE for t in confirm.trials)
        assert stored == sum(r.runs for r in result.ranking) and stored % 3 == 0 and stored > 0
    finally:
        optuna.delete_study(study_name=name, storage=driver_url(postgres_url))
        with contextlib.suppress(KeyError):  # the run failed before the confirmation study was made
            optuna.delete_study(study_name=f"{name}:confirm", storage=driver_url(postgres_url))
