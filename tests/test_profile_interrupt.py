"""Issue 11, point 8: Ctrl-C during a parallel `lossadvisor profile` prints no worker tracebacks.

A terminal's Ctrl-C sends SIGINT to the whole foreground process group, workers included; the test does the
same with killpg on a real run in its own session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def test_a_ctrl_c_while_the_pool_starts_is_held_and_then_acted_on():
    """While the workers are forked SIGINT is held, not ignored: a Ctrl-C in that window is recorded (and the
    profile stops once the pool exists) instead of being lost, which let the profile run to its end."""
    from lossadvisor.profile._parallel import _sigint_held

    before = signal.getsignal(signal.SIGINT)
    with _sigint_held() as held:
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt here
        time.sleep(0.05)  # the handler runs between bytecodes of the main thread
    assert held == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and forks workers (Linux)")
@pytest.mark.parametrize("delay", [0.0, 0.3], ids=["as-the-workers-start", "while-they-work"])
def test_ctrl_c_during_a_parallel_profile_prints_no_worker_traceback(tmp_path, delay):
    masks = tmp_path / "masks"
    masks.mkdir()
    rng = np.random.default_rng(0)
    for i in range(80):  # enough work (seconds) that the workers are surely busy when the signal comes
        mask = (rng.random((1500, 1500)) < 0.3).astype(np.uint8) * 255
        cv2.imwrite(str(masks / f"m{i:02d}.png"), mask)
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lossadvisor",
            "profile",
            str(masks),
            "--workers",
            "2",
            "--out",
            str(tmp_path / "o"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a terminal job
        # and Ctrl-C at its default, as a terminal's foreground job has it: a test run started in the
        # background of a non-interactive shell (`make test &`) inherits SIGINT ignored, so would the child
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        wanted = 1 if delay == 0 else 2
        while len(_children(child.pid)) < wanted and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.002 if delay == 0 else 0.05)
        assert len(_children(child.pid)) >= wanted, "the workers never started"
        time.sleep(delay)
        os.killpg(child.pid, signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode != 0
    assert "ForkPoolWorker" not in err and "Traceback" not in err, err
    assert not (tmp_path / "o" / "profile.json").exists()
