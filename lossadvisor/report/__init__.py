"""The self-contained HTML report of a run folder (inline CSS, inline PNG plots, no JavaScript, no network).

Reads only the saved files of a run folder (``docs/ARCHITECTURE.md``), so a report can be rebuilt at any time,
including for a partial run. matplotlib and seaborn are imported on first use only::

    from lossadvisor.report import build_report
    build_report("reports/buildings")          # -> reports/buildings/report.html
"""

from __future__ import annotations

from lossadvisor.report._build import REPORT_NAME, build_report
from lossadvisor.report._load import RunFolder, load_run

__all__ = ["REPORT_NAME", "RunFolder", "build_report", "load_run"]
