"""The short terminal summary of a profile: what a person reads before deciding anything."""

from __future__ import annotations

from lossadvisor._text import safe_text
from lossadvisor.profile._objects import threshold_key
from lossadvisor.profile._schema import (
    SCALE_DIAMETER_THRESHOLDS_PX,
    SIZE_BUCKET_BOUNDS_MM3,
    SIZE_BUCKET_BOUNDS_PX,
    DatasetProfile,
)
from lossadvisor.profile._volume_stats import (
    ANISOTROPY_THRESHOLD,
    SMALL_IN_PATCH_FRACTION,
    voxel_threshold_key,
)

# Skipped files listed on the terminal; the rest are counted (all are in profile.json and per_image.csv).
MAX_SKIPPED_SHOWN = 10
_LABEL_WIDTH = 34


def format_summary(profile: DatasetProfile) -> str:
    """A plain-text table of the profile (no colours, so it can be pasted into a ticket)."""
    if profile.dimensionality == 3 and profile.volume is not None:
        return _format_volumes(profile)
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
    lines += _tail(p)
    return "\n".join(lines)


_AXES = ("D", "H", "W")


def _format_volumes(p: DatasetProfile) -> str:
    """The 3-D summary: the same class table in voxels, then spacing, slices, patches and objects in mm³."""
    v = p.volume
    assert v is not None  # checked by the caller
    lines = [
        f"Dataset {p.dataset_name}: {p.files_read} of {p.files_found} volumes read, {len(p.skipped)} skipped",
        f"  3-D label volumes, {p.task}, {p.num_classes} classes, encoding {p.mask_encoding}, "
        f"{p.connectivity}-connectivity"
        + (
            f", ignore index {p.ignore_index} ({p.ignored_pixels:,} voxels)"
            if p.ignore_index is not None
            else ""
        ),
        "",
        f"  {'class':<16}{'voxels':>14}{'share':>9}{'absent in':>11}{'objects':>10}{'surface':>9}"
        f"{'mm³ / volume':>15}",
    ]
    for c in p.classes:
        objects = f"{c.objects.count:,}" if c.objects else "-"
        mm3 = f"{c.volume_mm3.median:,.0f}" if c.volume_mm3 is not None else "-"
        lines.append(
            f"  {c.name[:15]:<16}{c.pixel_count:>14,}{c.pixel_frequency:>9.2%}{c.absent_share:>11.1%}"
            f"{objects:>10}{c.boundary_share:>9.3f}{mm3:>15}"
        )
    lines.append("")
    spacing = " x ".join(f"{s:g}" for s in v.median_spacing_mm)
    ranges = ", ".join(
        f"{axis} {d.min:g}-{d.max:g}" for axis, d in zip(_AXES, v.spacing_mm, strict=True) if d.min != d.max
    )
    aniso = "anisotropic" if v.anisotropy > ANISOTROPY_THRESHOLD else "not anisotropic"
    ff = p.foreground_fraction
    rows = [
        (
            "spacing (mm, median D x H x W)",
            f"{spacing}"
            + (f" (varies: {ranges})" if ranges else "")
            + ("" if v.spacing_known else " (some files carry no spacing: 1 mm assumed)"),
        ),
        (
            "anisotropy (max / min spacing)",
            f"{v.anisotropy:.2f} ({aniso}; nnU-Net's bound {ANISOTROPY_THRESHOLD:g}), "
            f"through-plane axis {_AXES[v.slice_axis]}",
        ),
        (
            "volume shape (D x H x W, median)",
            f"{v.depth.median:.0f} x {p.image_height.median:.0f} x {p.image_width.median:.0f}",
        ),
        ("orientation (array axes)", ", ".join(f"{k} {n}" for k, n in v.orientations.items())),
        (
            "imbalance (majority / minority)",
            f"{p.imbalance_ratio:,.1f} (minority {p.minority_class}, {p.minority_share:.2%} of voxels)",
        ),
        ("empty volumes (no foreground)", f"{p.empty_mask_share:.1%}"),
        (
            "foreground fraction per volume",
            f"mean {ff.mean:.4f}, median {ff.median:.4f}, "
            f"p10-p90 {ff.percentiles['p10']:.4f}-{ff.percentiles['p90']:.4f}",
        ),
        (
            "slices holding foreground",
            f"mean {v.foreground_slice_share.mean:.1%} of the slices along {_AXES[v.slice_axis]}",
        ),
        (
            f"patch {'x'.join(str(n) for n in v.patch_size)} ({v.patch_source})",
            f"{v.empty_patch_share.mean:.1%} of uniformly placed patches hold no foreground; "
            f"{v.small_in_patch_share:.1%} of objects fill < {SMALL_IN_PATCH_FRACTION:.1%} of it",
        ),
        (
            "objects few voxels across",
            ", ".join(
                f"{v.share_objects_below_voxels.get(voxel_threshold_key(t), 0.0):.1%} under {t:g} voxels"
                for t in SCALE_DIAMETER_THRESHOLDS_PX
            )
            + " (along the coarsest axis)",
        ),
        ("surface share (thin structures)", f"{p.boundary_share:.3f}"),
    ]
    for c in p.foreground_classes:
        o = c.objects
        if o is None or o.volume_mm3 is None:
            continue
        prefix = "" if len(p.foreground_classes) == 1 else f"{c.name}: "
        buckets = ", ".join(
            f"{name} {o.size_buckets.get(name, 0):,}" for name, _, _ in SIZE_BUCKET_BOUNDS_MM3
        )
        rows += [
            (
                f"{prefix}objects per volume",
                f"mean {o.per_image.mean:.1f}, median {o.per_image.median:.0f}, max {o.per_image.max:.0f}",
            ),
            (
                f"{prefix}object volume (mm³)",
                f"median {o.volume_mm3.median:,.1f}, p10 {o.volume_mm3.percentiles['p10']:,.1f}, "
                f"p90 {o.volume_mm3.percentiles['p90']:,.1f} (voxels: median {o.area_px.median:,.0f})",
            ),
            (f"{prefix}size buckets (mm³)", buckets),
        ]
    lines += [f"  {label:<{_LABEL_WIDTH}}{value}" for label, value in rows]
    bounds = ", ".join(f"{n} < {hi:g}" for n, _, hi in SIZE_BUCKET_BOUNDS_MM3 if hi != float("inf"))
    lines.append(f"  (size buckets by physical volume in mm³: {bounds}, large above)")
    lines += _tail(p)
    return "\n".join(lines)


def _tail(p: DatasetProfile) -> list[str]:
    lines: list[str] = []
    if p.warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in p.warnings]
    if p.skipped:
        lines += ["", f"Skipped files ({len(p.skipped)}):"]
        lines += [f"  {safe_text(f.path)}: {safe_text(f.reason)}" for f in p.skipped[:MAX_SKIPPED_SHOWN]]
        if len(p.skipped) > MAX_SKIPPED_SHOWN:
            lines.append(f"  ... and {len(p.skipped) - MAX_SKIPPED_SHOWN} more (see profile.json)")
    return lines
