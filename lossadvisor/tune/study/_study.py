"""Open (or resume) the Optuna study of a run, refuse one made from other data, and never leak a password.

The study's user attributes hold what makes trials comparable: the dataset fingerprint and the settings that
change the objective (image size, crop, epochs, steps, split). Resuming with a different value would mix two
experiments in one ranking, so it is refused with :class:`StudyMismatchError` and a way out.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from lossadvisor import runfolder
from lossadvisor._redact import REDACTED, redact, url_password
from lossadvisor.errors import StudyMismatchError

logger = logging.getLogger(__name__)

DEFAULT_STUDY_NAME = "lossadvisor"
STUDY_DB = runfolder.STUDY_DB
FINGERPRINT_ATTR = "fingerprint"
SETTINGS_ATTR = "objective_settings"
DEFINITION_ATTR = "recommendation"  # what the first worker advised; every later worker searches that space
STALE_REASON = "stale: the process running it ended before it finished"
# How shareable files name the default storage: relative to the run folder, never the machine's own path.
DEFAULT_STORAGE_LABEL = f"sqlite:///{STUDY_DB}"
_SQLITE_PREFIX = "sqlite:///"
# The driver to install for each URL scheme (SQLAlchemy dialect names), for the "cannot open" message.
_DRIVER_HINTS = {
    "postgresql": "psycopg2 (pip install 'lossadvisor[postgres]') or psycopg",
    "postgres": "psycopg2 (pip install 'lossadvisor[postgres]') or psycopg",
    "mysql": "pymysql (pip install pymysql) or mysqlclient, with a URL like mysql+pymysql://",
    "mariadb": "pymysql (pip install pymysql) or mysqlclient, with a URL like mariadb+pymysql://",
    "oracle": "oracledb (pip install oracledb)",
    "mssql": "pyodbc (pip install pyodbc) and an ODBC driver",
    "sqlite": "nothing (SQLite is built in); check that the folder exists and is writable",
}


def redact_url(url: str) -> str:
    """Hide the password of a storage URL.

    Example:
        >>> redact_url("postgresql://user:secret@db.example:5432/optuna")
        'postgresql://user:***@db.example:5432/optuna'
    """
    return redact(url)


def scrub(text: str, url: str | None, label: str | None = None) -> str:
    """Remove the password of ``url`` from any text (an error message from a database driver).

    With ``label``, the URL (and for SQLite its file path, which is absolute for the default storage) is
    replaced by it, so a message never shows a resolved path the user did not type.
    """
    if not url:
        return text
    password = url_password(url)
    text = text.replace(url, label or redact_url(url))
    if label and url.startswith(_SQLITE_PREFIX):
        text = text.replace(url[len(_SQLITE_PREFIX) :], label)
    if password:
        text = text.replace(password, REDACTED)
    return text


def default_storage_url(run_dir: Path) -> str:
    """The URL tune connects to (absolute: tune may change folder); files show DEFAULT_STORAGE_LABEL."""
    return f"{_SQLITE_PREFIX}{(Path(run_dir) / STUDY_DB).resolve()}"


def driver_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; lossadvisor's ``postgres`` extra installs
    psycopg2, so a bare URL is pointed at psycopg2 when psycopg 3 is absent. Explicit drivers are kept.

    Example:
        >>> driver_url("sqlite:///study.db")
        'sqlite:///study.db'
    """
    import importlib.util

    scheme, sep, rest = url.partition("://")
    bare_postgres = sep and scheme in ("postgresql", "postgres")
    if bare_postgres and importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
        return f"postgresql+psycopg2://{rest}"
    return url


def driver_hint(url: str) -> str:
    """What to install for the scheme of ``url``.

    Example:
        >>> driver_hint("mysql://u@host/db").split()[0]
        'pymysql'
    """
    scheme = url.partition("://")[0].split("+")[0].lower()
    return _DRIVER_HINTS.get(scheme, f"the SQLAlchemy driver for {scheme or 'this URL'}")


