"""Summarise a sample of numbers into a :class:`Distribution` (mean, spread, percentiles)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lossadvisor.profile._schema import PERCENTILES, Distribution


def describe(values: Iterable[float] | np.ndarray) -> Distribution:
    """Count, mean, population std, coefficient of variation, min / median / max and :data:`PERCENTILES`.

    Percentiles use linear interpolation (NumPy's default). An empty sample gives zeros everywhere, so that a
    dataset with no objects still has a complete, comparable profile.

    Example:
        >>> describe([1, 2, 3, 4]).median
        2.5
    """
    data = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.float64).ravel()
    if data.size == 0:
        return Distribution(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, {f"p{p}": 0.0 for p in PERCENTILES})
    mean = float(data.mean())
    std = float(data.std())
    cuts = np.percentile(data, PERCENTILES)
    return Distribution(
        count=int(data.size),
        mean=mean,
        std=std,
        cv=std / mean if mean else 0.0,
        min=float(data.min()),
        median=float(np.median(data)),
        max=float(data.max()),
        percentiles={f"p{p}": float(v) for p, v in zip(PERCENTILES, cuts, strict=True)},
    )
