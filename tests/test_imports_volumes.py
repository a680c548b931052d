"""nibabel and cc3d are for volumes: `--help` and a 2-D `profile` must not import them."""

from __future__ import annotations

import subprocess
import sys

VOLUME_ONLY = ("nibabel", "cc3d")


def _imported(body: str) -> list[str]:
    code = f"import sys\n{body}\nprint('LOADED:' + ','.join(m for m in {VOLUME_ONLY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    (line,) = [x for x in out.stdout.splitlines() if x.startswith("LOADED:")]
    return [m for m in line.removeprefix("LOADED:").split(",") if m]


def test_help_and_2d_profile_do_not_import_volume_libraries(example_data, tmp_path):
    assert _imported("import lossadvisor.cli") == []
    body = (
        "from lossadvisor.cli import cli\n"
        f"cli(['profile', {str(example_data / 'masks')!r}, '--out', {str(tmp_path)!r}, '-q',"
        " '--workers', '1'], standalone_mode=False)"
    )
    assert _imported(body) == []


def test_a_volume_profile_does(example_hippocampus, tmp_path):
    body = (
        "from lossadvisor.profile import profile_masks\n"
        f"profile_masks({str(example_hippocampus / 'labels')!r}, workers=1, progress=False)"
    )
    assert _imported(body) == list(VOLUME_ONLY)
