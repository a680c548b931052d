"""Reading segmentation masks: find the files, decode them, and turn their values into class indices.

Public names:

- :func:`discover_files` / :func:`scan_source`: the mask files of a folder (recursive), glob or list file.
- :func:`read_mask`: one file -> :class:`MaskData` (class indices, encoding, pixel counts).
- :func:`load_class_map` / :class:`ClassMap`: colour- or value-to-class maps (JSON or CSV).
- :class:`MaskFileError`: one file cannot be used (a :class:`lossadvisor.errors.DataError`).

Example:
    >>> from lossadvisor.io import discover_files, read_mask
    >>> files = discover_files("examples/buildings/masks")
    >>> int(read_mask(files[0]).labels.max())
    1
"""

from __future__ import annotations

from lossadvisor.io._classmap import ClassMap, load_class_map
from lossadvisor.io._decode import DEFAULT_MAX_PIXELS
from lossadvisor.io._discover import MASK_SUFFIXES, SourceScan, discover_files, relative_name, scan_source
from lossadvisor.io._errors import MaskFileError, display_path
from lossadvisor.io._labels import BINARY_ENCODINGS, DEFAULT_IGNORE_INDEX, ENCODING_EMPTY
from lossadvisor.io._read import MaskData, check_max_pixels, mask_from_array, read_mask, resolve_class_map

__all__ = [
    "BINARY_ENCODINGS",
    "DEFAULT_IGNORE_INDEX",
    "DEFAULT_MAX_PIXELS",
    "ENCODING_EMPTY",
    "MASK_SUFFIXES",
    "ClassMap",
    "MaskData",
    "MaskFileError",
    "check_max_pixels",
    "SourceScan",
    "discover_files",
    "display_path",
    "load_class_map",
    "mask_from_array",
    "read_mask",
    "relative_name",
    "resolve_class_map",
    "scan_source",
]
