"""The confirmation race on tiny data: paired units on fresh partitions, resumable, identical configurations
equivalent, a crippled loss dropped and the race stopped early, and the tuner following the lost-objects rule
to native-resolution crops."""

from __future__ import annotations

import json

import numpy as np
import optuna
from PIL import Image

from lossadvisor.io import read_mask
from lossadvisor.losses import build_loss
from lossadvisor.tune import _api, pair_files, resolve_device, tune
from lossadvisor.tune.confirm._confirm import Finalist, enqueue_units, race_alone, run_units
from lossadvisor.tune.confirm._race import Budget, RaceConfig, Unit, final_decision
from lossadvisor.tune.data._cache import build_fold_data
from lossadvisor.tune.training import LEGACY_RECIPE, Configuration, RunContext


def _context_for(root, tmp_path, *, epochs=2, steps=3, folds=3):
    """``unit -> RunContext``: repetition r folds with seed r, level L trains 2**L x steps per epoch.

    The race's logic is tested on the plain recipe (the last step's weights), on which these 20-80-step runs
    were calibrated: the weight average was measured to steady 240-step runs (benchmarks/bench_noise.py), but
    at 40 steps of lr 1e-2 on these 32-px squares it lags the weights (twins' paired SD 0.051 against 0.030).
    """
    pairs = pair_files(root / "images", root / "masks").pairs
    device = resolve_device("cpu", threads=1)
    built = {}

    def context_for(unit: Unit) -> RunContext:
        if unit.rep not in built:
            built[unit.rep] = build_fold_data(
                pairs, read_mask=lambda p: read_mask(p).labels, cache_dir=tmp_path / "cache", fingerprint="x",
                size=32, folds=folds, seed=unit.rep,
            )  # fmt: skip
        return RunContext(
            data=built[unit.rep][unit.fold], num_classes=2,
            loss_factory=lambda name, params: build_loss(name, **params), device=device, epochs=epochs,
            steps_per_epoch=steps * 2**unit.level, batch_size=4, warmup_steps=0, seed=0,
            preds_dir=tmp_path / "preds", sample_indices=[], recipe=LEGACY_RECIPE,
        )  # fmt: skip

    return context_for


def _finalist(entry, lr, search_value=None, loss="ce"):
    config = Configuration(loss, {}, lr)
    return Finalist(entry, f"{entry}: {loss} lr={lr:g}", config, search_value, None)


def _race(finalists, context_for, cfg, study=None):
    """What the confirmation phase does for one worker; returns the study, state, runs and final decision."""
    study = study or optuna.create_study(direction="maximize")
    state, got = race_alone(study, finalists, context_for, cfg, base_seed=0)
    entries = {f.entry: f.config.loss for f in finalists}
    return study, state, got, final_decision(entries, got.iou, state, cfg)[0]


def test_every_finalist_runs_the_same_partitions_and_tiles_and_a_resume_reruns_nothing(
    tiny_dataset, tmp_path
):
    context_for = _context_for(tiny_dataset, tmp_path, epochs=1, steps=1)
    finalists = [_finalist("ce-a", 3e-3), _finalist("ce-b", 1e-3)]
    cfg = RaceConfig(folds=3, margin=0.01, budget=Budget(runs=12))  # exactly the 2 repetitions before a look
    study, state, got, _ = _race(finalists, context_for, cfg)
    assert state.stop_reason in ("budget", "clear", "equivalent")
    assert sorted(r["unit"] for r in got.records) == sorted(
        Unit(0, r, f, e).key() for e in ("ce-a", "ce-b") for r in range(2) for f in range(3)
    )
    for unit in got.counts:  # same tiles, same order, for both finalists
        twin = Unit(unit.level, unit.rep, unit.fold, "ce-b" if unit.entry == "ce-a" else "ce-a")
        assert got.counts[unit][:, 2].tolist() == got.counts[twin][:, 2].tolist()
    tiles = {
        r: sorted(t["tile"] for t in got.tiles if t["config_id"] == "ce-a" and t["rep"] == r) for r in (0, 1)
    }
    assert (
        tiles[0] == tiles[1] == [f"tile_{i:02d}" for i in range(12)]
    )  # every tile validated once per repetition
    folds = {r: {t["tile"]: t["fold"] for t in got.tiles if t["rep"] == r} for r in (0, 1)}
    assert folds[0] != folds[1]  # a fresh partition per repetition, not more seeds on the same folds
    # resume: nothing is enqueued again and nothing re-trained
    assert enqueue_units(study, finalists, [u for u in got.counts]) == 0
    assert run_units(study, finalists, context_for, base_seed=0) == 0


