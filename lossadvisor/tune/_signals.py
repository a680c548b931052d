"""SIGTERM (what schedulers, ``docker stop`` and ``kill`` send) handled like Ctrl-C.

Without a handler Python dies at once on SIGTERM: the running trial stays RUNNING in the study and
``run.json`` stays at "running". Turned into a :class:`Terminated` (a ``KeyboardInterrupt``), it takes the
path Ctrl-C takes: the trial is marked interrupted, ``run.json`` says so, and the CLI exits 143 (128 + 15)
with the resume hint.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """The process received a termination signal; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


def exit_code(exc: BaseException) -> int:
    """The shell's exit status for a process stopped by this interrupt (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + (exc.signum if isinstance(exc, Terminated) else signal.SIGINT)


def _raise_terminated(signum: int, frame) -> None:
    raise Terminated(signum)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated`; the previous handler comes back on exit.

    Only the main thread may install handlers, so elsewhere (a notebook's worker thread) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """While inside, SIGTERM and Ctrl-C wait: they are raised when the block ends, not in its middle.

    For the few storage writes that must happen together (claim a confirmation unit and tag it; store its
    record and mark it complete; mark it failed on the way out), so an interrupt never leaves a unit
    RUNNING with nobody running it. Outside the main thread this does nothing (no handler can be set).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        signum = received[0]
        handler = previous[signum]
        if callable(handler):
            handler(signum, None)  # raises Terminated / KeyboardInterrupt, as without the deferral
        elif handler == signal.SIG_DFL:
            signal.raise_signal(signum)
