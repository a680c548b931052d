"""`lossadvisor tune` (being written; see docs/ARCHITECTURE.md)."""

from __future__ import annotations

import click


@click.command("tune")
def tune_command() -> None:
    """(being written)"""
    raise click.ClickException("not built yet")
