"""``lossadvisor profile``: measure a mask dataset, print a summary, save profile.json and per_image.csv."""

from __future__ import annotations

import click

from lossadvisor._text import display_path, safe_lines
from lossadvisor.cli._common import configure_logging, max_pixels_option, out_option, quiet_option
from lossadvisor.cli._volume_options import connectivity_option, patch_size_option


@click.command("profile")
@click.argument("source", metavar="SOURCE")
@click.option(
    "--class-map",
    "class_map",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON or CSV file mapping colours or values to class names (needed for colour-coded masks).",
)
@click.option(
    "--ignore-index",
    type=int,
    default=None,
    help="Pixel value excluded from every statistic, e.g. 255 for boundary pixels.",
)
@connectivity_option
@click.option(
    "--train-size",
    "train_sizes",
    type=click.IntRange(min=1),
    multiple=True,
    metavar="N",
    help="Training size (longest side, px) for the scale effect; repeat for several (128, 256, 512).",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Processes to use [default: all cores]."
)
@patch_size_option()
@max_pixels_option
@out_option()
@click.option(
    "--json", "as_json", is_flag=True, help="Print the profile as JSON instead of the summary table."
)
@quiet_option
def profile_command(
    source: str,
    class_map: str | None,
    ignore_index: int | None,
    connectivity: str | None,
    train_sizes: tuple[int, ...],
    workers: int | None,
    patch_size: tuple[int, int, int] | None,
    max_pixels: int,
    out: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Measure the masks in SOURCE: class frequencies, imbalance, empty masks, objects, scale effect.

    SOURCE is a folder of masks (searched recursively), a quoted glob pattern, or a text file listing mask
    paths. Masks may be PNG (grey, 16-bit, palette, RGB with R=G=B), TIFF/GeoTIFF or NPY; binary masks stored
    as 0/1, 0/255 or booleans are recognised. Bad files are listed as skipped with the reason.

    A folder of 3-D label volumes (NIfTI .nii/.nii.gz or 3-D .npy) is recognised without a flag and profiled
    in 3-D: voxels and mm³ per class, 3-D objects (26-connectivity by default), spacing and anisotropy,
    slices with foreground, and empty patches at the training patch (--patch-size).

    Writes profile.json and per_image.csv to --out (default reports/<dataset-name>/).

    \b
    Examples:
      lossadvisor profile examples/buildings/masks
      lossadvisor profile masks/ --train-size 128 --train-size 256
      lossadvisor profile 'data/**/*_mask.png' --ignore-index 255 --json
      lossadvisor profile labels/ --class-map classes.json --out reports/landcover
      lossadvisor profile examples/hippocampus/labels --patch-size 32,48,32
    """
    from lossadvisor.profile import default_run_dir, format_summary, profile_masks_detailed, write_outputs

    configure_logging(quiet)
    profile, frame = profile_masks_detailed(
        source,
        class_map=class_map,
        ignore_index=ignore_index,
        connectivity=int(connectivity) if connectivity is not None else None,
        train_sizes=train_sizes,
        patch_size=patch_size,
        workers=workers,
        progress=not quiet and not as_json,
        max_pixels=max_pixels,
    )
    run_dir = out if out is not None else default_run_dir(source)
    profile_path, csv_path = write_outputs(profile, frame, run_dir)
    if as_json:
        click.echo(profile.to_json())
        return
    click.echo(safe_lines(format_summary(profile)))
    if not quiet:
        click.echo(f"\nWrote {display_path(profile_path)} and {display_path(csv_path)}", err=True)
