"""The ``lossadvisor`` command line: a thin shell over the public Python API.

Each command lives in its own module and imports its heavy dependencies inside the command body, so
``lossadvisor --help`` and ``lossadvisor profile`` never import torch, optuna or seaborn.
"""

from __future__ import annotations

import click

from lossadvisor._version import __version__
from lossadvisor.cli._advise import advise_command
from lossadvisor.cli._common import LossAdvisorGroup
from lossadvisor.cli._losses import losses_command
from lossadvisor.cli._profile import profile_command
from lossadvisor.cli._report import report_command
from lossadvisor.cli._tune import tune_command

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=LossAdvisorGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="lossadvisor")
def cli() -> None:
    """Tell which loss to train a segmentation network with, and prove it on your own data.

    \b
    Typical session:
      lossadvisor profile masks/                          # measure the masks
      lossadvisor advise masks/                           # ranked loss recommendation + rule trace
      lossadvisor tune --images images/ --masks masks/    # short U-Net trials + HTML report
      lossadvisor report reports/masks                    # rebuild the report of a run folder
      lossadvisor losses                                  # the losses it knows
    """


cli.add_command(profile_command)
cli.add_command(advise_command)
cli.add_command(tune_command)
cli.add_command(report_command)
cli.add_command(losses_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="lossadvisor")


__all__ = ["cli", "main"]
