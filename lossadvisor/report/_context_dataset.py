"""The dataset and rule-trace sections, built from ``profile.json``, ``per_image.csv`` and
``recommendation.json`` only."""

from __future__ import annotations

import shlex
from typing import Any

from lossadvisor.profile._schema import SIZE_BUCKET_BOUNDS_PX
from lossadvisor.report import _format as fmt
from lossadvisor.report import _plots_dataset as plots
from lossadvisor.report._load import PER_IMAGE, PROFILE, RECOMMENDATION, RunFolder
from lossadvisor.report._table import Cell, Table, facts

_OPERATORS = frozenset({"<", "<=", ">", ">=", "==", "!=", "=", "≤", "≥"})
MAX_SKIPPED_ROWS = 200  # a report listing thousands of skipped files helps nobody; the count says the rest


def dataset_section(run: RunFolder) -> dict[str, Any]:
    """Facts, class table, plots, scale effect and skipped files; a plain message for what is missing."""
    section: dict[str, Any] = {"problems": run.problems_with(PROFILE, PER_IMAGE), "plots": [], "notes": []}
    profile = run.profile
    if profile is None:
        section["missing"] = (
            "No dataset profile: this run folder holds no profile.json. Run `lossadvisor profile MASKS "
            f"--out {run.path}` (or `lossadvisor tune`) to measure the masks."
        )
        return section
    fg = profile.foreground_fraction
    height, width = profile.image_height, profile.image_width
    section["facts"] = facts(
        [
            ("dataset", profile.dataset_name),
            ("source", profile.source),
            (
                "task",
                f"{profile.task}, {profile.num_classes} classes (mask encoding: {profile.mask_encoding})",
            ),
            (
                "files",
                f"{profile.files_found:,} found, {profile.files_read:,} read, "
                f"{len(profile.skipped):,} skipped",
            ),
            (
                "image size",
                f"{fmt.num(height.median)} × {fmt.num(width.median)} px (median height × width; "
                f"heights {fmt.num(height.min)}–{fmt.num(height.max)})",
            ),
            ("imbalance ratio", f"{fmt.num(profile.imbalance_ratio)} : 1 (majority / minority class pixels)"),
            ("minority class", f"{profile.minority_class} ({fmt.pct(profile.minority_share)} of pixels)"),
            ("empty masks", f"{fmt.pct(profile.empty_mask_share)} of images have no foreground pixel"),
            (
                "foreground per image",
                f"median {fmt.pct(fg.median)}, 5th–95th percentile "
                f"{fmt.pct(fg.percentiles.get('p5'))}–{fmt.pct(fg.percentiles.get('p95'))}, "
                f"CV {fmt.num(fg.cv)}",
            ),
            (
                "boundary pixels",
                f"{fmt.pct(profile.boundary_share)} of foreground pixels touch another class",
            ),
            (
                "ignored pixels",
                "no ignore index"
                if profile.ignore_index is None
                else f"{profile.ignored_pixels:,} pixels with value {profile.ignore_index}",
            ),
            ("connectivity", f"{profile.connectivity}-connected objects"),
        ]
    )
    section["classes"] = _class_table(run)
    section["plots"].append(plots.class_frequencies(profile))
    if run.per_image is not None and "foreground_fraction" in run.per_image.columns:
        section["plots"].append(plots.foreground_fraction(run.per_image))
    else:
        section["notes"].append(
            "per_image.csv is missing, so the per-image histograms are not drawn; the foreground and object "
            "counts per image above are summaries from profile.json."
        )
    if any(c.objects is not None and c.objects.count > 0 for c in profile.foreground_classes):
        section["plots"].append(plots.object_sizes(profile))
        section["buckets"] = _bucket_table(run)
    else:
        section["notes"].append("No foreground object was found, so there is no object-size distribution.")
    names = [c.name for c in profile.foreground_classes]
    if run.per_image is not None and any(f"objects_{n}" in run.per_image.columns for n in names):
        section["plots"].append(plots.objects_per_image(run.per_image, names))
    section["scale"] = _scale_table(run)
    section["skipped"] = _skipped_table(run)
    return section


def _class_table(run: RunFolder) -> Table:
    rows = []
    for c in run.profile.classes:
        o = c.objects
        rows.append(
            [
                str(c.index),
                c.name + (" (background)" if c.is_background and c.name != "background" else ""),
                f"{c.pixel_count:,}",
                fmt.pct(c.pixel_frequency),
                fmt.pct(c.absent_share),
                fmt.num(o.count) if o else fmt.MISSING,
                fmt.num(o.per_image.median) if o else fmt.MISSING,
                fmt.num(o.area_px.median) if o else fmt.MISSING,
                fmt.num(o.equivalent_diameter.median) if o else fmt.MISSING,
                fmt.pct(c.boundary_share),
            ]
        )
    return Table(
        columns=[
            "index",
            "class",
            "pixels",
            "pixel share",
            "absent in images",
            "objects",
            "objects / image (median)",
            "area px (median)",
            "diameter px (median)",
            "boundary share",
        ],
        rows=rows,
        numeric=frozenset({0, 2, 3, 4, 5, 6, 7, 8, 9}),
        id="classes",
    )


