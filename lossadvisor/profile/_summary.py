"""The short terminal summary of a profile: what a person reads before deciding anything."""

from __future__ import annotations

from lossadvisor._text import safe_text
from lossadvisor.profile._objects import threshold_key
from lossadvisor.profile._schema import SCALE_DIAMETER_THRESHOLDS_PX, SIZE_BUCKET_BOUNDS_PX, DatasetProfile

# Skipped files listed on the terminal; the rest are counted (all are in profile.json and per_image.csv).
MAX_SKIPPED_SHOWN = 10
_LABEL_WIDTH = 34


def format_summary(profile: DatasetProfile) -> str:
    """A plain-text table of the profile (no colours, so it can be pasted into a ticket)."""
    p = profile
    lines = [
        f"Dataset {safe_text(p.dataset_name)}: {p.files_read} of {p.files_found} files read, "
        f"{len(p.skipped)} skipped",
        f"  {p.task}, {p.num_classes} classes, encoding {p.mask_encoding}, {p.connectivity}-connectivity"
        + (
            f", ignore index {p.ignore_index} ({p.ignored_pixels:,} px)" if p.ignore_index is not None else ""
        ),
        "",
        f"  {'class':<16}{'pixels':>14}{'share':>9}{'absent in':>11}{'objects':>10}{'boundary':>10}",
    ]
    for c in p.classes:
        objects = f"{c.objects.count:,}" if c.objects else "-"
        lines.append(
            f"  {safe_text(c.name)[:15]:<16}{c.pixel_count:>14,}{c.pixel_frequency:>9.2%}"
            f"{c.absent_share:>11.1%}"
            f"{objects:>10}{c.boundary_share:>10.3f}"
        )
    lines.append("")
    ff = p.foreground_fraction
    rows = [
        (
            "imbalance (majority / minority)",
            f"{p.imbalance_ratio:,.1f} (minority {safe_text(p.minority_class)}, "
            f"{p.minority_share:.2%} of pixels)",
        ),
        ("empty masks (no foreground)", f"{p.empty_mask_share:.1%}"),
        (
            "foreground fraction per image",
            f"mean {ff.mean:.3f}, median {ff.median:.3f}, "
            f"p10-p90 {ff.percentiles['p10']:.3f}-{ff.percentiles['p90']:.3f}, "
            f"cv {ff.cv:.2f}",
        ),
        ("boundary share (thin structures)", f"{p.boundary_share:.3f}"),
        ("image size (h x w, median)", f"{p.image_height.median:.0f} x {p.image_width.median:.0f}"),
    ]
    for c in p.foreground_classes:
        o = c.objects
        if o is None:
            continue
        prefix = "" if len(p.foreground_classes) == 1 else f"{safe_text(c.name)}: "
        buckets = ", ".join(f"{name} {o.size_buckets.get(name, 0):,}" for name, _, _ in SIZE_BUCKET_BOUNDS_PX)
        rows += [
            (
                f"{prefix}objects per image",
                f"mean {o.per_image.mean:.1f}, median {o.per_image.median:.0f}, max {o.per_image.max:.0f}",
            ),
            (
                f"{prefix}object area (px)",
                f"median {o.area_px.median:,.0f}, p10 {o.area_px.percentiles['p10']:,.0f}, "
                f"p90 {o.area_px.percentiles['p90']:,.0f}",
            ),
            (f"{prefix}size buckets", buckets),
        ]
    for e in p.scale_effects:
        parts = ", ".join(
            f"{e.share_objects_below[threshold_key(t)]:.1%} of objects < {t:g} px "
            f"({e.share_foreground_pixels_below[threshold_key(t)]:.2%} of fg px)"
            for t in SCALE_DIAMETER_THRESHOLDS_PX
        )
        rows.append((f"resized to {e.train_size} (x{e.scale_factor_median:.2f})", parts))
    lines += [f"  {label:<{_LABEL_WIDTH}}{value}" for label, value in rows]
    bounds = ", ".join(f"{n} < {hi:g}" for n, _, hi in SIZE_BUCKET_BOUNDS_PX if hi != float("inf"))
    lines.append(f"  (size buckets by area in px: {bounds}, large above)")
    if p.warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in p.warnings]
    if p.skipped:
        lines += ["", f"Skipped files ({len(p.skipped)}):"]
        lines += [f"  {safe_text(f.path)}: {safe_text(f.reason)}" for f in p.skipped[:MAX_SKIPPED_SHOWN]]
        if len(p.skipped) > MAX_SKIPPED_SHOWN:
            lines.append(f"  ... and {len(p.skipped) - MAX_SKIPPED_SHOWN} more (see profile.json)")
    return "\n".join(lines)
