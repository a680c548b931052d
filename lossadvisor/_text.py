"""Make any string that comes from a path or from data safe to print and to write.

File names are bytes on POSIX: a name that is not valid UTF-8 reaches Python as lone surrogates (which crash
``print``, ``json`` and ``hashlib``), and a name holding a newline or an ANSI escape would forge lines or
recolour the terminal. Every user-facing string derived from a path or a file's content goes through
:func:`safe_text` (or :func:`display_path`): undecodable bytes become ``\\xNN``, control characters
(C0, DEL, C1) become escapes, so the name can still be recognised. HTML escaping is the report's job
(Jinja autoescape); this is about terminals, logs, CSV and JSON.

One rule, applied where text leaves the program rather than at each name: every cell and header of a CSV
(``_atomic.write_csv`` / ``write_frame``), every value the report prints (its Jinja ``finalize``, before
autoescaping), and every summary the CLI prints (:func:`safe_lines`, names escaped before they are laid out).
``tests/test_hostile_names.py`` writes hostile names through all of them.
"""

from __future__ import annotations

import os

# C0 controls, DEL and the C1 range (0x80-0x9f: 0x9b alone starts an ANSI sequence on many terminals).
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_CONTROL |= {ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r"}


def safe_text(text: object) -> str:
    """A printable, UTF-8-encodable form of ``text`` (``str()`` of anything else).

    Example:
        >>> safe_text("tile\\x1b[31m\\nWARNING fake.png")
        'tile\\\\x1b[31m\\\\nWARNING fake.png'
        >>> safe_text("caf\\udce9.png")  # a Latin-1 byte in a file name, decoded with surrogateescape
        'caf\\\\xe9.png'
    """
    text = text if isinstance(text, str) else str(text)
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate outside the escape range: show its code point
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace").translate(_CONTROL)


def display_path(path: str | os.PathLike[str] | bytes) -> str:
    """A printable, UTF-8-safe form of ``path`` (see :func:`safe_text`).

    Example:
        >>> display_path(b"masks/caf\\xe9.png")
        'masks/caf\\\\xe9.png'
    """
    if isinstance(path, bytes):
        return path.decode("utf-8", "backslashreplace").translate(_CONTROL)
    return safe_text(os.fspath(path))


def safe_lines(text: str) -> str:
    """:func:`safe_text` for multi-line output: each line escaped, the line breaks between them kept."""
    return "\n".join(safe_text(line) for line in str(text).split("\n"))
