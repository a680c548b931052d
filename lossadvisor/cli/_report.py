"""`lossadvisor report RUN_DIR`: (re)build the self-contained HTML report of a run folder."""

from __future__ import annotations

import click

from lossadvisor.cli._common import configure_logging, quiet_option


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, dir_okay=True))
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Where to write the report [default: RUN_DIR/report.html].",
)
@quiet_option
def report_command(run_dir: str, out: str | None, quiet: bool) -> None:
    """Build the HTML report of RUN_DIR from its saved files, and print its path.

    The report is one self-contained file (inline CSS and images, no JavaScript, no network request): the
    verdict with copy-paste code, the dataset, the rule trace, the trials with learning-rate sensitivity per
    loss, seed stability and sample predictions. Partial runs work: a profile alone, profile plus advice, or a
    study still running; what is missing is said in its section. A progress bar on stderr names the section
    being built (drawing the plots takes a few seconds); -q silences it.

    \b
    Examples:
      lossadvisor report reports/buildings
      lossadvisor report reports/buildings --out /tmp/buildings-review.html
    """
    configure_logging(quiet)
    from lossadvisor._text import display_path
    from lossadvisor.report import build_report

    path = build_report(run_dir, out=out, progress=not quiet)
    click.echo(display_path(path))
