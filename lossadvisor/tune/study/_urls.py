"""Storage URLs: the driver to use, the hint when it is missing, and never a password or a machine's path.

Kept apart from :mod:`._storage` (which opens storages) and :mod:`._study` (which opens studies) so both can
use them and neither imports the other back.
"""

from __future__ import annotations

from pathlib import Path

from lossadvisor import runfolder
from lossadvisor._redact import REDACTED, redact, url_password

# How shareable files name the default storage: relative to the run folder, never the machine's own path.
DEFAULT_STORAGE_LABEL = f"sqlite:///{runfolder.STUDY_DB}"
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
    return f"{_SQLITE_PREFIX}{(Path(run_dir) / runfolder.STUDY_DB).resolve()}"


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
