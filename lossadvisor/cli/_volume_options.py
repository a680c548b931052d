"""Options that only 3-D label volumes use: the training patch and the 3-D neighbourhoods."""

from __future__ import annotations

from collections.abc import Callable

import click


class PatchSize(click.ParamType):
    """``D,H,W`` voxels (or one number ``N`` for ``N,N,N``)."""

    name = "D,H,W"

    def convert(self, value, param, ctx) -> tuple[int, int, int]:
        if isinstance(value, tuple):
            return value
        parts = [p.strip() for p in str(value).replace("x", ",").split(",")]
        try:
            sides = [int(p) for p in parts]
        except ValueError:
            self.fail(f"expected three voxel counts D,H,W (e.g. 64,64,64) or one number; got {value!r}.")
        if len(sides) == 1:
            sides *= 3
        if len(sides) != 3 or min(sides) < 1:
            self.fail(f"expected three positive voxel counts D,H,W (e.g. 64,64,64); got {value!r}.")
        return tuple(sides)  # type: ignore[return-value]


def patch_size_option(help_suffix: str = "") -> Callable:
    """``--patch-size D,H,W``: the training patch the 3-D profile's patch measures refer to."""
    return click.option(
        "--patch-size",
        "patch_size",
        type=PatchSize(),
        default=None,
        help="Volumes only: training patch in voxels, D,H,W (or N for N,N,N), for the empty-patch and "
        "object-in-patch measures [default: the median volume shape rounded down to 16, within 32..64, as "
        "tune trains]." + help_suffix,
    )


connectivity_option = click.option(
    "--connectivity",
    type=click.Choice(["4", "8", "6", "18", "26"]),
    default=None,
    help="Neighbourhood that joins pixels or voxels into one object: 4 or 8 for masks [default: 8], 6, 18 "
    "or 26 for volumes [default: 26].",
)
