"""Threshold overrides: the rules-config TOML file and the ``thresholds`` mapping, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from crafted_profiles import build_profile

from lossadvisor.errors import ConfigError
from lossadvisor.rules import DEFAULT_THRESHOLDS, load_rules_config, recommend, resolve_thresholds


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_read_only_and_complete() -> None:
    with pytest.raises(TypeError):
        DEFAULT_THRESHOLDS["empty_mask_share"] = 0.5  # type: ignore[index]
    assert resolve_thresholds() == dict(DEFAULT_THRESHOLDS)


def test_config_file_overrides_and_changes_the_decision(tmp_path: Path) -> None:
    profile = build_profile((0.15,), absent_shares=(0.08,))  # 8 % empty: under the default 10 %
    assert not {t.rule: t for t in recommend(profile).trace}["rule_empty_masks"].fired
    path = _write(tmp_path, "# stricter about empty tiles\n[thresholds]\nempty_mask_share = 0.05\n")
    assert load_rules_config(path) == {"empty_mask_share": 0.05}
    rec = recommend(profile, config=path)
    assert {t.rule: t for t in rec.trace}["rule_empty_masks"].fired
    assert rec.thresholds["empty_mask_share"] == 0.05


def test_thresholds_argument_wins_over_the_config_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[thresholds]\nempty_mask_share = 0.05\nlr_region_high = 5e-4\n")
    rec = recommend(build_profile((0.15,)), config=path, thresholds={"empty_mask_share": 0.3})
    assert rec.thresholds["empty_mask_share"] == 0.3 and rec.thresholds["lr_region_high"] == 5e-4
    assert {c.loss: c for c in rec.candidates}["dice_ce"].lr_range[1] == 5e-4


def test_integer_values_are_accepted_as_numbers(tmp_path: Path) -> None:
    assert load_rules_config(_write(tmp_path, "[thresholds]\nmax_class_weight = 10\n")) == {
        "max_class_weight": 10.0
    }


def test_unknown_key_suggests_the_closest_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "[thresholds]\nempty_mask_shar = 0.2\n")
    with pytest.raises(ConfigError, match=r"rules\.toml.*Unknown threshold 'empty_mask_shar'\. Did you mean "
                       r"'empty_mask_share'\? Valid: minority_share_moderate, "):  # fmt: skip
        load_rules_config(path)


def test_unknown_table_suggests_thresholds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Unknown table 'threshold'\. Did you mean 'thresholds'\?"):
        load_rules_config(_write(tmp_path, "[threshold]\nempty_mask_share = 0.2\n"))


def test_a_key_outside_a_table_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'thresholds' must be a table .*Got float 0\.2 instead"):
        load_rules_config(_write(tmp_path, "thresholds = 0.2\n"))


def test_wrong_type_names_key_expected_and_got(tmp_path: Path) -> None:
    path = _write(tmp_path, '[thresholds]\nempty_mask_share = "high"\n')
    expected = r"'empty_mask_share' threshold must be a number in \(0, 1\]\. Got 'high' \(str\) instead"
    with pytest.raises(ConfigError, match=expected):
        load_rules_config(path)
    with pytest.raises(
        ConfigError, match=r"'tiny_object_share' threshold must be a number in.*Got True \(bool\)"
    ):
        load_rules_config(_write(tmp_path, "[thresholds]\ntiny_object_share = true\n"))


def test_value_out_of_range_names_key_expected_and_got(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"'empty_mask_share' threshold must be a number in \(0, 1\]\. Got 1\.5"
    ):
        load_rules_config(_write(tmp_path, "[thresholds]\nempty_mask_share = 1.5\n"))
    expected = r"'imbalance_ratio_severe' threshold must be a number in \[1, inf\)\. Got 0\.5"
    with pytest.raises(ConfigError, match=expected):
        load_rules_config(_write(tmp_path, "[thresholds]\nimbalance_ratio_severe = 0.5\n"))


def test_bounds_that_cross_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "[thresholds]\nminority_share_severe = 0.5\n")
    with pytest.raises(ConfigError, match=r"'minority_share_severe' threshold \(0\.5\) must be below "
                       r"'minority_share_moderate' \(0\.4\)"):  # fmt: skip
        load_rules_config(path)
    with pytest.raises(
        ConfigError, match=r"'lr_region_low' threshold \(0\.05\) must be below 'lr_region_high'"
    ):
        resolve_thresholds({"lr_region_low": 5e-2})


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Rules-config file .*nope\.toml does not exist"):
        load_rules_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"is not valid TOML: .*line 2"):
        load_rules_config(_write(tmp_path, "[thresholds]\nempty_mask_share = = 0.2\n"))


def test_thresholds_mapping_is_validated_too() -> None:
    with pytest.raises(
        ConfigError, match=r"Unknown threshold 'max_weight'\. Did you mean 'max_class_weight'\?"
    ):
        recommend(build_profile((0.15,)), thresholds={"max_weight": 5})
    with pytest.raises(
        ConfigError, match=r"thresholds must map threshold names to numbers\. Got list instead"
    ):
        resolve_thresholds([("empty_mask_share", 0.2)])  # type: ignore[arg-type]
