"""The environment section: the exact command, timing, settings, versions and device from ``run.json``.

``run.json`` is already redacted by the tuner and again by the loader; anything the tuner adds beyond the
documented keys (e.g. timings) is shown too, so nothing recorded about a run is hidden from its reviewers.
"""

from __future__ import annotations

from typing import Any

from lossadvisor._version import __version__
from lossadvisor.report import _format as fmt
from lossadvisor.report._load import RUN, RunFolder
from lossadvisor.report._table import Table, facts


def environment_section(run: RunFolder) -> dict[str, Any]:
    """Command, timing, settings, versions and device from ``run.json`` (credentials redacted)."""
    section: dict[str, Any] = {"problems": run.problems_with(RUN)}
    versions = []
    if run.profile is not None:
        versions.append(("profile written by", f"lossadvisor {run.profile.created_with or fmt.MISSING}"))
    if run.recommendation is not None:
        versions.append(
            ("advice written by", f"lossadvisor {run.recommendation.created_with or fmt.MISSING}")
        )
    versions.append(("report written by", f"lossadvisor {__version__}"))
    section["versions"] = facts(versions)
    if run.run is None:
        section["missing"] = (
            "No run.json: this folder was not written by `lossadvisor tune`, so there is no "
            "command, timing or training environment to show."
        )
        return section
    summary = run.run
    section["command"] = summary.command
    documented = [
        ("status", summary.status or fmt.MISSING),
        ("started", summary.started or fmt.MISSING),
        ("finished", summary.finished or fmt.MISSING),
        ("time taken", fmt.duration(summary.duration_s)),
        ("study", summary.study_name or fmt.MISSING),
        ("storage", summary.storage or fmt.MISSING),
        ("data fingerprint", summary.fingerprint or fmt.MISSING),
    ]
    # the end-state facts a run has, and any key a newer tuner added (nothing recorded is hidden)
    known = [
        ("model", summary.model.to_dict() if summary.model is not None else None),
        ("trials", summary.trials),
        ("timings", summary.timings.to_dict() if summary.timings is not None else None),
        ("reason", summary.reason),
        ("error", summary.error),
    ]
    more = [(k, v) for k, v in known if v is not None] + list(summary.extra.items())
    section["run"] = facts(documented + [(key.replace("_", " "), _plain(value)) for key, value in more])
    section["environment"] = _mapping_table(summary.environment)
    section["settings"] = _mapping_table(summary.settings)
    left_out = summary.left_out
    section["left_out"] = Table(
        columns=["file left out of training, and why"], rows=[[str(item)] for item in left_out], id="left-out"
    )
    return section


def _mapping_table(mapping: Any) -> Table | None:
    if not isinstance(mapping, dict) or not mapping:
        return None
    return facts([(str(k), _plain(v)) for k, v in mapping.items()])


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items()) or fmt.MISSING
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value) or fmt.MISSING
    if isinstance(value, bool):
        return fmt.yes_no(value)
    if isinstance(value, float):
        return fmt.num(value)
    return fmt.MISSING if value is None else str(value)