def _bucket_table(run: RunFolder) -> Table:
    bounds = [
        f"{name} ({fmt.num(lo)}–{fmt.num(hi) if hi != float('inf') else '∞'} px)"
        for name, lo, hi in SIZE_BUCKET_BOUNDS_PX
    ]
    rows = []
    for c in run.profile.foreground_classes:
        if c.objects is None:
            continue
        total = max(1, c.objects.count)
        rows.append(
            [c.name]
            + [
                f"{c.objects.size_buckets.get(name, 0):,} "
                f"({fmt.pct(c.objects.size_buckets.get(name, 0) / total, 0)})"
                for name, _, _ in SIZE_BUCKET_BOUNDS_PX
            ]
        )
    return Table(
        columns=["class", *bounds],
        rows=rows,
        numeric=frozenset(range(1, len(bounds) + 1)),
        caption="Objects per size bucket (area at native resolution).",
    )


def _scale_table(run: RunFolder) -> Table:
    rows = []
    for s in run.profile.scale_effects:
        keys = sorted(set(s.share_objects_below) | set(s.share_foreground_pixels_below))
        rows.append(
            [f"{s.train_size} px", f"{s.scale_factor_median:.3g}×", f"{s.objects:,}"]
            + [
                f"{fmt.pct(s.share_objects_below.get(k))} of objects, "
                f"{fmt.pct(s.share_foreground_pixels_below.get(k))} of fg pixels"
                for k in keys
            ]
        )
    keys = sorted(set().union(*(s.share_objects_below for s in run.profile.scale_effects)))
    return Table(
        columns=["training size", "scale (median)", "objects", *[f"diameter below {k}" for k in keys]],
        rows=rows,
        numeric=frozenset({1, 2}),
        caption="What resizing tiles to the training size does to the objects: objects whose equivalent "
        "diameter falls under a few pixels all but vanish for the network.",
    )


def _skipped_table(run: RunFolder) -> Table:
    skipped = run.profile.skipped
    rows = [[Cell(s.path, "code"), s.reason] for s in skipped[:MAX_SKIPPED_ROWS]]
    caption = "" if len(skipped) <= MAX_SKIPPED_ROWS else f"First {MAX_SKIPPED_ROWS} of {len(skipped):,}."
    return Table(columns=["file", "why it was skipped"], rows=rows, caption=caption, id="skipped-files")


def rules_section(run: RunFolder) -> dict[str, Any]:
    """The rule trace (every rule, fired or not) and the ranked candidates of ``recommendation.json``."""
    section: dict[str, Any] = {"problems": run.problems_with(RECOMMENDATION)}
    rec = run.recommendation
    if rec is None:
        section["missing"] = (
            f"No rule trace: this run folder holds no recommendation.json. Run `{advise_command(run)}` to "
            "apply the rules to the profile."
        )
        return section
    section["summary"] = (
        f"Imbalance level: {rec.imbalance_level}. {len(rec.trace)} rules checked, "
        f"{sum(t.fired for t in rec.trace)} fired."
    )
    section["trace"] = Table(
        columns=["rule", "measured", "threshold", "fired", "conclusion", "reference"],
        rows=[
            [
                Cell(t.question, "", note=t.rule),
                f"{t.measured_name} = {fmt.num(t.measured)}",
                _threshold(t.comparison, t.threshold),
                Cell("fired", "good") if t.fired else Cell("no", "muted"),
                t.conclusion,
                t.reference,
            ]
            for t in rec.trace
        ],
        id="rule-trace",
    )
    section["candidates"] = Table(
        columns=["rank", "loss", "parameters", "learning-rate range", "why", "learning-rate note"],
        rows=[
            [
                str(c.rank),
                Cell(c.loss + (" (baseline)" if c.is_baseline else ""), "code"),
                Cell(fmt.params(c.params), "code"),
                f"{fmt.lr(c.lr_range[0])} – {fmt.lr(c.lr_range[1])}",
                c.rationale,
                c.lr_note or fmt.MISSING,
            ]
            for c in rec.candidates
        ],
        numeric=frozenset({0}),
        id="candidates",
    )
    section["warnings"] = list(rec.warnings)
    return section


def advise_command(run: RunFolder) -> str:
    """The ``lossadvisor advise`` command that writes recommendation.json into this run folder.

    With a saved profile, advise takes ``--profile`` and writes beside it; without one it needs the masks.

    Example:
        >>> from pathlib import Path
        >>> advise_command(RunFolder(path=Path("reports/my data"), profile=object()))
        "lossadvisor advise --profile 'reports/my data/profile.json'"
    """
    if run.profile is not None:
        return shlex.join(["lossadvisor", "advise", "--profile", str(run.path / PROFILE)])
    return shlex.join(["lossadvisor", "advise", "MASKS", "--out", str(run.path)])


def _threshold(comparison: str, threshold: float | None) -> str:
    """ "< 0.2" from a bare operator and its threshold; a full expression ("in [0.01, 0.1)") as it is."""
    comparison = comparison.strip()
    if threshold is None:
        return comparison or fmt.MISSING
    if comparison in _OPERATORS:
        return f"{comparison} {fmt.num(threshold)}"
    return comparison
