"""Number formatting and the small readers the report relies on (expected values written by hand)."""

from __future__ import annotations

import math

import pytest

from lossadvisor._run_records import TuneOutcome
from lossadvisor.report import _format as fmt
from lossadvisor.report._context import _agreement
from lossadvisor.report._context_dataset import _threshold
from lossadvisor.report._readers import as_bool


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.81234, "0.812"),
        (12345, "12,345"),
        (3.0, "3"),
        (2.5e-5, "2.50e-05"),
        (123456.7, "1.23e+05"),
        (0, "0"),
        (math.inf, "∞"),
        (None, "–"),
        (math.nan, "–"),
        ("", "–"),
        (True, "yes"),
    ],
)
def test_num(value: object, expected: str) -> None:
    assert fmt.num(value) == expected


def test_pct_lr_duration() -> None:
    assert fmt.pct(0.1234) == "12.3 %"
    assert fmt.pct(0.00042) == "0.042 %"
    assert fmt.pct(0) == "0 %"
    assert fmt.pct(1 / 3, 0) == "33 %"
    assert fmt.lr(0.002) == "2.0e-03"
    assert fmt.lr(None) == "–"
    assert fmt.duration(12.34) == "12.3 s"
    assert fmt.duration(750) == "12 min 30 s"
    assert fmt.duration(3720) == "1 h 02 min"


def test_params() -> None:
    assert fmt.params({"mix": 0.3, "pos_weight": 4.7329}) == "mix=0.3, pos_weight=4.73"
    assert fmt.params('{"alpha": 0.7, "beta": 0.3}') == "alpha=0.7, beta=0.3"
    assert fmt.params({"weights": [1.0, 2.5]}) == "weights=(1, 2.5)"
    assert fmt.params({}) == "–" and fmt.params("{}") == "–" and fmt.params(None) == "–"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("True", True),
        ("false", False),
        ("", False),
        (None, False),
        (math.nan, False),
        (0, False),
        (3, True),
        ("1", True),
        ("0", False),
        ("yes", True),
    ],
)
def test_as_bool_reads_flags_and_counts(value: object, expected: bool) -> None:
    assert as_bool(value) is expected


def test_threshold_shows_the_threshold_once() -> None:
    assert _threshold("<", 0.2) == "< 0.2"
    assert _threshold(">=", 0.1) == ">= 0.1"
    assert _threshold("in [0.01, 0.1)", 0.01) == "in [0.01, 0.1)"
    assert _threshold("not applicable", None) == "not applicable"


def test_agreement_sentence() -> None:
    first = {"loss": "weighted_ce", "params": {"pos_weight": 4.73}}
    agree = _agreement(TuneOutcome.from_dict({"rules_first_choice": first, "agrees_with_rules": True}))
    assert agree == "The trials confirm the rules' first choice, weighted_ce (pos_weight=4.73)."
    overrule = _agreement(
        TuneOutcome.from_dict(
            {"rules_first_choice": first, "agrees_with_rules": False, "recommended": {"loss": "ce"}}
        )
    )
    assert overrule == (
        "The trials do not confirm the rules' first choice, weighted_ce (pos_weight=4.73): "
        "the paired confirmation runs recommend ce (see the verdict above)."
    )
    assert _agreement(TuneOutcome.from_dict({})) == ""


def test_values_with_a_hyphen_are_kept_on_one_line_and_escaped() -> None:
    from lossadvisor.report._build import keep_values_whole

    html = str(keep_values_whole("dice at lr=2.0e-03 on 2026-11-30, <script> and a well-known tie"))
    assert '<span class="nowrap">lr=2.0e-03</span>' in html
    assert '<span class="nowrap">2026-11-30,</span>' in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "well-known" in html and '"nowrap">well-known' not in html  # plain words still wrap freely
    redacted = str(keep_values_whole("storage postgresql://me:hunter2@db-1/optuna"))
    assert "hunter2" not in redacted and "***" in redacted
