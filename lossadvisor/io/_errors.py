"""The per-file error: which file, what was expected, what was found, and what to do about it."""

from __future__ import annotations

import os
from pathlib import Path

from lossadvisor._text import display_path
from lossadvisor.errors import DataError

__all__ = ["MaskFileError", "display_path"]


class MaskFileError(DataError):
    """One mask file cannot be used. A profile run lists it as skipped (with :attr:`reason`) and goes on.

    Attributes:
        path: the file.
        expected: what a usable mask would have been (e.g. "a single-channel mask").
        found: what the file holds instead (e.g. "an RGB image with 41,203 colours").
        hint: what to do next.
        colours: for a colour-coded RGB mask read without a class map, its colours (most frequent first),
            so the dataset-level message can propose a class map.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        expected: str,
        found: str,
        hint: str,
        colours: tuple[tuple[int, int, int], ...] = (),
    ) -> None:
        self.path = Path(path)
        self.expected = expected
        self.found = found
        self.hint = hint
        self.colours = colours
        super().__init__(f"{display_path(path)}: {self.reason}")

    @property
    def reason(self) -> str:
        """The message without the file name (the skipped-files list already shows the file)."""
        return f"expected {self.expected}; found {self.found}. {self.hint}"

    def __reduce__(self):  # keyword-only __init__: tell pickle (multiprocessing) how to rebuild it
        return (_rebuild, (self.path, self.expected, self.found, self.hint, self.colours))


def _rebuild(path: Path, expected: str, found: str, hint: str, colours: tuple = ()) -> MaskFileError:
    return MaskFileError(path, expected=expected, found=found, hint=hint, colours=colours)
