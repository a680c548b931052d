"""Strings from the data are shown as text, never markup; storage passwords never reach the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from html_tables import body_rows, parse
from report_runs import write_run_folder

from lossadvisor._redact import redact, redact_deep
from lossadvisor.profile._schema import SkippedFile
from lossadvisor.report import build_report

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def evil_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_run_folder(
        tmp_path_factory.mktemp("evil") / "run",
        stage="complete",
        class_name=f'{EVIL}"roof',
        skipped=(SkippedFile(path=f"masks/{EVIL}.png", reason=f"unexpected values {{0, 7}} in {EVIL}"),),
        storage="postgresql://lab:s3cret-pw@db.example:5432/studies?sslmode=require",
        command="lossadvisor tune --images i --masks m --storage postgresql://lab:s3cret-pw@db.example/studies",
    )
    return build_report(folder)


def test_script_names_are_escaped(evil_report: Path) -> None:
    html = evil_report.read_text(encoding="utf-8")
    parser = parse(html)
    assert "script" not in parser.tags  # no element was injected
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.png" in html
    skipped = body_rows(parser, "skipped-files")
    assert skipped == [[f"masks/{EVIL}.png", f"unexpected values {{0, 7}} in {EVIL}"]]  # shown as text
    assert f'{EVIL}"roof' in [row[1] for row in body_rows(parser, "classes")]


def test_storage_password_never_appears(evil_report: Path) -> None:
    html = evil_report.read_text(encoding="utf-8")
    assert "s3cret-pw" not in html
    assert "postgresql://lab:***@db.example:5432/studies?sslmode=require" in html
    assert "--storage postgresql://lab:***@db.example/studies" in html


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://lab:s3cret@db:5432/x", "postgresql://lab:***@db:5432/x"),
        ("mysql+pymysql://u:p%40ss@h/db", "mysql+pymysql://u:***@h/db"),
        (
            "postgresql://db/x?user=lab&password=s3cret&sslmode=require",
            "postgresql://db/x?user=lab&password=***&sslmode=require",
        ),
        ("run --password hunter2 --fast", "run --password *** --fast"),
        ("sqlite:///reports/run/study.db", "sqlite:///reports/run/study.db"),  # nothing secret: unchanged
        ("postgresql://lab@db/x", "postgresql://lab@db/x"),  # user without password: unchanged
        ("see https://arxiv.org/abs/1606.04797", "see https://arxiv.org/abs/1606.04797"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_deep_walks_nested_values() -> None:
    run = {"storage": "postgresql://a:b@h/d", "settings": {"urls": ["redis://:pw@h:6379"]}, "n": 3}
    assert redact_deep(run) == {
        "storage": "postgresql://a:***@h/d",
        "settings": {"urls": ["redis://:***@h:6379"]},
        "n": 3,
    }
