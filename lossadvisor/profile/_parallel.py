"""Run :func:`measure_image` over many files: in this process for one worker, else in a process pool.

Each worker streams its files one at a time, so memory is bounded by one decoded mask per worker whatever the
dataset size. OpenCV is held to one thread per worker (it would otherwise start its own pool in every worker
and oversubscribe the cores). Workers are started with ``forkserver`` where the platform has it, which is safe
even when the caller has already started threads (torch, a GUI), and with ``spawn`` elsewhere.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
from tqdm.auto import tqdm

from lossadvisor.profile._image import ImageStats, MeasureSettings, measure_image

_WORKER_SETTINGS: MeasureSettings | None = None


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
    bar = tqdm(total=len(paths), unit="mask", desc="profiling", disable=not progress, leave=False)
    results: list[ImageStats] = []
    with bar:
        for stats in _iterate(paths, settings, workers):
            results.append(stats)
            bar.update(1)
    return results


def _iterate(paths: Sequence[Path], settings: MeasureSettings, workers: int) -> Iterator[ImageStats]:
    if workers == 1:
        previous = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            for path in paths:
                yield measure_image(path, settings)
        finally:
            cv2.setNumThreads(previous)
        return
    context = _context()
    with context.Pool(workers, initializer=_init_worker, initargs=(settings,)) as pool:
        # chunksize 1: a 5000x5000 tile and a 256x256 tile cost very different times; small chunks balance.
        yield from pool.imap(_measure_in_worker, paths, chunksize=1)


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # Import the heavy modules once in the server; every worker forked from it starts warm.
        context.set_forkserver_preload(["lossadvisor.profile._image"])
        return context
    return multiprocessing.get_context("spawn")


def _init_worker(settings: MeasureSettings) -> None:
    global _WORKER_SETTINGS
    _WORKER_SETTINGS = settings
    cv2.setNumThreads(1)


def _measure_in_worker(path: Path) -> ImageStats:
    if _WORKER_SETTINGS is None:  # pragma: no cover - the pool always runs _init_worker first
        raise RuntimeError("profile worker used before _init_worker ran")
    return measure_image(path, _WORKER_SETTINGS)
