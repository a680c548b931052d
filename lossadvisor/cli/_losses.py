"""`lossadvisor losses [NAME] [--json]`: the losses lossadvisor knows, their parameters and tuned ranges.

Reads only the registry, which imports no torch, so the command answers instantly.
"""

from __future__ import annotations

import json
from typing import Any

import click


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _range_text(param: Any) -> str:
    """``mix=0.5 [0.1, 0.9]``, ``gamma=0.75 [0.5, 3] log`` or ``x=a {a, b}`` for choices."""
    text = f"{param.name}={_format_value(param.default)}"
    if param.choices and param.kind == "choice":
        return text + " {" + ", ".join(_format_value(c) for c in param.choices) + "}"
    if param.low is not None and param.high is not None:
        text += f" [{_format_value(param.low)}, {_format_value(param.high)}]"
    return text + (" log" if param.log else "")


def _table(specs: list[Any]) -> str:
    rows = []
    for spec in specs:
        modes = "/".join(
            m for m, ok in (("binary", spec.supports_binary), ("multi", spec.supports_multiclass)) if ok
        )
        tunable = "; ".join(_range_text(p) for p in spec.tunable_params) or "-"
        rows.append((spec.name, spec.family, modes, tunable))
    header = ("name", "family", "classes", "tuned parameters (default [search range])")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = []
    for row in [header, *rows]:
        lines.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        )
        if row is header:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(header[3]))
    for spec in specs:
        lines.append("")
        lines.append(f"{spec.name}: {spec.description}")
        lines.append(f"    {spec.reference}")
    return "\n".join(lines)


def _details(spec: Any) -> str:
    lines = [
        f"{spec.name} ({spec.family}; class lossadvisor.losses.{spec.class_name})",
        f"  {spec.description}",
        f"  Reference: {spec.reference}",
        "",
        "  parameters (name=default: valid values; tuned range if tuned)",
    ]
    for p in spec.params:
        tuned = f"; tuned in [{_format_value(p.low)}, {_format_value(p.high)}]" if p.tunable else ""
        tuned += " (log scale)" if p.tunable and p.log else ""
        lines.append(f"    {p.name}={_format_value(p.default)}: {p.expected()}{tuned}")
        lines.append(f"        {p.help}")
    lines += ["", f'  Python: build_loss("{spec.name}", ...) or {spec.class_name}(...)']
    return "\n".join(lines)


@click.command("losses")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the registry (or one entry) as JSON.")
def losses_command(name: str | None, as_json: bool) -> None:
    """List the losses lossadvisor can recommend and tune, or show one loss's parameters.

    The table gives each loss's family (distribution, region, compound), whether it takes binary and
    multi-class targets, and the parameters the tuner searches with their defaults and ranges; the paper
    follows each description. Every loss takes logits (N, C, H, W) and integer targets (N, H, W).

    \b
    Examples:
      lossadvisor losses                   # the table
      lossadvisor losses dice_ce           # every parameter of one loss, with its valid values
      lossadvisor losses --json            # machine-readable, e.g. for a search-space script
    """
    from lossadvisor._records import to_jsonable
    from lossadvisor.losses import LOSSES, get_spec

    specs = [get_spec(name)] if name else list(LOSSES.values())
    if as_json:
        payload = [{**to_jsonable(s), "class_name": s.class_name} for s in specs]
        click.echo(json.dumps(payload[0] if name else payload, indent=2))
    elif name:
        click.echo(_details(specs[0]))
    else:
        click.echo(_table(specs))
