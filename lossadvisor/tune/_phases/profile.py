"""Phase ``profile``: read and profile the data (nothing written), then write profile.json and per_image.csv.

Reading comes first and alone, so a refused run (other data, a bad option) leaves a finished folder as it was.
"""

from __future__ import annotations

from lossadvisor.tune._phases._context import TuneContext
from lossadvisor.tune.data import load_source


def read_data(images, masks, *, train, val, out, side, cmap, ignore_index, progress, max_pixels, crop=None):
    """The training pairs (or arrays) with their profile (volumes: at the ``--crop`` patch); reads only."""
    return load_source(
        images, masks, train=train, val=val, out=out, side=side, class_map=cmap,
        ignore_index=ignore_index, progress=progress, max_pixels=max_pixels, crop=crop,
    )  # fmt: skip


def write_profile(tc: TuneContext) -> None:
    """Write ``profile.json`` and ``per_image.csv`` (as ``lossadvisor profile`` would)."""
    from lossadvisor.profile import write_outputs

    write_outputs(tc.source.profile, tc.source.per_image, tc.run_dir)
