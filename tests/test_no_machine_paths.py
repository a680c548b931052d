"""No tracked file cites the folder the real datasets sit in on the project's own machines: a user's clone has
no such folder, so code and documents name the data set and LOSSADVISOR_DATA instead (README, Data).

CI configuration (``.ci/``) is exempt: it may know where CI keeps the data, and sets LOSSADVISOR_DATA from it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}  # as tests/conftest.py reads it
FORBIDDEN = ("../shared", "/work/shared", '"shared" / "data"')  # the last: the path built in code
EXEMPT_DIRS = (".ci/",)
THIS_FILE = Path(__file__).resolve().relative_to(REPO_ROOT).as_posix()  # it must spell the patterns out


def machine_path_hits(repo: Path, *, skip: tuple[str, ...] = ()) -> list[str]:
    """``path:line: text`` for every line of a tracked text file under ``repo`` holding a FORBIDDEN string,
    outside EXEMPT_DIRS and the paths in ``skip``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True
    ).stdout.decode()
    hits = []
    for rel in filter(None, listed.split("\0")):
        if rel.startswith(EXEMPT_DIRS) or rel in skip:
            continue
        path = repo / rel
        if not path.is_file():  # tracked but deleted in the working tree
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary (images, volumes, arrays)
            continue
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
            if any(pattern in line for pattern in FORBIDDEN):
                hits.append(f"{rel}:{number}: {line.strip()}")
    return hits


def _git_checkout(path: Path) -> bool:
    if shutil.which("git") is None:
        return False
    probe = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=path, capture_output=True)
    return probe.returncode == 0


def test_no_tracked_file_cites_the_machines_data_folder() -> None:
    if not _git_checkout(REPO_ROOT):
        if IN_CI:
            pytest.fail(f"{REPO_ROOT} is not a git checkout (or git is missing); CI runs from a clone.")
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    hits = machine_path_hits(REPO_ROOT, skip=(THIS_FILE,))
    assert not hits, (
        "These lines cite a folder a user's clone does not have; name the data set and the folder named by "
        "LOSSADVISOR_DATA instead (README, Data):\n" + "\n".join(hits)
    )


def test_the_check_finds_a_planted_path_and_spares_ci(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is missing")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / ".ci").mkdir()
    (tmp_path / "docs" / "a.md").write_text("intro\nread ../shared/data/dsb2018-nuclei here\n")
    (tmp_path / "b.py").write_text('ROOT = "/work/shared/data"\nDATA = ROOT.parent / "shared" / "data"\n')
    (tmp_path / ".ci" / "run").write_text("export LOSSADVISOR_DATA=../shared/data\n")
    (tmp_path / "blob.bin").write_bytes(b"\0../shared\n")
    (tmp_path / "untracked.md").write_text("../shared\n")
    subprocess.run(["git", "add", "docs/a.md", "b.py", ".ci/run", "blob.bin"], cwd=tmp_path, check=True)
    assert machine_path_hits(tmp_path) == [
        'b.py:1: ROOT = "/work/shared/data"',
        'b.py:2: DATA = ROOT.parent / "shared" / "data"',
        "docs/a.md:2: read ../shared/data/dsb2018-nuclei here",
    ]
