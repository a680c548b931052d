"""How numbers read in the report: a few significant digits, percentages, learning rates, durations.

One place for formatting keeps every table and caption consistent; missing values always read "–".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

MISSING = "–"
SIGNIFICANT_DIGITS = 3
# Below this (or above LARGE) a plain number turns into scientific notation.
SMALL = 1e-3
LARGE = 1e5


def is_missing(value: Any) -> bool:
    """True for ``None``, NaN, empty strings and pandas' missing markers."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == "" or value.strip().lower() == "nan"
    try:
        return bool(math.isnan(float(value)))
    except (TypeError, ValueError):
        return False


def num(value: Any, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A number with ``digits`` significant digits; integers with thousands separators.

    Example:
        >>> num(0.81234), num(12345), num(2.5e-5), num(float("inf"))
        ('0.812', '12,345', '2.50e-05', '∞')
    """
    if is_missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    x = float(value)
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == int(x) and abs(x) < 1e15 and (isinstance(value, int) or abs(x) >= 1):
        return f"{int(x):,}"
    if x != 0 and (abs(x) < SMALL or abs(x) >= LARGE):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def pct(value: Any, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage; small non-zero shares keep two significant digits.

    Example:
        >>> pct(0.1234), pct(0.00042), pct(0)
        ('12.3 %', '0.042 %', '0 %')
    """
    if is_missing(value):
        return MISSING
    x = float(value) * 100.0
    if math.isinf(x):
        return "∞"
    if x == 0:
        return "0 %"
    if abs(x) < 0.1:
        return f"{x:.2g} %"
    return f"{x:.{digits}f} %"


def lr(value: Any) -> str:
    """A learning rate in the notation people type into an optimiser: ``3.0e-04``."""
    if is_missing(value):
        return MISSING
    return f"{float(value):.1e}"


def duration(seconds: Any) -> str:
    """Seconds as "12.3 s", "4 min 05 s" or "1 h 02 min"."""
    if is_missing(seconds):
        return MISSING
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    minutes, sec = divmod(int(round(s)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def params(value: Any) -> str:
    """Loss parameters (a dict or its JSON text) as ``mix=0.5, pos_weight=4.2``; "–" when there are none."""
    if is_missing(value):
        return MISSING
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    if not isinstance(value, Mapping) or not value:
        return MISSING if not value else str(value)
    return ", ".join(f"{k}={_param_value(v)}" for k, v in value.items())


def _param_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_param_value(v) for v in value) + ")"
    if isinstance(value, float):
        return num(value)
    return str(value)


def yes_no(value: Any) -> str:
    """Booleans as "yes"/"no" ("–" when missing)."""
    if is_missing(value):
        return MISSING
    return "yes" if bool(value) else "no"
