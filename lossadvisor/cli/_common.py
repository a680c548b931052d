"""Pieces every command shares: error conversion at the boundary, and the common options."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import click

from lossadvisor.errors import LossAdvisorError


class LossAdvisorGroup(click.Group):
    """A click group that turns library errors into one ``Error: ...`` line (exit 1), never a traceback.

    Usage errors stay click's (exit 2). Only :class:`LossAdvisorError` and the few OS errors a user can fix
    (missing or unreadable paths) are converted; a genuine bug still shows its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LossAdvisorError as exc:
            raise click.ClickException(str(exc)) from exc
        except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            raise click.ClickException(str(exc)) from exc


def out_option(help_suffix: str = "") -> Callable:
    """``--out DIR``: the run folder (default ``reports/<dataset-name>/``)."""
    return click.option(
        "--out",
        "out",
        type=click.Path(file_okay=False, writable=True),
        default=None,
        help="Run folder for everything this command writes [default: reports/<dataset-name>/]."
        + help_suffix,
    )


quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary chatter.")


def configure_logging(quiet: bool) -> None:
    """Warnings go to stderr through logging (never print), and stay quiet under ``--quiet``."""
    level = logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    logging.getLogger("lossadvisor").setLevel(level)
