"""`lossadvisor advise`: output, files, exit codes (0 ok, 1 bad profile or config, 2 usage), end to end."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from crafted_profiles import build_profile

from lossadvisor.cli import cli
from lossadvisor.profile import DatasetProfile
from lossadvisor.rules import Recommendation, recommend


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    return build_profile((0.15,), absent_shares=(0.3,)).save(tmp_path / "run" / "profile.json")


def _advise(*args: str) -> object:
    return CliRunner().invoke(cli, ["advise", *args])


def test_advise_from_a_profile_prints_the_table_and_saves_next_to_it(profile_file: Path) -> None:
    result = _advise("--profile", str(profile_file))
    assert result.exit_code == 0, result.output
    saved = profile_file.parent / "recommendation.json"
    assert saved.is_file() and f"Saved {saved}" in result.output
    rec = Recommendation.load(saved)
    assert rec == recommend(DatasetProfile.load(profile_file))
    lines = result.output.splitlines()
    assert lines[0] == (
        "Loss recommendation for crafted (binary, 2 classes, imbalance: moderate; ranked for foreground IoU)"
    )
    assert lines[2].split()[:2] == ["1.", "weighted_ce"]
    assert "Rules that fired (3 of 8):" in result.output
    assert "* rule_empty_masks: empty_mask_share = 0.3 >= 0.1" in result.output
    assert "- rule_tiny_objects: tiny_object_share = 0 (fires at >= 0.2)" in result.output
    assert "ce (baseline)" in result.output


def test_json_prints_the_recommendation_and_out_chooses_the_folder(
    profile_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "elsewhere"
    result = _advise("--profile", str(profile_file), "--json", "--out", str(out))
    assert result.exit_code == 0, result.output
    printed = Recommendation.from_dict(json.loads(result.stdout))
    assert printed == Recommendation.load(out / "recommendation.json")
    assert not (profile_file.parent / "recommendation.json").exists()


def test_rules_config_is_applied(profile_file: Path, tmp_path: Path) -> None:
    config = tmp_path / "rules.toml"
    config.write_text("[thresholds]\nempty_mask_share = 0.5\n", encoding="utf-8")
    result = _advise("--profile", str(profile_file), "--rules-config", str(config), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["thresholds"]["empty_mask_share"] == 0.5
    assert not next(t for t in data["trace"] if t["rule"] == "rule_empty_masks")["fired"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: d / "missing.json",
            r"Error: Profile file .*missing\.json does not exist\. Run `lossadvisor profile",
        ),
        (lambda d: _text(d / "bad.json", "{not json"), r"Error: .*bad\.json is not a lossadvisor profile"),
        (lambda d: _text(d / "other.json", '{"a": 1}'), r"Error: .*other\.json is not a lossadvisor profile"),
    ],
    ids=["missing", "not-json", "not-a-profile"],
)
def test_a_missing_or_invalid_profile_exits_1(tmp_path: Path, make, message: str) -> None:
    result = _advise("--profile", str(make(tmp_path)))
    assert result.exit_code == 1
    assert result.output.count("Error:") == 1 and "Traceback" not in result.output
    assert re.search(message, result.output), result.output


def test_a_bad_rules_config_exits_1(profile_file: Path, tmp_path: Path) -> None:
    config = _text(tmp_path / "rules.toml", "[thresholds]\nempty_mask_shar = 0.2\n")
    result = _advise("--profile", str(profile_file), "--rules-config", str(config))
    assert result.exit_code == 1
    assert "Error: Rules-config file" in result.output and "Did you mean 'empty_mask_share'?" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Give exactly one of MASKS and --profile FILE (got neither)"),
        (("masks/", "--profile", "p.json"), "Give exactly one of MASKS and --profile FILE (got both)"),
        (("--profile", "p.json", "--train-size", "128"), "--train-size applies only when profiling MASKS"),
        (
            ("--profile", "p.json", "--ignore-index", "255"),
            "--ignore-index applies only when profiling MASKS",
        ),
        (("masks/", "--train-size", "0"), "Invalid value for '--train-size'"),
        (("--bogus",), "No such option '--bogus'"),
    ],
    ids=["neither", "both", "train-size-with-profile", "ignore-index-with-profile", "bad-size", "bad-option"],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    result = _advise(*args)
    assert result.exit_code == 2
    assert message in result.output, result.output


def test_help_has_an_example_block() -> None:
    result = _advise("--help")
    assert result.exit_code == 0
    assert "lossadvisor advise masks/ --train-size 128 --train-size 256" in result.output
    assert "--rules-config" in result.output and "[thresholds]" in result.output


def test_advise_profiles_masks_on_the_fly(example_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "buildings"
    masks = str(example_data / "masks")
    result = _advise(masks, "--train-size", "128", "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    profile = DatasetProfile.load(out / "profile.json")
    assert profile.files_read == 31 and profile.train_sizes == (128,)
    assert (out / "per_image.csv").is_file()
    rec = Recommendation.load(out / "recommendation.json")
    assert rec.profile_fingerprint == profile.fingerprint
    assert rec == recommend(profile)
    # The bundled tiles: foreground between 5 % and 20 %: weighted CE first, with the inverse-frequency
    # weight (4.7) for recall and its square root for IoU; plain CE as the baseline.
    assert rec.imbalance_level == "moderate" and rec.top.loss == "weighted_ce"
    recall = recommend(profile, objective="recall").top
    assert recall.loss == "weighted_ce"
    assert recall.params["pos_weight"] == pytest.approx(rec.top.params["pos_weight"] ** 2, rel=1e-3)
    assert any(c.is_baseline for c in rec.candidates)


def test_advise_on_the_shared_datasets(shared_data: Path, tmp_path: Path) -> None:
    for name in ("inria-buildings", "dsb2018-nuclei"):
        result = _advise(
            str(shared_data / name / "masks"), "--train-size", "128", "--out", str(tmp_path / name), "-q"
        )
        assert result.exit_code == 0, result.output
        rec = Recommendation.load(tmp_path / name / "recommendation.json")
        assert rec.dataset_name == name and 3 <= len(rec.candidates) <= 5
        assert [c.loss for c in rec.candidates if c.is_baseline] == ["ce"]


def test_default_run_folder_is_reports_dataset_name(example_data: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = _advise(os.fspath(example_data / "masks"), "-q", "--json")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports" / "buildings" / "recommendation.json").is_file()
    assert (tmp_path / "reports" / "buildings" / "profile.json").is_file()


def _text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
