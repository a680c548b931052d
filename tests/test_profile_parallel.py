"""Parallel profiling: same answer as one worker, and no fork once torch's thread pools exist."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from lossadvisor.profile import profile_masks


def _write_masks(folder: Path, n: int = 6) -> None:
    folder.mkdir()
    for i in range(n):
        mask = np.zeros((32, 32), np.uint8)
        mask[2 : 4 + i, 2 : 4 + i] = 255  # one square of side 2 + i
        Image.fromarray(mask).save(folder / f"m{i}.png")


def test_two_workers_give_the_same_profile_as_one(tmp_path: Path) -> None:
    _write_masks(tmp_path / "masks")
    one = profile_masks(tmp_path / "masks", workers=1, progress=False)
    two = profile_masks(tmp_path / "masks", workers=2, progress=False)
    assert one == two
    # hand count: squares of side 2..7 -> 4+9+16+25+36+49 = 139 foreground pixels
    assert one.class_by_name(one.foreground_classes[0].name).pixel_count == 139


def test_profiling_after_torch_runs_in_process_and_finishes(tmp_path: Path) -> None:
    _write_masks(tmp_path / "masks")
    script = textwrap.dedent(
        f"""
        import logging, torch
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        torch.nn.Conv2d(3, 4, 3)(torch.randn(2, 3, 16, 16)).sum().backward()  # start torch's thread pools
        from lossadvisor.profile import profile_masks
        p = profile_masks({str(tmp_path / "masks")!r}, workers=2, progress=False)
        print("files", p.files_read)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "files 6" in done.stdout
    assert "profiling in this process instead of forking 2 workers" in done.stderr
