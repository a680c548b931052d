"""The per-file error: which file, what was expected, what was found, and what to do about it."""

from __future__ import annotations

import os
from pathlib import Path

from lossadvisor.errors import DataError

_CONTROL_CHARS = {code: f"\\x{code:02x}" for code in range(32)} | {ord("\n"): "\\n", ord("\t"): "\\t"}


def display_path(path: str | os.PathLike[str]) -> str:
    """A printable, UTF-8-safe form of ``path``.

    File names are bytes on POSIX: a name that is not valid UTF-8 (a Latin-1 name from an old archive) or that
    holds a newline would break a CSV row, a JSON file or the terminal. Undecodable bytes become ``\\xNN`` and
    control characters are escaped, so every name can be printed and written, and still be recognised.
    """
    text = os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")
    return text.translate(_CONTROL_CHARS)


class MaskFileError(DataError):
    """One mask file cannot be used. A profile run lists it as skipped (with :attr:`reason`) and goes on.

    Attributes:
        path: the file.
        expected: what a usable mask would have been (e.g. "a single-channel mask").
        found: what the file holds instead (e.g. "an RGB image with 41,203 colours").
        hint: what to do next.
    """

    def __init__(self, path: str | os.PathLike[str], *, expected: str, found: str, hint: str) -> None:
        self.path = Path(path)
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(f"{display_path(path)}: {self.reason}")

    @property
    def reason(self) -> str:
        """The message without the file name (the skipped-files list already shows the file)."""
        return f"expected {self.expected}; found {self.found}. {self.hint}"

    def __reduce__(self):  # keyword-only __init__: tell pickle (multiprocessing) how to rebuild it
        return (_rebuild, (self.path, self.expected, self.found, self.hint))


def _rebuild(path: Path, expected: str, found: str, hint: str) -> MaskFileError:
    return MaskFileError(path, expected=expected, found=found, hint=hint)
