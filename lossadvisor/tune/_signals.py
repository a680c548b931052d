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
