"""Keep secrets out of everything lossadvisor writes: passwords in storage URLs become ``***``.

The tuner redacts the storage URL before it writes ``run.json`` or logs anything; the report, which is
attached to project reviews and mailed around, redacts again, defensively, every string it renders (a
command line typed with ``--storage postgresql://user:secret@host/db`` must not leak through the "exact
command" either). One module, so both use the same rules.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "***"

# scheme://user:password@host  ->  scheme://user:***@host   (RFC 3986 userinfo)
_USERINFO_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*):(?P<secret>[^/\s@]+)@")
# ...?password=secret&...  (libpq and SQLAlchemy accept the password as a query parameter too)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&;](?:password|passwd|pwd)=)(?P<secret>[^&;\s]+)", re.IGNORECASE)
# --password secret / --password=secret on a command line
_OPTION_PASSWORD = re.compile(r"(?P<head>--?(?:password|passwd|pwd)[= ])(?P<secret>\S+)", re.IGNORECASE)


def redact(text: str) -> str:
    """Replace the passwords in URLs (and password options) inside ``text`` by ``***``.

    Args:
        text: any string that may hold a URL, e.g. ``postgresql://lab:s3cret@db:5432/studies``.

    Returns:
        The same string with every password replaced, e.g. ``postgresql://lab:***@db:5432/studies``.

    Example:
        >>> redact("postgresql://lab:s3cret@db/studies?sslmode=require")
        'postgresql://lab:***@db/studies?sslmode=require'
    """
    text = _USERINFO_PASSWORD.sub(rf"\g<head>:{REDACTED}@", text)
    text = _QUERY_PASSWORD.sub(rf"\g<head>{REDACTED}", text)
    return _OPTION_PASSWORD.sub(rf"\g<head>{REDACTED}", text)


def url_password(url: str) -> str | None:
    """The password inside ``scheme://user:password@host`` (``None`` when there is none)."""
    match = _USERINFO_PASSWORD.search(url)
    return match.group("secret") if match else None


def redact_deep(value: Any) -> Any:
    """:func:`redact` every string inside nested dicts, lists and tuples (e.g. a whole ``run.json``)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_deep(k): redact_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_deep(v) for v in value)
    return value
