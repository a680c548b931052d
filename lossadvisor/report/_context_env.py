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

# run.json keys shown in their own rows or tables.
_SHOWN = frozenset(
    {
        "status",
        "command",
        "started",
        "finished",
        "duration_s",
        "settings",
        "environment",
        "storage",
        "study_name",
        "fingerprint",
        "left_out",
    }
)


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
    info = run.run.to_dict()  # every key, the declared ones and any a newer tuner added
    section["command"] = run.run.command
    documented = [
        ("status", str(info.get("status", fmt.MISSING))),
        ("started", str(info.get("started") or fmt.MISSING)),
        ("finished", str(info.get("finished") or fmt.MISSING)),
        ("time taken", fmt.duration(info.get("duration_s"))),
        ("study", str(info.get("study_name") or fmt.MISSING)),
        ("storage", str(info.get("storage") or fmt.MISSING)),
        ("data fingerprint", str(info.get("fingerprint") or fmt.MISSING)),
    ]
    extra = [(key.replace("_", " "), _plain(value)) for key, value in info.items() if key not in _SHOWN]
    section["run"] = facts(documented + extra)
    section["environment"] = _mapping_table(info.get("environment"))
    section["settings"] = _mapping_table(info.get("settings"))
    left_out = info.get("left_out") or []
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
