"""Open an Optuna storage that many processes can share, and the lock that makes check-then-write atomic.

Three kinds of storage, by how many processes share one study:

- SQLite (``sqlite:///path``, the default ``<out>/study.db``): one process (the run-folder lock enforces it).
- A journal file (``journal:PATH``, Optuna's ``JournalStorage``): a few processes on one machine.
- PostgreSQL (``postgresql://user:pw@host/db``): many machines.

Workers that start in the same second on an empty PostgreSQL database race to create Optuna's tables (the
``pg_type_typname_nsp_index`` unique violation) and the study. Creation is therefore done under a PostgreSQL
advisory lock, and retried with backoff on the known races. The same lock (a ``flock`` for the file-based
storages) guards every "look, then write once" step: storing what defines the study, enqueueing the default
trials, claiming the next trial within the budget.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from lossadvisor._text import display_path
from lossadvisor.errors import ConfigError
from lossadvisor.tune.study._urls import driver_hint, driver_url, redact_url, scrub

logger = logging.getLogger(__name__)

JOURNAL_PREFIX = "journal:"
LOCK_SUFFIX = ".lossadvisor-lock"
ADVISORY_NAMESPACE = 0x4C41  # "LA": first key of pg_advisory_lock(int, int); the second is the study's crc32
SCHEMA_LOCK = "<schema>"
OPEN_ATTEMPTS = 6
GRACE_HEARTBEATS = 4  # a trial silent for this many heartbeats belongs to a dead worker


def storage_kind(url: str) -> str:
    """ "journal", "sqlite", "postgresql" or "other" (another SQLAlchemy database)."""
    if url.startswith(JOURNAL_PREFIX):
        return "journal"
    scheme = url.partition("://")[0].split("+")[0]
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    return "other"


def journal_path(url: str) -> Path:
    """The file of a ``journal:PATH`` storage (``journal:///abs/path`` is accepted too)."""
    rest = url[len(JOURNAL_PREFIX) :]
    if rest.startswith("///"):
        rest = rest[2:]
    if not rest:
        raise ConfigError(
            "The 'storage' option of tune must name a file after 'journal:'; got 'journal:'. "
            "Example: --storage journal:reports/buildings/study.journal"
        )
    return Path(rest)


def _file_of(url: str) -> Path | None:
    kind = storage_kind(url)
    if kind == "journal":
        return journal_path(url)
    if kind == "sqlite":
        path = url.partition("://")[2][1:]  # sqlite:///rel or sqlite:////abs
        return Path(path) if path and path != ":memory:" else None
    return None


def _is_creation_race(exc: BaseException) -> bool:
    """The errors two processes get when they create the same tables, rows or study at once."""
    text = f"{type(exc).__name__}: {exc}"
    return any(
        marker in text
        for marker in (
            "UniqueViolation",
            "pg_type_typname_nsp_index",
            "already exists",
            "IntegrityError",
            "DuplicatedStudyError",
            "database is locked",
        )
    )


def with_retries(action: Callable, *, what: str, attempts: int = OPEN_ATTEMPTS):
    """Run ``action``; on a creation race, wait a random, growing delay and try again."""
    for attempt in range(attempts):
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - driver errors have many types; only races are retried
            if attempt == attempts - 1 or not _is_creation_race(exc):
                raise
            delay = (0.1 * 2**attempt) * (0.5 + random.random())
            logger.debug("%s raced with another worker (%s); retrying in %.2f s", what, exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def _rdb_kwargs(heartbeat_s: int | None, on_stale: Callable | None) -> dict:
    """Heartbeat arguments of RDBStorage; optuna 4.9 renamed the stale-trial callback."""
    import inspect

    import optuna

    if heartbeat_s is None:
        return {}
    params = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
    callback_arg = (
        "heartbeat_stale_trial_callback"
        if "heartbeat_stale_trial_callback" in params
        else "failed_trial_callback"
    )
    return {
        "heartbeat_interval": heartbeat_s,
        "grace_period": heartbeat_s * GRACE_HEARTBEATS,
        callback_arg: on_stale,
    }


def open_storage(
    url: str,
    *,
    label: str | None = None,
    heartbeat_s: int | None = None,
    on_stale: Callable | None = None,
    create: bool = True,
):
    """An Optuna storage for ``url``; errors become a ConfigError without the password.

    Args:
        url: SQLAlchemy URL (SQLite, PostgreSQL, ...) or ``journal:PATH``.
        label: How messages name the storage (the default SQLite file as the user's run folder).
        heartbeat_s: Seconds between heartbeats of a running trial (RDB storages); a trial silent for
            ``GRACE_HEARTBEATS`` heartbeats is failed by the next worker that looks, and ``on_stale`` runs.
        on_stale: ``(study, failed_trial)`` callback for such a trial (re-enqueue it).
        create: False to read an existing storage only (``lossadvisor report --storage``): a SQLite or
            journal file that does not exist is refused instead of being created empty.
    """
    import optuna

    kind = storage_kind(url)
    shown = label or redact_url(url)
    file = _file_of(url)
    if file is not None and not create and not file.is_file():
        raise ConfigError(
            f"The storage {shown} does not exist (no file {display_path(file)}); nothing was created. Pass "
            f"the --storage the workers used."
        )
    if kind == "journal" and not journal_path(url).parent.is_dir():
        raise ConfigError(
            f"The folder of the journal storage {shown} does not exist; create it first (as SQLite needs "
            f"its folder too), or name a journal file in an existing folder."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if kind == "journal":
                from optuna.storages.journal import JournalFileBackend, JournalStorage

                return JournalStorage(JournalFileBackend(str(journal_path(url))))
            kwargs = _rdb_kwargs(heartbeat_s, on_stale)
            if kind != "postgresql":
                return with_retries(
                    lambda: optuna.storages.RDBStorage(driver_url(url), **kwargs), what="Opening the storage"
                )
            with advisory_lock(url, SCHEMA_LOCK):
                return with_retries(
                    lambda: optuna.storages.RDBStorage(driver_url(url), **kwargs), what="Creating tables"
                )
    except ConfigError:
        raise
    except Exception as exc:  # SQLAlchemy / driver errors have many types
        if _disk_full(exc):
            raise ConfigError(
                f"Cannot write the Optuna storage {shown}: its disk is full. Free space on that disk (or "
                f"pass --storage / --out on another one) and run the same command again."
            ) from None
        detail = scrub(str(exc), url, shown).splitlines()[0] if str(exc) else type(exc).__name__
        hint = (
            "that the folder exists and is writable"
            if kind == "journal"
            else (f"that its driver is installed: {driver_hint(url)}")
        )
        raise ConfigError(
            f"Cannot open the Optuna storage {shown}: {detail}. Check the URL, that the server is reachable "
            f"and {hint}."
        ) from None


def _disk_full(exc: BaseException) -> bool:
    """A storage error that is a full disk (the OS's ENOSPC, or SQLite's and PostgreSQL's words for it)."""
    import errno

    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc).lower()
        if "disk is full" in text or "no space left" in text or "could not extend file" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _lock_key(name: str) -> int:
    """A signed 32-bit key for pg_advisory_lock from a study name."""
    value = zlib.crc32(name.encode())
    return value - 2**32 if value >= 2**31 else value


_ENGINES: dict[str, object] = {}


@contextlib.contextmanager
def advisory_lock(url: str, name: str) -> Iterator[None]:
    """Hold PostgreSQL's session advisory lock for ``name`` (released at once if the process dies)."""
    import sqlalchemy

    engine = _ENGINES.get(url)
    if engine is None:
        engine = sqlalchemy.create_engine(driver_url(url), poolclass=sqlalchemy.pool.NullPool)
        _ENGINES[url] = engine
    with engine.connect() as conn:
        key = {"ns": ADVISORY_NAMESPACE, "key": _lock_key(name)}
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:ns, :key)"), key)
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:ns, :key)"), key)
            conn.commit()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o666)  # an empty lock target, never written
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def study_lock(url: str, study_name: str) -> Iterator[None]:
    """Mutual exclusion between every process working on ``study_name`` in the storage ``url``.

    PostgreSQL: an advisory lock (a dead process's lock is released with its connection). SQLite and
    journal files: ``flock`` on a file beside the storage (released by the kernel when a process dies).
    Other databases: no lock (PostgreSQL is the supported server for many workers).
    """
    kind = storage_kind(url)
    if kind == "postgresql":
        with advisory_lock(url, study_name):
            yield
        return
    path = _file_of(url)
    if path is None:
        yield
        return
    with _file_lock(path):
        yield
