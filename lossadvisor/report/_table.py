"""A small table model the template renders with one macro, so every table in the report looks the same."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    """A table cell with a CSS class (e.g. "good", "bad", "num", "code") for emphasis."""

    text: str
    css: str = ""
    note: str = ""  # a second, smaller line (e.g. the rule's function name under its question)


@dataclass(frozen=True)
class Table:
    """Column headers and rows of cells (plain strings or :class:`Cell`); the template escapes every text."""

    columns: list[str]
    rows: list[list[str | Cell]] = field(default_factory=list)
    caption: str = ""
    numeric: frozenset[int] = frozenset()  # column indices aligned right
    id: str = ""  # HTML id, so readers (and tests) can link to a table
    optional: frozenset[int] = frozenset()  # column indices a phone-width screen leaves out (class "opt")

    def __len__(self) -> int:
        return len(self.rows)


def facts(pairs: list[tuple[str, str]], caption: str = "") -> Table:
    """A two-column "what / value" table."""
    return Table(columns=["", ""], rows=[[Cell(k, "key"), v] for k, v in pairs], caption=caption)
