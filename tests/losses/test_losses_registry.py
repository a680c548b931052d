"""The registry: one entry per loss, consistent with the classes, torch-free, with helpful errors."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from lossadvisor.errors import ConfigError
from lossadvisor.losses import LOSSES, LossSpec, ParamSpec, build_loss, get_spec, list_losses

EXPECTED = [
    "ce", "weighted_ce", "focal", "dice", "tversky", "focal_tversky", "generalized_dice", "lovasz",
    "dice_ce", "dice_focal", "unified_focal",
]  # fmt: skip


def test_every_issued_loss_is_registered_in_family_order():
    assert list_losses() == EXPECTED
    families = [LOSSES[name].family for name in EXPECTED]
    assert families == sorted(families, key=["distribution", "region", "compound"].index)


@pytest.mark.parametrize("name", EXPECTED)
def test_spec_params_match_the_class_constructor(name):
    """The registry and the class signature list the same keyword-only parameters with the same defaults."""
    spec = get_spec(name)
    signature = inspect.signature(spec.load_class())
    ctor = {p.name: p.default for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY}
    assert ctor == spec.defaults()
    assert all(p.kind is p.KEYWORD_ONLY for p in signature.parameters.values())


@pytest.mark.parametrize("name", EXPECTED)
def test_defaults_and_search_ranges_are_inside_the_valid_domain(name):
    spec = get_spec(name)
    assert spec.description and spec.reference and len(spec.description) <= 110
    for p in spec.params:
        p.check(p.default, loss=name)  # the default is valid
        if p.tunable:
            assert p.kind == "float" and p.low < p.high
            p.check(p.low, loss=name)
            p.check(p.high, loss=name)
            if p.log:
                assert p.low > 0
        else:
            assert not p.log and p.low is None and p.high is None  # search settings only on tuned params


def test_documented_tuning_ranges():
    assert (get_spec("dice_ce").param("mix").low, get_spec("dice_ce").param("mix").high) == (0.1, 0.9)
    assert (get_spec("focal").param("gamma").low, get_spec("focal").param("gamma").high) == (1.0, 3.0)
    assert (get_spec("tversky").param("beta").low, get_spec("tversky").param("beta").high) == (0.5, 0.9)
    gamma = get_spec("focal_tversky").param("gamma")
    assert (gamma.low, gamma.high, gamma.log) == (0.5, 3.0, True)


def test_unknown_loss_lists_valid_names_and_suggests_the_closest():
    with pytest.raises(
        ConfigError, match=r"Unknown loss 'dcie'\. Did you mean 'dice'\? Valid: ce, weighted_ce"
    ):
        get_spec("dcie")
    with pytest.raises(ValueError, match="Valid: ce"):  # ConfigError is a ValueError
        build_loss("nope")


def test_unknown_parameter_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"Unknown parameter of dice_ce 'mixx'\. Did you mean 'mix'\?"):
        build_loss("dice_ce", mixx=0.3)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "dice_ce",
            {"mix": 1.5},
            r"The 'mix' parameter of dice_ce must be a float in \[0, 1\]\. Got 1\.5 instead",
        ),
        ("focal", {"gamma": -1}, r"'gamma' parameter of focal must be a float in \[0, 10\]\. Got -1"),
        ("dice", {"squared": 1}, r"'squared' parameter of dice must be True or False\. Got 1"),
        ("lovasz", {"classes": "some"}, r"'classes' parameter of lovasz must be one of 'present', 'all'"),
        (
            "weighted_ce",
            {"class_weights": [1.0, -2.0]},
            r"'class_weights' .* sequence of floats in \[0, 1e\+06\]",
        ),
        ("weighted_ce", {"class_weights": "1,2"}, r"'class_weights' parameter of weighted_ce must be"),
        ("dice", {"smooth": float("nan")}, r"'smooth' parameter of dice must be a float in"),
        (
            "ce",
            {"ignore_index": 2.5},
            r"'ignore_index' parameter of ce must be an integer or None\. Got 2\.5",
        ),
        ("dice", {"smooth": None}, r"'smooth' parameter of dice must not be None"),
    ],
)
def test_out_of_domain_values_name_the_parameter_the_rule_and_the_value(name, params, message):
    with pytest.raises(ConfigError, match=message):
        build_loss(name, **params)


def test_classes_check_their_options_with_the_same_rules():
    from lossadvisor.losses import DiceCELoss, TverskyLoss

    with pytest.raises(ConfigError, match=r"'mix' parameter of dice_ce must be a float in \[0, 1\]"):
        DiceCELoss(mix=-0.1)
    with pytest.raises(ConfigError, match=r"'beta' parameter of tversky"):
        TverskyLoss(beta=2.0)


def test_build_loss_returns_the_registered_class_with_the_options():
    loss = build_loss("dice_ce", mix=0.3, ignore_index=255, class_weights=[1, 4])
    assert type(loss).__name__ == "DiceCELoss"
    assert loss.mix == 0.3 and loss.config["class_weights"] == (1.0, 4.0)
    rebuilt = build_loss(loss.loss_name, **loss.config)
    assert rebuilt.config == loss.config


@pytest.mark.parametrize("name", EXPECTED)
def test_config_holds_every_parameter_and_rebuilds_the_same_loss(name):
    params = {"pos_weight": 2.0} if name == "weighted_ce" else {}
    loss = build_loss(name, ignore_index=255, **params)
    assert set(loss.config) == {p.name for p in get_spec(name).params}
    assert build_loss(name, **loss.config).config == loss.config
    assert "ignore_index=255" in repr(loss)


def test_tversky_alpha_defaults_to_one_minus_beta():
    loss = build_loss("tversky", beta=0.8)
    assert loss.alpha == pytest.approx(0.2) and loss.beta == 0.8


def test_specs_are_frozen_records():
    spec = get_spec("dice")
    assert isinstance(spec, LossSpec) and all(isinstance(p, ParamSpec) for p in spec.params)
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


def test_registry_and_weight_helpers_import_without_torch():
    code = (
        "import sys\n"
        "from lossadvisor.losses import LOSSES, get_spec, class_weights_from_profile, build_loss\n"
        "get_spec('dice_ce').validate({'mix': 0.3})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "from lossadvisor.losses import DiceCELoss\n"
        "assert 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
