"""Colour-coded masks without a class map: refuse rather than profile part of the data, or misread it.

Two cases would otherwise give a profile that looks fine and is wrong:

- RGB masks with a few colours (colour-coded classes) cannot be read without a class map. Skipping them one by
  one, as for a corrupt file, silently profiles only the other files, so the whole run is refused instead.
- Palette PNGs are read by palette index. That is right when every file has the same palette (VOC-style),
  and wrong when palettes differ between files (index 0 is "land" in one file and "building" in another).
  Any index that means two colours, or colour that sits at two indices, refuses the run.

Both messages propose a class map built from the colours found; with it, RGB and palette masks are mapped by
colour, consistently across files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from lossadvisor.errors import DataError
from lossadvisor.io import relative_name
from lossadvisor.profile._image import ImageStats

# Colours listed in a proposed class map (more would make a message nobody reads; the file can be extended).
_PROPOSED_COLOURS = 12


def check_colour_coding(stats: Sequence[ImageStats], root, *, has_class_map: bool) -> None:
    """Raise :class:`DataError` when colour-coded masks would be skipped or misread without a class map."""
    if has_class_map:
        return
    coded = [s for s in stats if s.uncoded_colours]
    if coded:
        colours = _union(s.uncoded_colours for s in coded)
        example = coded[0]
        shown = ", ".join(str(c) for c in example.uncoded_colours[:3])
        name = relative_name(example.path, root)
        raise DataError(
            f"{len(coded)} of {len(stats)} masks are colour-coded RGB (e.g. {name}: "
            f"{shown}) and no --class-map was given; profiling only the other files would describe part of "
            f"the dataset. Pass --class-map FILE mapping each colour to a class. For the colours found: "
            f"{_proposal(colours)} (name the classes; palette masks are then read by colour too)."
        )
    by_index: dict[int, dict[tuple[int, int, int], ImageStats]] = {}
    by_colour: dict[tuple[int, int, int], dict[int, ImageStats]] = {}
    for s in stats:
        for index, colour in (s.palette_colours or {}).items():
            by_index.setdefault(index, {}).setdefault(colour, s)
            by_colour.setdefault(colour, {}).setdefault(index, s)
    clash = next(((i, c) for i, c in sorted(by_index.items()) if len(c) > 1), None)
    if clash is None:
        clash_colour = next(((c, i) for c, i in by_colour.items() if len(i) > 1), None)
        if clash_colour is None:
            return
        colour, indices = clash_colour
        (i1, s1), (i2, s2) = list(indices.items())[:2]
        what = (
            f"colour {colour} is index {i1} in {relative_name(s1.path, root)} but index {i2} in "
            f"{relative_name(s2.path, root)}"
        )
    else:
        index, colours_at = clash
        (c1, s1), (c2, s2) = list(colours_at.items())[:2]
        what = (
            f"index {index} is {c1} in {relative_name(s1.path, root)} but {c2} in "
            f"{relative_name(s2.path, root)}"
        )
    raise DataError(
        f"The palette masks disagree on what a palette index means ({what}); reading them by index would "
        f"mix classes. Pass --class-map FILE mapping each colour to a class, and palette masks are read by "
        f"colour. For the colours used: {_proposal(list(by_colour))}."
    )


def _union(groups) -> list[tuple[int, int, int]]:
    seen: dict[tuple[int, int, int], None] = {}
    for group in groups:
        seen.update(dict.fromkeys(group))
    return list(seen)


def _proposal(colours: list[tuple[int, int, int]]) -> str:
    """A class-map JSON for these colours: black (if present) as background, the others class_1, class_2..."""
    ordered = sorted(colours, key=lambda c: (c != (0, 0, 0), colours.index(c)))
    mapping = {}
    for k, colour in enumerate(ordered[:_PROPOSED_COLOURS]):
        name = (
            "background"
            if k == 0 and colour == (0, 0, 0)
            else f"class_{k if ordered[0] == (0, 0, 0) else k + 1}"
        )
        mapping[name] = list(colour)
    more = f" and {len(ordered) - _PROPOSED_COLOURS} more colours" if len(ordered) > _PROPOSED_COLOURS else ""
    return json.dumps(mapping) + more