def test_identical_configurations_are_equivalent_and_not_bit_identical(tiny_dataset, tmp_path):
    context_for = _context_for(tiny_dataset, tmp_path, epochs=4, steps=10)
    twins = [_finalist("ce-twin-a", 1e-2), _finalist("ce-twin-b", 1e-2)]
    # 40 steps a run: the twins' paired differences spread by about 0.03 IoU, so within a margin of 0.1 they
    # must come out practically equivalent
    cfg = RaceConfig(folds=3, margin=0.1, budget=Budget(runs=30))
    _, state, got, decision = _race(twins, context_for, cfg)
    diffs = [
        got.iou[Unit(0, r, f, "ce-twin-a")] - got.iou[Unit(0, r, f, "ce-twin-b")]
        for r in (0, 1)
        for f in range(3)
    ]
    assert any(d != 0 for d in diffs)  # independent streams
    assert state.stop_reason == "equivalent" and decision.outcome == "equivalent"
    # stopped early, once decided: well inside the 30-run budget (2 twins x 3 folds = 6 runs a repetition)
    assert len(got.counts) % 6 == 0 and 12 <= len(got.counts) < 30


def test_a_crippled_learning_rate_is_dropped_and_the_race_stops_early(tiny_dataset, tmp_path):
    context_for = _context_for(tiny_dataset, tmp_path, epochs=3, steps=5)
    finalists = [_finalist("ce-crippled", 1e-7), _finalist("ce-good", 1e-2)]
    cfg = RaceConfig(folds=3, margin=0.01, budget=Budget(runs=100))
    _, state, got, decision = _race(finalists, context_for, cfg)
    assert state.stop_reason == "clear" and "ce-crippled" in state.dropped
    assert decision.outcome == "clear" and decision.recommended == "ce-good"
    assert decision.posteriors["ce-crippled"].p_better >= 0.95
    assert len(got.counts) == 12  # 2 repetitions x 3 folds x 2 finalists: nothing after the decision


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
            "confirm_budget": "18", "threads": 1, "progress": False, "report": False}  # fmt: skip
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


def _searched_study(values: dict[str, float]):
    """An in-memory study with one finished search trial per loss, scored ``values``."""
    from optuna.distributions import CategoricalDistribution

    study = optuna.create_study(direction="maximize")
    for loss, value in values.items():
        study.add_trial(
            optuna.trial.create_trial(
                params={"loss": loss}, distributions={"loss": CategoricalDistribution(list(values))},
                value=value, user_attrs={"params": {}, "lr": 1e-3},
            )
        )  # fmt: skip
    return study


def test_the_rules_first_choice_is_a_finalist_even_when_the_search_ranked_it_low():
    from lossadvisor.rules import SearchSpaceEntry
    from lossadvisor.tune.confirm import select_finalists
    from lossadvisor.tune.search import SearchSpace

    entries = [
        SearchSpaceEntry(loss, (1e-4, 1e-2), {}, ()) for loss in ("ce", "weighted_ce", "dice", "dice_ce")
    ]
    # the rules ranked weighted CE first; the search put it last
    space = SearchSpace(entries, starting_points={"weighted_ce": {}, "dice_ce": {}, "dice": {}, "ce": {}})
    study = _searched_study({"dice": 0.60, "ce": 0.55, "dice_ce": 0.52, "weighted_ce": 0.30})

    def picked(n):
        return [f.config.loss for f in select_finalists(study, space, max_finalists=n)]

    assert picked(3) == [
        "dice",
        "ce",
        "weighted_ce",
    ]  # the search's best, CE, the rules' first; in search order
    assert picked(4) == ["dice", "ce", "dice_ce", "weighted_ce"]
    assert picked(2) == ["dice", "ce"]  # two places: the search's best against the baseline, as before
    # the rules' first choice without any finished trial enters at its default configuration
    unsearched = _searched_study({"dice": 0.60, "ce": 0.55, "dice_ce": 0.52})
    finalists = select_finalists(unsearched, space, max_finalists=3)
    assert [f.config.loss for f in finalists] == ["dice", "ce", "weighted_ce"]
    assert finalists[-1].search_value is None and finalists[-1].search_trial is None
    # tried by the search and failed every time (e.g. a non-finite loss): not forced in
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState

    unsearched.add_trial(
        optuna.trial.create_trial(
            params={"loss": "weighted_ce"},
            distributions={"loss": CategoricalDistribution(["dice", "ce", "dice_ce", "weighted_ce"])},
            state=TrialState.FAIL,
        )
    )
    assert [f.config.loss for f in select_finalists(unsearched, space, max_finalists=3)] == [
        "dice",
        "ce",
        "dice_ce",
    ]
    # when the rules' first choice is CE, the places go to the search's best
    ce_first = SearchSpace(entries, starting_points={"ce": {}, "dice": {}})
    assert [f.config.loss for f in select_finalists(study, ce_first, max_finalists=3)] == [
        "dice",
        "ce",
        "dice_ce",
    ]
