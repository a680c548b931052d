"""Run :func:`measure_image` over many files: in this process for one worker, else in a process pool.

Each worker streams its files one at a time, so memory is bounded by one decoded mask per worker whatever the
dataset size. OpenCV is held to one thread per worker (it would otherwise start its own pool in every worker
and oversubscribe the cores).

On Linux workers are forked: they start in milliseconds with everything already imported, and a caller's
script needs no ``if __name__ == "__main__":`` guard. The workers only decode images and run OpenCV on one
thread, so threads the caller may hold (a progress bar) are never touched in them. Elsewhere (macOS,
Windows) the platform default, ``spawn``, is used, with its usual main-guard requirement.

One exception: once torch is imported, its native thread pools make a fork unsafe (a forked child can
inherit a lock held by one of those threads and wait on it forever; seen here when ``tune`` profiled after
training). Then profiling runs in this process, which is slower on big datasets but never hangs.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
from tqdm.auto import tqdm

from lossadvisor.profile._image import ImageStats, MeasureSettings, measure_image
from lossadvisor.profile._volume import measure_volume

_WORKER_SETTINGS: MeasureSettings | None = None
_LOG = logging.getLogger(__name__)


def available_cores() -> int:
    """Cores this process may run on (honours CPU affinity and container limits where the OS reports them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def measure_all(
    paths: Sequence[Path], settings: MeasureSettings, *, workers: int, progress: bool
) -> list[ImageStats]:
    """Measure every file, in the order given."""
    workers = max(1, min(workers, len(paths)))
    if workers > 1 and _fork_is_unsafe():
        _LOG.info("torch is loaded: profiling in this process instead of forking %d workers", workers)
        workers = 1
    unit = "volume" if settings.dimensionality == 3 else "mask"
    bar = tqdm(total=len(paths), unit=unit, desc="profiling", disable=not progress, leave=False)
    results: list[ImageStats | None] = [None] * len(paths)
    with bar:
        for index, stats in _iterate(paths, settings, workers):
            results[index] = stats
            bar.update(1)
    return results  # type: ignore[return-value]  # every slot is filled


def _iterate(
    paths: Sequence[Path], settings: MeasureSettings, workers: int
) -> Iterator[tuple[int, ImageStats]]:
    """(index into ``paths``, statistics) in the order files finish."""
    if workers == 1:
        previous = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            for index, path in enumerate(paths):
                yield index, measure_file(path, settings)
        finally:
            cv2.setNumThreads(previous)
        return
    context = _context()
    with warnings.catch_warnings():
        # Python >= 3.12 warns on any fork of a threaded process; the workers never use the caller's threads.
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        # Workers are born with SIGINT held (a forked child inherits the handler), so a Ctrl-C that lands
        # while a worker is still starting cannot raise in it before its initializer ignores it; the parent
        # acts on a Ctrl-C held meanwhile as soon as the pool exists (ignoring it instead lost it: the
        # profile then ran to the end).
        with _sigint_held() as held:
            pool = context.Pool(workers, initializer=_init_worker, initargs=(settings,))
    # Largest files first (longest-processing-time-first): a 5000x5000 tile left for the end would keep one
    # worker busy while the others idle. chunksize 1: tiles of very different sizes balance better one by one.
    order = sorted(range(len(paths)), key=lambda i: -_file_size(paths[i]))
    with pool:  # on Ctrl-C (or any error) in the parent, __exit__ terminates the workers
        if held:
            raise KeyboardInterrupt
        yield from pool.imap_unordered(_measure_indexed, [(i, paths[i]) for i in order], chunksize=1)


@contextlib.contextmanager
def _sigint_held() -> Iterator[list[int]]:
    """Hold SIGINT for the duration: a Ctrl-C is recorded in the yielded list instead of raising, and the
    caller acts on it afterwards (only the main thread may change signal handlers)."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)


def _file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _fork_is_unsafe() -> bool:
    """True when forking could deadlock: on Linux, once torch (and its native thread pools) is imported."""
    return sys.platform.startswith("linux") and "torch" in sys.modules


def _context() -> multiprocessing.context.BaseContext:
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _init_worker(settings: MeasureSettings) -> None:
    global _WORKER_SETTINGS
    _WORKER_SETTINGS = settings
    cv2.setNumThreads(1)
    # Ctrl-C reaches every process of the terminal's group: the parent stops the pool (Pool.__exit__
    # terminates the workers), so a worker ignores it rather than print its own "Process ForkPoolWorker-N"
    # traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _measure_indexed(task: tuple[int, Path]) -> tuple[int, ImageStats]:
    if _WORKER_SETTINGS is None:  # pragma: no cover - the pool always runs _init_worker first
        raise RuntimeError("profile worker used before _init_worker ran")
    index, path = task
    return index, measure_file(path, _WORKER_SETTINGS)


def measure_file(path: Path, settings: MeasureSettings) -> ImageStats:
    """A 2-D mask or a 3-D label volume, as ``settings.dimensionality`` says."""
    if settings.dimensionality == 3:
        return measure_volume(path, settings)
    return measure_image(path, settings)
