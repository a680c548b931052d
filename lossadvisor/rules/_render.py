"""A recommendation as plain text: the ranked candidates, the rules that fired, the others, the warnings.

Used by ``lossadvisor advise`` and handy in a notebook (``print(format_recommendation(rec))``). Plain text
only, no colour codes, so it reads the same in a terminal, a log file or a CI artifact.
"""

from __future__ import annotations

import math
import textwrap

from lossadvisor.rules._objective import OBJECTIVE_LABELS
from lossadvisor.rules._schema import ParamValue, Recommendation, RuleTrace

WIDTH = 100
INDENT = "     "


def format_recommendation(rec: Recommendation, *, show_unfired: bool = True) -> str:
    """Render ``rec`` for a terminal: candidates first, then the trace with the fired rules on top.

    Args:
        rec: the recommendation to show.
        show_unfired: also list the rules that were evaluated and did not fire.

    Example:
        >>> print(format_recommendation(recommend(profile)))  # doctest: +SKIP
    """
    lines = [
        f"Loss recommendation for {rec.dataset_name} ({rec.task}, {rec.num_classes} classes, "
        f"imbalance: {rec.imbalance_level}; ranked for {OBJECTIVE_LABELS.get(rec.objective, rec.objective)})",
        "",
    ]
    for c in rec.candidates:
        label = f"{c.loss} (baseline)" if c.is_baseline else c.loss
        lines.append(
            f"{c.rank:>2}. {label:<22} lr {c.lr_range[0]:.0e} .. {c.lr_range[1]:.0e}   {_params(c.params)}"
        )
        lines.extend(_wrap(c.rationale))
    notes: dict[str, list[str]] = {}
    for c in rec.candidates:
        if c.lr_note:
            notes.setdefault(c.lr_note, []).append(c.loss)
    for note, losses in notes.items():
        lines += ["", f"Learning rate of {', '.join(losses)}:", *_wrap(note)]
    fired = [t for t in rec.trace if t.fired]
    lines += ["", f"Rules that fired ({len(fired)} of {len(rec.trace)}):"]
    lines += [line for t in fired for line in _trace(t)] or ["  (none)"]
    if show_unfired:
        lines += ["", "Rules that did not fire:"]
        lines += [line for t in rec.trace if not t.fired for line in _trace(t, brief=True)] or ["  (none)"]
    if rec.warnings:
        lines += ["", "Warnings and notes:"]
        for warning in rec.warnings:
            lines.extend(textwrap.wrap(warning, WIDTH, initial_indent="  - ", subsequent_indent="    "))
    return "\n".join(lines)


def _trace(t: RuleTrace, *, brief: bool = False) -> list[str]:
    head = f"  {'*' if t.fired else '-'} {t.rule}: {t.measured_name} = {_number(t.measured)}"
    if t.threshold is not None and _is_symbol(t.comparison):
        rule = f"{t.comparison} {_number(t.threshold)}"
        head += f" {rule}" if t.fired else f" (fires at {rule})"
    elif t.comparison:
        head += f" ({t.comparison})"
    lines = [head, *_wrap(t.conclusion)]
    if not brief:
        lines.extend(_wrap("ref: " + t.reference))
    return lines


def _is_symbol(comparison: str) -> bool:
    return comparison in ("<", "<=", ">", ">=", "==")


def _params(params: dict[str, ParamValue]) -> str:
    if not params:
        return "(defaults)"
    return ", ".join(f"{k}={_value(v)}" for k, v in params.items())


def _value(value: ParamValue) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_number(v) for v in value) + ")"
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.3g}"


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=INDENT, subsequent_indent=INDENT)
