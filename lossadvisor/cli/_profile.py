"""`lossadvisor profile` (being written; see docs/ARCHITECTURE.md)."""

from __future__ import annotations

import click


@click.command("profile")
def profile_command() -> None:
    """(being written)"""
    raise click.ClickException("not built yet")
