"""lossadvisor's benchmarks: each ``bench_*.py`` module measures one part against its floor and its rivals.

Run them all with ``python -m benchmarks`` (or ``make bench``), one with ``python -m benchmarks profile``,
and a small, fast version of each with ``--quick``. Every module exposes ``main(argv) -> int`` and prints its
own figures and ratios; they are measurements, not pass/fail tests.
"""
