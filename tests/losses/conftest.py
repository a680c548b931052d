"""Loss tests run on one CPU thread: the machine is shared, and one thread keeps timings steady."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)
