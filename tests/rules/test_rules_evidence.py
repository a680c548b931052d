"""Every measured rung cites evidence rows, and every cited row is in the committed evidence table."""

from __future__ import annotations

import csv
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
