"""One root for every error lossadvisor raises on purpose.

Each class also inherits the built-in a caller would expect (``ValueError``), so code that already catches
``ValueError`` keeps working; the CLI turns any :class:`LossAdvisorError` into one ``Error: ...`` line.
"""

from __future__ import annotations


class LossAdvisorError(ValueError):
    """Root of the errors lossadvisor raises for bad input or state; the message says what to do."""


class DataError(LossAdvisorError):
    """A file or dataset cannot be used as given (names the file, what was expected, what was found)."""


class NoUsableDataError(DataError):
    """Every input file was skipped, so there is nothing to profile or train on."""


class ConfigError(LossAdvisorError):
    """An option, a rules-config file or a search-space setting is invalid."""


class StudyMismatchError(LossAdvisorError):
    """A run folder holds a study made from other data; resuming it would mix two datasets."""


class OutputWriteError(LossAdvisorError):
    """A file could not be written because of its disk (full, over quota, read-only); names the file."""
