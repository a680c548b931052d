"""`lossadvisor report`: (re)build the self-contained HTML report of a run folder or of a shared study."""

from __future__ import annotations

from pathlib import Path

import click

from lossadvisor.cli._common import configure_logging, quiet_option


@click.command("report")
@click.argument("run_dir", required=False, type=click.Path(file_okay=False, dir_okay=True))
@click.option(
    "--out",
    "out",
    type=click.Path(writable=True),
    default=None,
    help="Where to write the report [default: RUN_DIR/report.html]. With --storage, a folder for the "
    "study's run files and report.html [default: reports/<study>], or a .html file.",
)
@click.option(
    "--storage",
    default=None,
    metavar="URL",
    help="Build the report of a shared study from its storage (the --storage the workers used), on any "
    "machine; its run files are written to RUN_DIR or --out first.",
)
@click.option("--study", "study_name", default=None, help="Study name in --storage [default: lossadvisor].")
@quiet_option
def report_command(
    run_dir: str | None, out: str | None, storage: str | None, study_name: str | None, quiet: bool
) -> None:
    """Build the HTML report of RUN_DIR from its saved files, and print its path.

    The report is one self-contained file (inline CSS and images, no JavaScript, no network request): the
    verdict with copy-paste code, the dataset, the rule trace, the trials with learning-rate sensitivity per
    loss, seed stability and sample predictions. Partial runs work: a profile alone, profile plus advice, or a
    study still running; what is missing is said in its section. A progress bar on stderr names the section
    being built (drawing the plots takes a few seconds); -q silences it.

    With --storage and --study, the run files of a study shared by several workers are first fetched from
    the storage (every worker stores its sample predictions and results there), so the report can be built
    on any machine, also while the workers are still running.

    \b
    Examples:
      lossadvisor report reports/buildings
      lossadvisor report reports/buildings --out /tmp/buildings-review.html
      lossadvisor report --storage postgresql://me@db-host/optuna --study roads-v2 --out reports/roads-v2
    """
    configure_logging(quiet)
    from lossadvisor._text import display_path
    from lossadvisor.report import build_report

    if storage is None:
        if run_dir is None:
            raise click.UsageError("Pass RUN_DIR, or --storage URL --study NAME for a shared study.")
        if not Path(run_dir).is_dir():
            raise click.BadParameter(f"Directory {run_dir!r} does not exist.", param_hint="'RUN_DIR'")
        click.echo(display_path(build_report(run_dir, out=out, progress=not quiet)))
        return
    from lossadvisor.tune import DEFAULT_STUDY_NAME, export_study

    name = study_name or DEFAULT_STUDY_NAME
    html = out if out is not None and Path(out).suffix.lower() in (".html", ".htm") else None
    folder = run_dir or (out if out is not None and html is None else str(Path("reports") / name))
    export_study(storage, name, folder)
    click.echo(display_path(build_report(folder, out=html, progress=not quiet)))
