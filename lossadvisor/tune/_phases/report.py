"""Phase ``report``: ``report.html``, from the run folder's files alone (after run.json says "complete", so
the report does not show a running study)."""

from __future__ import annotations

from pathlib import Path

from lossadvisor.tune._phases._context import TuneContext


def build(tc: TuneContext) -> Path | None:
    """Build the report when ``report`` is on; return its path, or None."""
    if not tc.options.report:
        return None
    from lossadvisor.report import build_report

    return Path(build_report(tc.run_dir))
