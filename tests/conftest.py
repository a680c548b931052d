"""Shared fixtures: where the real data lives, and the switches for the real-server and real-browser tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DATA = REPO_ROOT / "examples" / "buildings"
EXAMPLE_HIPPOCAMPUS = REPO_ROOT / "examples" / "hippocampus"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
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
    """../shared/data (real datasets). Present in CI; a local checkout without it skips these tests."""
    if not SHARED_DATA.is_dir():
        if IN_CI:
            pytest.fail(f"{SHARED_DATA} is missing; CI runs with ../shared beside the checkout.")
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


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
