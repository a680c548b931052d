"""The search space: lr mapping, the CE baseline, and where each loss's first trial starts."""

from __future__ import annotations

import math

import optuna
import pytest

from lossadvisor.errors import ConfigError
from lossadvisor.rules import ParamRange, SearchSpaceEntry
from lossadvisor.tune.search._space import LOSS_PARAM, LR_PARAM, SearchSpace, equal_lr_ranges, lr_from_unit

DICE_CE = SearchSpaceEntry("dice_ce", (3e-5, 1e-3), {"batch_dice": True}, (ParamRange("mix", 0.1, 0.5),))
FOCAL = SearchSpaceEntry("focal", (1e-4, 1e-2), {}, (ParamRange("gamma", 1.0, 3.0),))


def test_lr_unit_maps_log_linearly_onto_the_range() -> None:
    assert lr_from_unit(0.0, (1e-4, 1e-2)) == pytest.approx(1e-4)
    assert lr_from_unit(1.0, (1e-4, 1e-2)) == pytest.approx(1e-2)
    assert lr_from_unit(0.5, (1e-4, 1e-2)) == pytest.approx(1e-3)  # geometric middle
    assert lr_from_unit(0.25, (1e-4, 1e-0)) == pytest.approx(1e-3)  # one decade of four


def test_plain_ce_is_always_the_first_loss() -> None:
    space = SearchSpace([DICE_CE, FOCAL])
    assert space.losses == ["ce", "dice_ce", "focal"]


def test_first_trial_starts_at_the_rules_parameters_when_they_lie_in_range() -> None:
    space = SearchSpace([DICE_CE, FOCAL], starting_points={"dice_ce": {"mix": 0.3}, "focal": {"gamma": 2.5}})
    params = space.default_trial_params("dice_ce")
    assert params == {LOSS_PARAM: "dice_ce", LR_PARAM: 0.5, "dice_ce.mix": 0.3}
    config = space.default_configuration("focal")
    assert config.params == {"gamma": 2.5}
    assert config.lr == pytest.approx(math.sqrt(1e-4 * 1e-2))


def test_out_of_range_starting_point_falls_back_to_the_loss_default() -> None:
    # mix=0.8 is outside the searched [0.1, 0.5]; dice_ce's own default 0.5 is inside
    space = SearchSpace([DICE_CE], starting_points={"dice_ce": {"mix": 0.8}})
    assert space.default_trial_params("dice_ce")["dice_ce.mix"] == 0.5
    # without any starting point the library default is used, and fixed params pass through
    assert SearchSpace([DICE_CE]).default_configuration("dice_ce").params == {"batch_dice": True, "mix": 0.5}


def test_suggested_configurations_stay_inside_every_range() -> None:
    space = SearchSpace([DICE_CE, FOCAL])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        config = space.suggest(study.ask())
        low, high = {"ce": (1e-4, 3e-2), "dice_ce": DICE_CE.lr_range, "focal": FOCAL.lr_range}[config.loss]
        assert low <= config.lr <= high
        if config.loss == "dice_ce":
            assert 0.1 <= config.params["mix"] <= 0.5 and config.params["batch_dice"] is True
        if config.loss == "focal":
            assert 1.0 <= config.params["gamma"] <= 3.0


def test_an_empty_learning_rate_range_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"learning-rate range of focal must satisfy 0 < low <= high"):
        SearchSpace([SearchSpaceEntry("focal", (1e-2, 1e-4), {}, ())])


def test_equal_lr_ranges_widen_every_loss_alike_to_the_suggestions() -> None:
    entries = [
        SearchSpaceEntry("ce", (1e-4, 3e-2), {}, ()),
        SearchSpaceEntry("dice", (1e-4, 3e-2), {}, ()),
    ]
    widened, note = equal_lr_ranges(entries, [0.05, 5e-5])
    assert [e.lr_range for e in widened] == [(5e-5, 0.05), (5e-5, 0.05)]
    assert "the same for every loss" in note and "widened" in note
    same, note = equal_lr_ranges(entries, [1e-3, None])
    assert [e.lr_range for e in same] == [(1e-4, 3e-2)] * 2 and "already containing" in note
