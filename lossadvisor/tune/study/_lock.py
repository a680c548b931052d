"""One ``tune`` process per run folder.

Two processes in one folder overwrite each other's run.json and tables, and on the folder's own SQLite study
the second would take the first's live trial for a dead one. So ``tune`` holds an exclusive ``flock`` on
``<out>/tune.lock`` for its whole run; the file names the holder (PID, host, start time, command) so a second
process is refused at once with a message that says who is using the folder. The kernel drops the lock when
the holder dies, however it dies, so a lock left by a killed process is stale and simply taken over.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import socket
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from lossadvisor._redact import redact
from lossadvisor.errors import LossAdvisorError

LOCK_NAME = "tune.lock"


class RunFolderBusyError(LossAdvisorError):
    """Another live process is running ``tune`` in this run folder."""


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class RunFolderLock:
    """Hold ``<run_dir>/tune.lock`` until :meth:`release` (or the process ends).

    Example:
        >>> lock = RunFolderLock.acquire("reports/buildings")  # doctest: +SKIP
        >>> lock.release()  # doctest: +SKIP
    """

    def __init__(self, path: Path, handle) -> None:
        self.path = path
        self._handle = handle

    @classmethod
    def acquire(cls, run_dir: str | Path) -> RunFolderLock:
        """Take the folder's lock, or raise :class:`RunFolderBusyError` naming the process that holds it."""
        path = Path(run_dir) / LOCK_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _parse(handle.read())
            handle.close()
            raise RunFolderBusyError(_busy_message(Path(run_dir), holder)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "command": redact(" ".join(["lossadvisor", *sys.argv[1:]]))[:300],
                }
            )
            + "\n"
        )
        handle.flush()
        return cls(path, handle)

    def release(self) -> None:
        """Drop the lock (the file stays: removing it could let two later processes lock two files)."""
        if self._handle.closed:
            return
        try:
            self._handle.seek(0)
            self._handle.truncate()
        finally:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()

    def __enter__(self) -> RunFolderLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _parse(text: str) -> dict:
    try:
        holder = json.loads(text)
        return holder if isinstance(holder, dict) else {}
    except ValueError:
        return {}


def _busy_message(run_dir: Path, holder: dict) -> str:
    who = f"process {holder.get('pid', '?')} on host {holder.get('host', '?')}"
    if holder.get("started"):
        who += f", started {holder['started']}"
    if holder.get("command"):
        who += f" ({holder['command']})"
    return (
        f"The run folder {str(run_dir)!r} is in use by {who}. One tune process per folder: wait for it to "
        f"finish (or stop it), or give this process its own --out folder. Several processes can share one "
        f"study through --storage journal:FILE (one machine) or --storage postgresql://... (many machines)."
    )


_held = threading.local()


def hold_folder(run_dir: str | Path) -> RunFolderLock:
    """Lock ``run_dir`` until the enclosing :func:`releases_folder_locks` function returns or raises.

    Taking the same folder again in that call returns the lock already held.
    """
    stack = getattr(_held, "stack", None)
    path = (Path(run_dir) / LOCK_NAME).resolve()
    for held in stack[-1] if stack else []:
        if held.path.resolve() == path:  # already held by this call
            return held
    lock = RunFolderLock.acquire(run_dir)
    if stack is None:
        lock.release()
        raise RuntimeError(
            "hold_folder() must be called inside a function decorated with releases_folder_locks"
        )
    stack[-1].append(lock)
    return lock


def releases_folder_locks(fn: Callable) -> Callable:
    """Release every folder lock ``fn`` took with :func:`hold_folder` when it ends, however it ends."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        stack = getattr(_held, "stack", None)
        if stack is None:
            stack = _held.stack = []
        stack.append([])
        try:
            return fn(*args, **kwargs)
        finally:
            for lock in stack.pop():
                lock.release()

    return wrapper
