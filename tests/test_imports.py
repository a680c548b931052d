"""`lossadvisor --help` and `lossadvisor profile` must not import torch, optuna, seaborn or matplotlib."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "optuna", "seaborn", "matplotlib")

_CHECK = """
import sys
{body}
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def _heavy_imported(body: str) -> list[str]:
    code = _CHECK.format(body=body, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("HEAVY:")]
    return [m for m in line.removeprefix("HEAVY:").split(",") if m]


def test_cli_import_is_light():
    assert _heavy_imported("import lossadvisor.cli") == []


def test_profile_command_is_light(example_data, tmp_path):
    body = (
        "from lossadvisor.cli import cli\n"
        f"cli(['profile', {str(example_data / 'masks')!r}, '--out', {str(tmp_path)!r}, '-q', "
        "'--workers', '1'],"
        " standalone_mode=False)"
    )
    assert _heavy_imported(body) == []


def test_tune_and_its_sub_packages_import_light():
    subs = ("data", "training", "search", "confirm", "study", "outputs")
    body = "import lossadvisor.tune\n" + "".join(f"import lossadvisor.tune.{s}\n" for s in subs)
    assert _heavy_imported(body) == []
    assert _heavy_imported("from lossadvisor.tune import CompactUNet") == ["torch"]  # the lazy name works
