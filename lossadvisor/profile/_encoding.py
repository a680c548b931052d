"""Agree on one encoding for the whole dataset, and skip the files that disagree with it.

Each file is read on its own (a 0/255 file and a file of class indices look alike to a reader that sees one
mask), so the dataset-level question, "which values are the declared classes?", is settled here: without a
class map, masks are either binary (0/1, 0/255, bool) or class indices (values 0, 1, 2, ...). When both kinds
occur, the larger group defines the classes and each file of the other group is skipped as holding values
outside the declared classes, with the values it holds.
"""

from __future__ import annotations

from collections import Counter

from lossadvisor.io import ENCODING_EMPTY
from lossadvisor.profile._image import ImageStats

FAMILY_BINARY = "binary"
FAMILY_LABELS = "labels"
FAMILY_CLASS_MAP = "class map"
# Encodings whose foreground value is not 1: they cannot sit beside class-index masks.
_WIDE_BINARY = frozenset({"binary 0/255", "binary 0/65535"})
_LABEL_ENCODINGS = frozenset({"label values", "palette"})
# Class values above this are not checked for gaps (the check lists every missing index).
_MAX_GAP_CHECK = 1024
# Conventional "don't care" value (VOC, Cityscapes trainIds) that often hides among class indices.
_COMMON_IGNORE_VALUE = 255


def reconcile(
    stats: list[ImageStats], *, has_class_map: bool, ignore_index: int | None
) -> tuple[str, str, list[str]]:
    """Settle the dataset encoding; mark disagreeing files skipped (in place).

    Returns:
        (family, mask_encoding text, warnings).
    """
    read = [s for s in stats if s.skipped_reason is None]
    warnings: list[str] = []
    if has_class_map:
        return FAMILY_CLASS_MAP, _encoding_text(read), warnings
    wide = [s for s in read if s.encoding in _WIDE_BINARY]
    labels = [s for s in read if s.encoding in _LABEL_ENCODINGS]
    if wide and labels:
        keep_labels = len(labels) > len(wide)
        losers, winners = (wide, labels) if keep_labels else (labels, wide)
        declared = sorted({v for s in winners for v in s.pixel_counts} | {0})
        for s in losers:
            s.skipped_reason = _disagreement(s, winners, declared, keep_labels)
        read = [s for s in read if s.skipped_reason is None]
        labels = labels if keep_labels else []
    family = FAMILY_LABELS if labels else FAMILY_BINARY
    if family == FAMILY_LABELS:
        warnings += _label_warnings(read, ignore_index)
    return family, _encoding_text(read), warnings


def _disagreement(stats: ImageStats, winners: list[ImageStats], declared: list[int], labels_won: bool) -> str:
    values = ", ".join(map(str, sorted(stats.pixel_counts)))
    if labels_won:
        return (
            f"expected class indices ({', '.join(map(str, declared))}) like the other {len(winners)} masks; "
            f"found a {stats.encoding} mask, whose 255 would be read as class 255 (values outside the "
            f"declared classes). Re-save it with class indices, or profile the two groups apart."
        )
    return (
        f"expected binary values like the other {len(winners)} masks; found values outside the declared "
        f"classes ({values}). Threshold the mask or re-save it with nearest-neighbour resampling "
        f"(resized or anti-aliased masks gain in-between values), or give a --class-map."
    )


def _label_warnings(read: list[ImageStats], ignore_index: int | None) -> list[str]:
    warnings = []
    values = sorted({v for s in read for v in s.pixel_counts} | {0})
    if ignore_index is None and _COMMON_IGNORE_VALUE in values and len(values) > 2:
        n = sum(1 for s in read if _COMMON_IGNORE_VALUE in s.pixel_counts)
        warnings.append(
            f"Value {_COMMON_IGNORE_VALUE} occurs in {n} masks beside class values "
            f"{', '.join(map(str, values[:-1][:8]))}: if it marks boundary or 'don't care' pixels, "
            f"pass --ignore-index {_COMMON_IGNORE_VALUE}."
        )
        values = values[:-1]  # the likely "don't care" value says nothing about missing classes
    gaps = sorted(set(range(values[-1] + 1)) - set(values)) if values[-1] < _MAX_GAP_CHECK else []
    if gaps:
        shown = ", ".join(map(str, gaps[:8])) + (" ..." if len(gaps) > 8 else "")
        warnings.append(
            f"Class indices {shown} never occur: training code expects indices 0..C-1; if the "
            f"values are codes (e.g. 0/128/255), give a --class-map to name and renumber them."
        )
    return warnings


def _encoding_text(read: list[ImageStats]) -> str:
    counts = Counter(s.encoding for s in read if s.encoding != ENCODING_EMPTY)
    if not counts:
        return ENCODING_EMPTY
    if len(counts) == 1:
        return next(iter(counts))
    return "mixed: " + ", ".join(f"{enc} ({n} files)" for enc, n in counts.most_common())