def open_storage(url: str, *, label: str | None = None, heartbeat_s: int | None = None, on_stale=None):
    """An Optuna storage for ``url`` (see :func:`lossadvisor.tune.study._storage.open_storage`)."""
    from lossadvisor.tune.study._storage import open_storage as _open

    return _open(url, label=label, heartbeat_s=heartbeat_s, on_stale=on_stale)


def open_study(
    storage,
    *,
    study_name: str,
    fingerprint: str,
    objective_settings: dict,
    sampler,
    pruner,
    storage_label: str,
    lock: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    definition: dict | None = None,
):
    """Create the study or join it, checking it was made from the same data and objective.

    The first worker stores what defines the study (fingerprint, objective settings, and ``definition``,
    the recommendation whose search space every worker explores); a later worker is checked against it.
    All of it happens under ``lock``, so workers starting in the same second agree on one definition.

    Returns:
        ``(study, stored_definition)``: the definition the study holds (this worker's, if it created it).

    Raises:
        StudyMismatchError: The stored fingerprint or objective settings differ.
    """
    import optuna

    from lossadvisor.tune.study._storage import with_retries

    with lock():
        study = with_retries(
            lambda: optuna.create_study(
                study_name=study_name,
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                direction="maximize",
                load_if_exists=True,
            ),
            what="Creating the study",
        )
        attrs = study.user_attrs
        if attrs.get(FINGERPRINT_ATTR) is None:
            study.set_user_attr(FINGERPRINT_ATTR, fingerprint)
            study.set_user_attr(SETTINGS_ATTR, objective_settings)
            if definition is not None:
                study.set_user_attr(DEFINITION_ATTR, definition)
            return study, definition
    _compare(attrs, study_name, fingerprint, objective_settings, storage_label)
    return study, attrs.get(DEFINITION_ATTR, definition)


def check_study(
    storage, *, study_name: str, fingerprint: str, objective_settings: dict, storage_label: str
) -> None:
    """Refuse, before anything is written, a study made from other data or objective settings.

    Reads only: a study that does not exist yet passes (it will be created).

    Raises:
        StudyMismatchError: The stored fingerprint or objective settings differ.
    """
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return
    attrs = storage.get_study_user_attrs(study_id)
    if attrs.get(FINGERPRINT_ATTR) is not None:
        _compare(attrs, study_name, fingerprint, objective_settings, storage_label)


def stored_settings(storage, *, study_name: str) -> dict | None:
    """The objective settings a study was made with (``None`` when there is no such study yet, or it holds
    none); reads only."""
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return None
    attrs = storage.get_study_user_attrs(study_id)
    return attrs.get(SETTINGS_ATTR) if attrs.get(FINGERPRINT_ATTR) is not None else None


def _compare(attrs: dict, study_name: str, fingerprint: str, objective_settings: dict, label: str) -> None:
    stored = attrs.get(FINGERPRINT_ATTR)
    if stored != fingerprint:
        raise StudyMismatchError(
            f"Study {study_name!r} in {label} was made from other data "
            f"(fingerprint {stored[:12]}..., these masks give {fingerprint[:12]}...). Resuming or joining it "
            f"would mix two datasets in one ranking. Nothing was changed. Point this worker at the same "
            f"images and masks as the study's other workers, use another --out folder or --study name, or "
            f"delete the old study to start over."
        )
    old = attrs.get(SETTINGS_ATTR, {})
    changed = {k: (old.get(k), v) for k, v in objective_settings.items() if old.get(k) != v}
    if changed:
        diff = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(changed.items()))
        raise StudyMismatchError(
            f"Study {study_name!r} in {label} was run with other training settings ({diff}); its "
            f"trials are not comparable with new ones. Nothing was changed. Re-run with the old settings to "
            f"resume, or use another --out folder or --study name."
        )


def fail_stale_trials(study, storage) -> int:
    """Mark trials left RUNNING by a process that died as FAIL (only for the run folder's own SQLite file).

    With shared storage (PostgreSQL) a RUNNING trial may belong to another machine, so it is left alone.
    """
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        storage.set_trial_user_attr(t._trial_id, "fail_reason", STALE_REASON)
        study.tell(t.number, state=TrialState.FAIL)
    if stale:
        logger.warning("Marked %d trial(s) left running by an earlier process as failed.", len(stale))
    return len(stale)
