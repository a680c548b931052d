"""Shared fixtures: where the real data lives (LOSSADVISOR_DATA), and the switches for the real-server and
real-browser tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DATA = REPO_ROOT / "examples" / "buildings"
EXAMPLE_HIPPOCAMPUS = REPO_ROOT / "examples" / "hippocampus"
DATA_ENV = "LOSSADVISOR_DATA"  # the folder of the real datasets (README, Data)
REAL_SETS = ("inria-buildings", "dsb2018-nuclei", "msd-hippocampus")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def example_data() -> Path:
    """The bundled 31-pair building-footprint subset (images/ and masks/)."""
    return EXAMPLE_DATA


@pytest.fixture(scope="session")
def example_hippocampus() -> Path:
    """The bundled 20-case 3-D hippocampus subset (images/ and labels/, NIfTI)."""
    return EXAMPLE_HIPPOCAMPUS


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder named by LOSSADVISOR_DATA, holding the real datasets (README, Data). CI sets it (.ci/run); a
    local run without it skips these tests."""
    value = os.environ.get(DATA_ENV, "").strip()
    root = Path(value).expanduser() if value else None
    missing = [name for name in REAL_SETS if root is None or not (root / name).is_dir()]
    if missing:
        if root is None:
            why = f"{DATA_ENV} is not set"
        else:
            why = f"{DATA_ENV}={root} has no {', '.join(f'{name}/' for name in missing)}"
        needs = f"the real-data tests need {DATA_ENV} to name a folder holding {', '.join(REAL_SETS)}"
        if IN_CI:
            pytest.fail(f"{why}: {needs}; .ci/run sets it to the shared/data folder beside the checkout.")
        pytest.skip(f"{why}: {needs} (see README, Data)")
    return root


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a real PostgreSQL server (.ci/run starts one and sets LOSSADVISOR_TEST_POSTGRES_URL)."""
    url = os.environ.get("LOSSADVISOR_TEST_POSTGRES_URL")
    if not url:
        if IN_CI:
            pytest.fail("LOSSADVISOR_TEST_POSTGRES_URL is not set; .ci/run must start PostgreSQL.")
        pytest.skip("no PostgreSQL server (set LOSSADVISOR_TEST_POSTGRES_URL)")
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium, driven by Playwright with executable_path (no browser download)."""
    path = os.environ.get("LOSSADVISOR_TEST_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        if IN_CI:
            pytest.fail(f"Chromium not found at {path}; .ci/run must install Debian's chromium.")
        pytest.skip("chromium not installed")
    return path
