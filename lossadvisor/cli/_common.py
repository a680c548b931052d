"""Pieces every command shares: error conversion at the boundary, and the common options."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from typing import Any

import click

from lossadvisor._redact import redact
from lossadvisor._text import safe_text
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
            raise click.ClickException(safe_text(str(exc))) from exc
        except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            raise click.ClickException(safe_text(str(exc))) from exc


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


# Repeated (not imported from lossadvisor.io) so --help stays free of heavy imports; a test keeps it equal.
DEFAULT_MAX_PIXELS = 1_000_000_000

max_pixels_option = click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    metavar="N",
    help="Largest mask read (height x width); larger files are skipped, never decoded. Raise it for "
    "bigger masks (profiling needs about 3 bytes per pixel per worker).",
)

quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary chatter.")


def configure_logging(quiet: bool) -> None:
    """Warnings go to stderr through logging (never print), and stay quiet under ``--quiet``."""
    level = logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    logging.getLogger("lossadvisor").setLevel(level)


def given_command(ctx: click.Context) -> str:
    """The command line the user gave, rebuilt from click's parameters (every option they set, in the order
    the command declares them; defaults left out; passwords redacted; names made printable).

    Rebuilt rather than copied from ``sys.argv``: the same code path serves a shell, ``python -m`` and tests.
    """
    from click.core import ParameterSource

    parts = ["lossadvisor", ctx.info_name or ctx.command.name or ""]
    positional: list[str] = []
    for param in ctx.command.params:
        if param.name is None or ctx.get_parameter_source(param.name) in (None, ParameterSource.DEFAULT):
            continue
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            positional += [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
            continue
        flag = max(param.opts, key=len)
        if getattr(param, "is_flag", False):
            if value:
                parts.append(flag)
            elif param.secondary_opts:
                parts.append(max(param.secondary_opts, key=len))
            continue
        if value is None:
            continue
        parts += [flag, str(value)]
    return safe_text(redact(shlex.join(parts + positional)))


# The metrics a user can score (lossadvisor.rules.OBJECTIVES; spelled out so `--help` imports nothing heavy).
OBJECTIVE_CHOICES = ("iou", "dice", "recall")

objective_option = click.option(
    "--objective",
    type=click.Choice(OBJECTIVE_CHOICES),
    default="iou",
    show_default=True,
    help="The metric you score: foreground IoU, Dice, or pixel recall. The ranking follows it (and tune's "
    "search and verdict score it); recall puts losses that trade precision for recall first.",
)
