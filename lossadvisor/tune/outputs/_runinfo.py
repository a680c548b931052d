"""``run.json``: what was run, with which settings, on what machine, and how it ended.

The storage URL is always written redacted, so a PostgreSQL password never reaches a file a team shares.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from lossadvisor import runfolder
from lossadvisor._run_records import RunSummary
from lossadvisor.tune._options import TuneOptions
from lossadvisor.tune.study import redact_url
from lossadvisor.tune.training import DEFAULT_MODEL

RUN_JSON = runfolder.RUN_JSON


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def command_line(settings: dict) -> str:
    """The ``lossadvisor tune`` command equivalent to these settings (storage redacted); for in-memory data,
    the Python call. Every option with a CLI flag (:class:`~lossadvisor.tune.TuneOptions`) is written, so
    running the command again on the same folder resumes the same study."""
    in_memory = settings.get("images") is None and settings.get("masks") is None
    parts = ["lossadvisor", "tune"]
    keywords = []
    for f in TuneOptions.cli_fields():
        flag, value = f.metadata["flag"], settings.get(f.name, f.default)
        if f.metadata["accepts"].kind is bool:  # an off-switch (--no-report): written when it is off
            if value != f.default:
                parts.append(flag)
                keywords.append(f"{f.name}={value!r}")
            continue
        if value is None or (f.name == "model" and value == DEFAULT_MODEL):
            continue
        if f.name == "storage":
            value = redact_url(str(value))
        parts += [flag, str(value)]
        keywords.append(f"{f.name}={value!r}")
    if in_memory:  # no command line reproduces a Dataset: show the Python call
        return f"tune(train=<{settings.get('data', 'in-memory data')}>, " + ", ".join(keywords) + ")"
    return shlex.join(parts)


def environment(device_name: str, threads: int) -> dict:
    """Versions and machine facts that explain timings and results."""
    import optuna
    import torch

    from lossadvisor._version import __version__

    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "lossadvisor": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "optuna": optuna.__version__,
        "device": device_name,
        "torch_threads": threads,
        "cpu_count": os.cpu_count(),
        "load_average_1min": load,
    }


EARLIER = "earlier_invocations"  # run.json's record of the invocations before this one on the same folder


def earlier_invocations(path: Path) -> list[dict]:
    """The invocations recorded in the folder's ``run.json`` so far, oldest first: its own earlier ones and
    the last one (command, status, start, end, time taken, training seconds and runs).

    Running the recorded command again on a finished folder (to see the verdict again, or to extend it) writes
    a new ``run.json``; without this, the record of the run that did the training (8 minutes, 44 runs) would
    be replaced by that of a 1-second re-read. An unreadable ``run.json`` is reported as such by the report's
    loader, and starts no history here.
    """
    from lossadvisor.errors import DataError

    try:
        old = RunSummary.load(path)
    except (OSError, ValueError, TypeError, DataError):
        return []
    if not old.started:
        return []
    history = [h for h in old.extra.get(EARLIER) or [] if isinstance(h, dict)]
    timings = old.timings
    last = {
        "command": old.command, "status": old.status, "started": old.started, "finished": old.finished,
        "duration_s": old.duration_s, "train_s": timings.train_s if timings else None,
        "runs": timings.runs if timings else None,
    }  # fmt: skip
    return [*history, last]


class RunRecord:
    """Keeps ``run.json`` (a typed :class:`RunSummary`) up to date as the run moves from running to complete,
    interrupted or failed.

    Created only once the run is known to be valid (tune checks data, settings and storage first), so a
    refused run never overwrites the ``run.json`` of a finished one.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        settings: dict,
        command: str | None = None,
        storage_url: str,
        study_name: str,
        fingerprint: str,
        env: dict,
        left_out: list[str],
        model: dict | None = None,
    ) -> None:
        self.path = Path(run_dir) / RUN_JSON
        self.started = datetime.now(timezone.utc)
        public = {k: (redact_url(str(v)) if k == "storage" and v else v) for k, v in settings.items()}
        earlier = earlier_invocations(self.path)
        self.summary = RunSummary.from_dict(
            {
                "status": "running",
                "command": redact_url(command) if command else command_line(settings),
                "started": now_iso(),
                "finished": None,
                "duration_s": None,
                "settings": public,
                "environment": env,
                "storage": redact_url(storage_url),
                "study_name": study_name,
                "fingerprint": fingerprint,
                "left_out": left_out,
                "model": model,
                **({EARLIER: earlier} if earlier else {}),
            }
        )
        self.summary.save(self.path)

    def finish(self, status: str, **facts) -> None:
        """Record the end state ("complete", "interrupted" or "failed") and its facts: fields of
        :class:`RunSummary` (``trials``, ``timings``, ``reason``, ``error``)."""
        end = datetime.now(timezone.utc)
        self.summary = dataclasses.replace(
            self.summary,
            status=status,
            finished=now_iso(),
            duration_s=round((end - self.started).total_seconds(), 2),
            **facts,
        )
        self.summary.save(self.path)
