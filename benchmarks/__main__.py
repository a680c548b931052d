"""``python -m benchmarks [NAME ...] [--quick] [--list] [options]``: run all benchmarks or the named ones.

Benchmarks are found by name (``benchmarks/bench_<name>.py``), so a new one needs no registration here.
Options the runner does not know (e.g. ``--data DIR``, the real datasets' folder, else LOSSADVISOR_DATA) are
passed on to each benchmark's ``main(argv)``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from pathlib import Path

PREFIX = "bench_"


def available() -> list[str]:
    """Names of the benchmark modules (``bench_profile.py`` -> ``profile``), sorted."""
    folder = Path(__file__).resolve().parent
    return sorted(
        m.name[len(PREFIX) :] for m in pkgutil.iter_modules([str(folder)]) if m.name.startswith(PREFIX)
    )


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default all: {names})")
    parser.add_argument("--quick", action="store_true", help="a small data set: checks the benchmark works")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args, rest = parser.parse_known_args(argv)
    if args.list:
        print("\n".join(names))
        return 0
    chosen = [n.removeprefix(PREFIX) for n in args.names] or names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {names}")
    status = 0
    for name in chosen:
        module = importlib.import_module(f"benchmarks.{PREFIX}{name}")
        print(f"=== benchmark: {name} ===", flush=True)
        start = time.perf_counter()
        code = module.main([*rest, "--quick"] if args.quick else list(rest))
        print(f"=== {name}: done in {time.perf_counter() - start:.1f} s (exit {code}) ===\n", flush=True)
        status = status or int(code or 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
