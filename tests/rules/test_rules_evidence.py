"""Every measured rung cites evidence rows, and every cited row is in the committed evidence table."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest

from lossadvisor.rules import DEFAULT_THRESHOLDS
from lossadvisor.rules._evidence import EVIDENCE, EVIDENCE_DOC, cite
from lossadvisor.rules._imbalance import LEVEL_CHOICES, ImbalanceMeasure, imbalance_level

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "evidence_rules.csv"
CITATION = re.compile(r"evidence: docs/EVIDENCE\.md rows ([\w\-, ]+)")


def _rows() -> list[dict]:
    with TABLE.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _level(row: dict) -> str:
    measure = ImbalanceMeasure("fg", float(row["minority_share"]), float(row["imbalance_ratio"]), ())
    return imbalance_level(measure, DEFAULT_THRESHOLDS)


def test_the_evidence_table_is_committed_with_its_document() -> None:
    assert TABLE.is_file() and (ROOT / EVIDENCE_DOC).is_file()
    rows = _rows()
    assert rows and {"set_id", "arm", "iou", "iou_sd", "recall", "minority_share", "runs"} <= set(rows[0])


@pytest.mark.parametrize("claim", sorted(EVIDENCE))
def test_every_cited_row_exists(claim: str) -> None:
    ids = {r["set_id"] for r in _rows()}
    assert EVIDENCE[claim], claim
    missing = [row for row in EVIDENCE[claim] if row not in ids]
    assert not missing, f"{claim} cites rows that the evidence table does not hold: {missing}"
    assert CITATION.fullmatch(cite(claim))


def test_every_rung_of_a_measured_level_cites_rows_of_that_level() -> None:
    """A level some evidence row falls into: each rung whose loss was measured on such a row must cite at
    least one row, and the rows it cites must exist. Rungs of levels (or losses) never measured here keep
    their literature reasons; this test starts to demand a citation as soon as the table covers them."""
    rows = _rows()
    ids = {r["set_id"] for r in rows}
    for level, choices in LEVEL_CHOICES.items():
        measured = {r["loss"] for r in rows if _level(r) == level}
        for loss, reason in choices:
            if loss not in measured:
                continue
            found = CITATION.search(reason)
            assert found, f"level {level!r}, rung {loss!r}: the rationale cites no evidence row"
            cited = [c.strip() for c in found.group(1).split(",")]
            assert cited and set(cited) <= ids, (level, loss, cited)


def _binary_sets() -> dict[str, list[dict]]:
    by_set: dict[str, list[dict]] = {}
    for row in _rows():
        if row["classes"] == "2":
            by_set.setdefault(row["set_id"], []).append(row)
    return by_set


@pytest.mark.parametrize("objective", ["iou", "recall"])
def test_the_first_choice_is_within_the_noise_of_the_best_on_every_binary_evidence_row(objective) -> None:
    """The rules, given a profile with a row's figures (minority share, empty, tiny and boundary shares), put
    first a loss whose measured score on that row is within the seed noise of the best (as the benchmark's
    regret table defines it: the root mean square of the two losses' seed SDs) and never below plain CE's by
    more than that. The arm of a weighted CE first
    choice is the one with the weights the objective gets (square roots for IoU, full for recall)."""
    from crafted_profiles import build_profile

    from lossadvisor.rules import recommend

    sets = _binary_sets()
    assert len(sets) >= 6
    for set_id, rows in sets.items():
        r0 = rows[0]
        profile = build_profile(
            (float(r0["minority_share"]),), tiny_share=float(r0["tiny_share"]),
            boundary_share=float(r0["boundary_share"]), absent_shares=(float(r0["empty_share"]),),
        )  # fmt: skip
        first = recommend(profile, objective=objective).top.loss
        arm = {"weighted_ce": "weighted_ce_sqrt" if objective == "iou" else "weighted_ce"}.get(first, first)
        by_arm = {r["arm"]: r for r in rows}
        assert arm in by_arm, (set_id, arm)

        def mean_sd(r):
            assert int(r["runs"]) >= 2, (r["set_id"], r["arm"])  # a noise needs seeds
            return float(r[objective]), float(r[f"{objective}_sd"])

        best = max(by_arm.values(), key=lambda r: float(r[objective]))
        (mine, sd_mine), (top, sd_top) = mean_sd(by_arm[arm]), mean_sd(best)
        noise = math.sqrt((sd_mine**2 + sd_top**2) / 2)
        assert top - mine <= noise + 1e-9, (set_id, objective, first, top - mine, noise)
        ce, sd_ce = mean_sd(by_arm["ce"])
        assert ce - mine <= math.sqrt((sd_mine**2 + sd_ce**2) / 2) + 1e-9, (set_id, objective, first)
