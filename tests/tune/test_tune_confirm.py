"""The confirmation phase on tiny data: paired units, resumable, an A/A tie, a crippled loss loses clearly,
and the tuner following the lost-objects rule to native-resolution crops."""

from __future__ import annotations

import json

import numpy as np
import optuna
from PIL import Image

from lossadvisor.io import read_mask
from lossadvisor.losses import build_loss
from lossadvisor.tune import _api, pair_files, resolve_device, tune
from lossadvisor.tune.confirm._confirm import Finalist, collect, enqueue_units, run_units, unit_key
from lossadvisor.tune.confirm._verdict import decide
from lossadvisor.tune.data._cache import build_fold_data
from lossadvisor.tune.training._run import Configuration, RunContext


def _contexts(root, tmp_path, *, epochs=2, steps=3, folds=3):
    pairs = pair_files(root / "images", root / "masks").pairs
    datas = build_fold_data(
        pairs, read_mask=lambda p: read_mask(p).labels, cache_dir=tmp_path / "cache", fingerprint="x",
        size=32, folds=folds, seed=0,
    )  # fmt: skip
    device = resolve_device("cpu", threads=1)
    return [
        RunContext(
            data=d,
            num_classes=2,
            loss_factory=lambda name, params: build_loss(name, **params),
            device=device,
            epochs=epochs,
            steps_per_epoch=steps,
            batch_size=4,
            warmup_steps=0,
            seed=0,
            preds_dir=tmp_path / "preds",
            sample_indices=[],
        )  # fmt: skip
        for d in datas
    ]


def _finalist(entry, lr, search_value=None):
    config = Configuration("ce", {}, lr)
    return Finalist(entry, f"{entry}: ce lr={lr:g}", config, search_value, None)


def _confirm(finalists, contexts, *, seeds=2):
    study = optuna.create_study(direction="maximize")
    enqueue_units(study, finalists, folds=len(contexts), seeds=seeds)
    run_units(study, finalists, contexts, base_seed=0)
    return study, collect(study, finalists)


def test_every_finalist_runs_the_same_folds_and_tiles_and_a_resume_reruns_nothing(tiny_dataset, tmp_path):
    contexts = _contexts(tiny_dataset, tmp_path, epochs=1, steps=1)
    finalists = [_finalist("ce-a", 3e-3), _finalist("ce-b", 1e-3)]
    study, (records, runs, tiles) = _confirm(finalists, contexts, seeds=1)
    assert sorted(r["unit"] for r in records) == sorted(
        unit_key(e, f, 0) for e in ("ce-a", "ce-b") for f in range(3)
    )
    assert set(runs[0].runs) == set(runs[1].runs) == {(0, 0), (1, 0), (2, 0)}
    for fold in range(3):  # same tiles, same order, for both finalists
        assert runs[0].runs[(fold, 0)][:, 2].tolist() == runs[1].runs[(fold, 0)][:, 2].tolist()
    assert sorted(t["tile"] for t in tiles if t["config_id"] == "ce-a") == [
        f"tile_{i:02d}" for i in range(12)
    ]
    # resume: nothing is enqueued again and nothing re-trained
    assert enqueue_units(study, finalists, folds=3, seeds=1) == 0
    assert run_units(study, finalists, contexts, base_seed=0) == 0


def test_a_a_check_the_same_loss_twice_with_independent_streams_is_a_tie(tiny_dataset, tmp_path):
    contexts = _contexts(tiny_dataset, tmp_path)
    twins = [_finalist("ce-twin-a", 3e-3), _finalist("ce-twin-b", 3e-3)]
    _, (_, runs, _) = _confirm(twins, contexts)
    verdict = decide(runs, seed=0)
    diffs = [r.diff for r in verdict.comparisons[0].per_run]
    assert len(diffs) == 6 and any(d != 0 for d in diffs)  # independent streams: not bit-identical
    assert verdict.kind == "tie"


def test_a_crippled_learning_rate_loses_clearly(tiny_dataset, tmp_path):
    contexts = _contexts(tiny_dataset, tmp_path, epochs=3, steps=5)
    finalists = [_finalist("ce-crippled", 1e-7), _finalist("ce-good", 1e-2)]
    _, (_, runs, _) = _confirm(finalists, contexts)
    verdict = decide(runs, seed=0)
    assert verdict.kind == "clear" and verdict.recommended == "ce-good"
    c = verdict.comparisons[0]
    assert c.against == "ce-crippled" and c.ci_low > 0 and c.runs_won == 6


def _large_tiles_with_tiny_objects(root, n=6, side=160):
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        mask = np.zeros((side, side), np.uint8)
        for _ in range(20):  # 3x3 px objects: under 3 px across once tiles are resized to 128
            y, x = (int(v) for v in rng.integers(0, side - 3, 2))
            mask[y : y + 3, x : x + 3] = 255
        image = rng.integers(0, 90, (side, side, 3)).astype(np.uint8)
        image[mask > 0] += 120
        Image.fromarray(image).save(root / "images" / f"t{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"t{i}.png")
    return root


def test_tune_follows_the_lost_objects_rule_to_native_crops_unless_a_size_is_given(tmp_path, monkeypatch):
    data = _large_tiles_with_tiny_objects(tmp_path / "data")
    # the LR range tests (100 steps at 128 px) are not what is tested here: skip them to keep the test short
    monkeypatch.setattr(_api, "_lr_range_tests", lambda *args: [])
    tiny = {"epochs": 1, "steps_per_epoch": 1, "batch_size": 2, "n_trials": 1, "seeds": 1, "folds": 2,
            "threads": 1, "progress": False, "report": False}  # fmt: skip
    result = tune(data / "images", data / "masks", out=tmp_path / "run", **tiny)
    assert result.size_switch is not None and result.size_switch["crop"] == 128
    assert "native-resolution 128x128 crops" in result.size_switch["message"]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["settings"]["crop"] == 128 and run["settings"]["size_switch"]["rule"] == (
        "rule_objects_lost_at_train_size"
    )
    # a size the user chose is kept
    chosen = tune(data / "images", data / "masks", out=tmp_path / "chosen", size=32, **tiny)
    assert chosen.size_switch is None
    assert json.loads((tmp_path / "chosen" / "run.json").read_text())["settings"]["crop"] is None
