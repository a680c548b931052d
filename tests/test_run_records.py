"""The tuner's JSON records (lossadvisor/_run_records.py): exact round trips, nothing lost that another
version wrote, and the run folder's NaN policy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lossadvisor._run_records import (
    Comparison,
    Confidence,
    PairedRun,
    RankedConfig,
    Recommended,
    RunSummary,
    TuneOutcome,
    Verdict,
)

EXAMPLE = Path(__file__).parents[1] / "reports" / "example-buildings"


def _outcome() -> TuneOutcome:
    return TuneOutcome(
        recommended=Recommended(loss="ce", params={}, lr=1e-3, label="best ce", config_id="ce-1"),
        confidence=Confidence(level="tie", margin=0.004, ci_low=-0.01, ci_high=0.02, explanation="a tie"),
        ranking=(
            RankedConfig(config_id="ce-1", loss="ce", lr=1e-3, mean_iou=0.61, runs=9, recommended=True),
            RankedConfig(config_id="dice-2", loss="dice", params={"batch_dice": True}, mean_iou=math.nan),
        ),
        verdict=Verdict(
            kind="tie",
            winner="dice-2",
            recommended="ce-1",
            tied=("ce-1", "dice-2"),
            comparisons=(
                Comparison(
                    against="ce-1",
                    mean_diff=0.004,
                    ci_low=-0.01,
                    ci_high=0.02,
                    runs=2,
                    runs_won=1,
                    per_run=(PairedRun(diff=0.03, fold=0, seed=0), PairedRun(diff=-0.022, fold=1, seed=0)),
                ),
            ),
            margin=0.01,
        ),
        object_recall={"ce-1": {"tiny": None, "small": 0.5}},
    )


def test_round_trip_is_exact(tmp_path: Path) -> None:
    outcome = _outcome()
    path = outcome.save(tmp_path / "result.json")
    again = TuneOutcome.load(path)
    assert again.recommended == outcome.recommended and again.verdict == outcome.verdict
    assert again.ranking[0] == outcome.ranking[0] and again.object_recall == outcome.object_recall
    # the NaN policy: a non-finite number is written null and read back as None (missing)
    assert again.ranking[1].mean_iou is None and again.ranking[1].params == {"batch_dice": True}
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "nan" not in text  # strict JSON: the NaN policy writes null
    assert json.loads(text)["ranking"][1]["mean_iou"] is None


def test_keys_this_version_does_not_declare_are_kept(tmp_path: Path) -> None:
    data = _outcome().to_dict()
    data["energy"] = [{"label": "search", "seconds": 0.2}]  # a key a newer writer added
    data["verdict"]["bootstrap_draws"] = 2000  # inside a nested record
    data["ranking"][0]["duration_s"] = 12.5
    (tmp_path / "result.json").write_text(json.dumps(data), encoding="utf-8")
    outcome = TuneOutcome.load(tmp_path / "result.json")
    assert outcome.extra["energy"][0]["seconds"] == 0.2
    assert outcome.verdict.extra == {"bootstrap_draws": 2000}
    assert outcome.ranking[0].extra == {"duration_s": 12.5}
    assert outcome.to_dict() == data  # saved again, nothing is lost


def test_older_files_read_with_defaults(tmp_path: Path) -> None:
    # a result.json written before the verdict and validation blocks: the example's, without them
    older = json.loads((EXAMPLE / "result.json").read_text(encoding="utf-8"))
    older.pop("verdict", None)
    older.pop("validation", None)
    (tmp_path / "result.json").write_text(json.dumps(older), encoding="utf-8")
    outcome = TuneOutcome.load(tmp_path / "result.json")
    assert outcome.recommended is not None and outcome.recommended.loss == outcome.ranking[0].loss
    assert outcome.verdict is None and outcome.validation is None
    assert outcome.config(outcome.recommended.config_id) is outcome.ranking[0]
    run = RunSummary.load(EXAMPLE / "run.json")
    assert run.status == "complete" and run.command.startswith("lossadvisor tune")


def test_a_wrong_type_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text(json.dumps({"ranking": [{"config_id": 3}]}), encoding="utf-8")
    with pytest.raises(TypeError, match="Expected a string"):
        TuneOutcome.load(tmp_path / "result.json")
