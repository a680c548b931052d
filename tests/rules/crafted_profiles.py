"""Crafted dataset profiles for the rules tests: each field set by hand, so each rule can be pushed over its
threshold, plus the table of expected first choices and the imbalance ladder the invariants use."""

from __future__ import annotations

from collections.abc import Sequence

from lossadvisor.profile._schema import (
    PERCENTILES,
    ClassStats,
    DatasetProfile,
    Distribution,
    ObjectStats,
    ScaleEffect,
    SkippedFile,
)

SIDE = 256  # every crafted image is SIDE x SIDE


def constant(value: float, count: int = 100) -> Distribution:
    """A Distribution of ``count`` copies of ``value``."""
    return Distribution(
        count=count, mean=value, std=0.0, cv=0.0, min=value, median=value, max=value,
        percentiles={f"p{p}": value for p in PERCENTILES},
    )  # fmt: skip


def build_profile(
    fg_shares: Sequence[float] = (0.3,),
    *,
    names: Sequence[str] | None = None,
    absent_shares: Sequence[float] | None = None,
    tiny_share: float = 0.0,
    objects_per_image: int = 10,
    diameter: float = 20.0,
    boundary_share: float = 0.1,
    scale: Sequence[tuple[int, float, float]] = (),
    images: int = 100,
    ignore_index: int | None = None,
    skipped: int = 0,
) -> DatasetProfile:
    """A consistent profile: ``fg_shares`` are the foreground classes' pixel frequencies (background gets the
    rest); ``absent_shares`` the share of images without each foreground class (the first doubles as the
    empty-mask share); ``scale`` holds ``(train_size, share of objects under 4 px, scale factor)``."""
    names = list(names or [f"class{i + 1}" for i in range(len(fg_shares))])
    absent = list(absent_shares or [0.0] * len(fg_shares))
    total = images * SIDE * SIDE
    shares = [1.0 - sum(fg_shares), *fg_shares]
    counts = [round(s * total) for s in shares]
    classes = []
    for index, (name, share, count) in enumerate(zip(["background", *names], shares, counts, strict=False)):
        objects = None
        if index > 0:
            n = objects_per_image * images
            tiny = round(tiny_share * n)
            objects = ObjectStats(
                count=n, per_image=constant(objects_per_image, images), area_px=constant(count / n, n),
                area_share=constant(share / objects_per_image, n), equivalent_diameter=constant(diameter, n),
                size_buckets={"tiny": tiny, "small": n - tiny, "medium": 0, "large": 0},
                area_log2_histogram=(tiny, n - tiny),
            )  # fmt: skip
        classes.append(
            ClassStats(
                index=index,
                name=name,
                pixel_count=count,
                pixel_frequency=share,
                absent_share=0.0 if index == 0 else absent[index - 1],
                is_background=index == 0,
                objects=objects,
                boundary_pixels=round(boundary_share * count) if index else 0,
                boundary_share=boundary_share if index else 0.0,
            )  # fmt: skip
        )
    present = [c for c in classes if c.pixel_count > 0]
    rarest = min(present, key=lambda c: c.pixel_count)
    effects = tuple(
        ScaleEffect(
            train_size=size,
            scale_factor_median=factor,
            objects=objects_per_image * images,
            share_objects_below={"2px": lost / 2, "4px": lost},
            share_foreground_pixels_below={"2px": 0, "4px": 0},
        )  # fmt: skip
        for size, lost, factor in scale
    )
    return DatasetProfile(
        dataset_name="crafted", source="crafted/masks", fingerprint="0" * 64,
        task="binary" if len(fg_shares) == 1 else "multiclass", mask_encoding="label values",
        num_classes=len(classes), classes=tuple(classes), ignore_index=ignore_index, ignored_pixels=0,
        connectivity=8, files_found=images + skipped, files_read=images,
        skipped=tuple(SkippedFile(f"bad{i}.png", "corrupt PNG") for i in range(skipped)),
        image_height=constant(SIDE, images), image_width=constant(SIDE, images), total_pixels=total,
        imbalance_ratio=max(c.pixel_count for c in present) / rarest.pixel_count, minority_class=rarest.name,
        minority_share=rarest.pixel_frequency, empty_mask_share=absent[0] if len(absent) == 1 else 0.0,
        foreground_fraction=constant(sum(fg_shares), images), boundary_share=boundary_share,
        scale_effects=effects, train_sizes=tuple(s for s, _, _ in scale),
    )  # fmt: skip


# How strongly a loss answers class imbalance, for the monotonicity invariant (defined here, not in the code):
# 0 plain CE; 1 re-weighted CE; 2 overlap and focusing losses; 3 losses built for extreme imbalance.
LADDER = {
    "ce": 0,
    "weighted_ce": 1,
    "dice_ce": 2, "dice": 2, "focal": 2, "tversky": 2, "lovasz": 2, "dice_focal": 2,
    "focal_tversky": 3, "unified_focal": 3, "generalized_dice": 3,
}  # fmt: skip
DICE_TERM = ("dice", "dice_ce", "dice_focal", "tversky", "focal_tversky", "generalized_dice")

# (id, profile keyword arguments, acceptable first choices) for the default objective (IoU).
TOP_CHOICE_TABLE = [
    ("balanced", {"fg_shares": (0.4,)}, {"ce"}),
    ("moderate", {"fg_shares": (0.15,)}, {"weighted_ce"}),
    ("severe", {"fg_shares": (0.03,)}, {"tversky"}),
    ("extreme", {"fg_shares": (0.004,)}, {"focal_tversky", "unified_focal"}),
    ("moderate-many-empty", {"fg_shares": (0.15,), "absent_shares": (0.3,)}, {"weighted_ce"}),
    ("severe-many-empty", {"fg_shares": (0.03,), "absent_shares": (0.3,)}, {"tversky"}),
    ("moderate-tiny", {"fg_shares": (0.15,), "tiny_share": 0.5}, {"weighted_ce"}),
    ("severe-tiny", {"fg_shares": (0.03,), "tiny_share": 0.5}, {"tversky"}),
    ("moderate-mostly-tiny", {"fg_shares": (0.15,), "tiny_share": 0.8}, {"dice_ce"}),
    ("severe-mostly-tiny", {"fg_shares": (0.03,), "tiny_share": 0.8}, {"dice_ce"}),
    ("balanced-thin", {"fg_shares": (0.4,), "boundary_share": 0.8}, {"ce"}),
    ("multiclass-balanced", {"fg_shares": (0.25, 0.25, 0.25)}, {"ce"}),
    ("multiclass-rare", {"fg_shares": (0.45, 0.11)}, {"weighted_ce", "generalized_dice"}),
    (
        "multiclass-extreme",
        {"fg_shares": (0.1, 0.005)},
        {"focal_tversky", "unified_focal", "generalized_dice"},
    ),
]
