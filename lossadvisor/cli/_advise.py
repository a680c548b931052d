"""`lossadvisor advise`: a ranked, traceable loss recommendation from masks or from a saved profile."""

from __future__ import annotations

from pathlib import Path

import click

from lossadvisor import runfolder
from lossadvisor._text import display_path, safe_lines
from lossadvisor.cli._common import (
    configure_logging,
    max_pixels_option,
    objective_option,
    out_option,
    quiet_option,
)
from lossadvisor.cli._volume_options import patch_size_option

RECOMMENDATION_FILE = runfolder.RECOMMENDATION_JSON
_PROFILING_ONLY = ("--train-size", "--class-map", "--ignore-index", "--max-pixels", "--patch-size")


@click.command("advise")
@click.argument("masks", required=False)
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Advise from a saved profile.json instead of profiling MASKS.",
)
@click.option(
    "--rules-config",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML file with a [thresholds] table overriding the rules' thresholds.",
)
@objective_option
@click.option(
    "--train-size",
    "train_sizes",
    type=click.IntRange(min=8),
    multiple=True,
    help="Training tile size in px (repeatable, e.g. 128 256 for progressive resizing); checks objects "
    "that shrink too small. With MASKS only.",
)
@click.option(
    "--class-map",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSON or CSV mapping colours or values to class names. With MASKS only.",
)
@click.option("--ignore-index", type=int, default=None, help="Mask value excluded from every statistic.")
@patch_size_option(" With MASKS only.")
@max_pixels_option
@out_option(" With --profile: the profile's folder.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the recommendation as JSON instead of the table."
)
@quiet_option
def advise_command(
    masks: str | None,
    profile_path: str | None,
    rules_config: str | None,
    objective: str,
    train_sizes: tuple[int, ...],
    class_map: str | None,
    ignore_index: int | None,
    patch_size: tuple[int, int, int] | None,
    max_pixels: int,
    out: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Recommend losses for MASKS (a folder, glob or list file), or for a saved --profile.

    MASKS may be a folder of 3-D label volumes (NIfTI, 3-D .npy): the rules then reason per volume and
    relative to the training patch (tiny lesions, empty patches, anisotropy, thin structures) and say where
    the advice departs from nnU-Net's and MONAI Auto3DSeg's defaults.

    Prints 3 to 5 ranked candidate losses, with parameters computed from the data (class weights, Dice/CE
    mix, Tversky beta), a learning-rate range for each, plain CE as the baseline, and the trace of every rule
    (measured value, threshold, fired or not, conclusion, reference). Saves recommendation.json (and, when
    profiling, profile.json and per_image.csv) in the run folder.

    \b
    Examples:
      lossadvisor advise masks/ --train-size 128 --train-size 256
      lossadvisor advise --profile reports/buildings/profile.json
      lossadvisor advise masks/ --rules-config rules.toml --json > recommendation.json
      lossadvisor advise masks/ --objective recall
      lossadvisor advise examples/hippocampus/labels --patch-size 32,48,32

    \b
    rules.toml overrides any threshold by name, e.g.:
      [thresholds]
      empty_mask_share = 0.05
      lr_region_high = 5e-4
    """
    configure_logging(quiet)
    given_max_pixels = click.get_current_context().get_parameter_source("max_pixels")
    from click.core import ParameterSource

    _check_usage(
        masks,
        profile_path,
        train_sizes,
        class_map,
        ignore_index,
        max_pixels if given_max_pixels == ParameterSource.COMMANDLINE else None,
        patch_size,
    )
    from lossadvisor.profile import DatasetProfile
    from lossadvisor.rules import format_recommendation, recommend

    frame = None
    if profile_path is not None:
        profile = DatasetProfile.load(profile_path)
        run_dir = Path(out) if out is not None else Path(profile_path).parent
    else:
        from lossadvisor.profile import default_run_dir, profile_masks_detailed

        run_dir = Path(out) if out is not None else default_run_dir(masks)
        profile, frame = profile_masks_detailed(
            masks,
            class_map=class_map,
            ignore_index=ignore_index,
            train_sizes=train_sizes,
            progress=not quiet,
            max_pixels=max_pixels,
            patch_size=patch_size,
        )
    # A bad --rules-config fails here, before any write.
    rec = recommend(profile, config=rules_config, objective=objective)
    if frame is not None:
        from lossadvisor.profile import write_outputs

        write_outputs(profile, frame, run_dir)
    saved = rec.save(run_dir / RECOMMENDATION_FILE)
    if as_json:
        click.echo(rec.to_json())
        return
    click.echo(safe_lines(format_recommendation(rec)))
    click.echo(f"\nSaved {display_path(saved)}")


def _check_usage(
    masks: str | None,
    profile_path: str | None,
    train_sizes: tuple[int, ...],
    class_map: str | None,
    ignore_index: int | None,
    max_pixels: int | None = None,
    patch_size: tuple[int, int, int] | None = None,
) -> None:
    """Exactly one of MASKS and --profile; profiling options only with MASKS (click usage errors, exit 2)."""
    if (masks is None) == (profile_path is None):
        got = "both" if masks is not None else "neither"
        raise click.UsageError(f"Give exactly one of MASKS and --profile FILE (got {got}).")
    if profile_path is not None:
        given = [
            name
            for name, value in zip(
                _PROFILING_ONLY, (train_sizes, class_map, ignore_index, max_pixels, patch_size), strict=True
            )
            if value not in ((), None)
        ]
        if given:
            raise click.UsageError(
                f"{', '.join(given)} {'apply' if len(given) > 1 else 'applies'} only when profiling MASKS; "
                "a saved profile already fixed them. Profile again with `lossadvisor profile MASKS ...`, or "
                "pass MASKS instead of --profile."
            )
