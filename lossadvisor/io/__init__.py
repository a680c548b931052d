"""Reading segmentation masks: find the files, decode them, and turn their values into class indices.

Public names:

- :func:`discover_files` / :func:`scan_source`: the mask files of a folder (recursive), glob or list file.
- :func:`read_mask`: one file -> :class:`MaskData` (class indices, encoding, pixel counts).
- :func:`load_class_map` / :class:`ClassMap`: colour- or value-to-class maps (JSON or CSV).
- :class:`MaskFileError`: one file cannot be used (a :class:`lossadvisor.errors.DataError`).

3-D volumes (NIfTI ``.nii`` / ``.nii.gz`` via nibabel, 3-D ``.npy``; ``SourceScan.dimensionality`` tells a
folder of volumes from one of 2-D masks):

- :func:`read_volume`: a label volume -> :class:`VolumeData` (``(D, H, W)`` class indices, spacing in mm,
  orientation, affine).
- :func:`read_volume_image`: one or several channel files -> :class:`VolumeImage` (``(C, D, H, W)`` float32).
- :func:`pair_volumes`: images folder + labels folder -> :class:`VolumePairs` (the nnU-Net layout
  ``imagesTr/CASE_0000.nii.gz`` + ``labelsTr/CASE.nii.gz``, named channels ``CASE_flair.nii.gz``, or same
  names), with the cases that cannot be paired listed as problems.
- :func:`read_volume_header`: shape and spacing without decoding a voxel.

Example:
    >>> from lossadvisor.io import discover_files, read_mask
    >>> files = discover_files("examples/buildings/masks")
    >>> int(read_mask(files[0]).labels.max())
    1
"""

from __future__ import annotations

from lossadvisor.io._classmap import ClassMap, load_class_map
from lossadvisor.io._decode import DEFAULT_MAX_PIXELS
from lossadvisor.io._discover import (
    MASK_SUFFIXES,
    VOLUME_NAME_SUFFIXES,
    SourceScan,
    discover_files,
    relative_name,
    scan_source,
)
from lossadvisor.io._errors import MaskFileError, display_path
from lossadvisor.io._labels import BINARY_ENCODINGS, DEFAULT_IGNORE_INDEX, ENCODING_EMPTY
from lossadvisor.io._pairing import VolumePair, VolumePairs, list_volumes, pair_volumes
from lossadvisor.io._read import MaskData, check_max_pixels, mask_from_array, read_mask, resolve_class_map
from lossadvisor.io._volume import (
    VolumeData,
    VolumeHeader,
    is_volume_file,
    read_volume,
    read_volume_header,
    volume_stem,
)
from lossadvisor.io._volume_image import VolumeImage, read_volume_image

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
    "VOLUME_NAME_SUFFIXES",
    "VolumeData",
    "VolumeHeader",
    "VolumeImage",
    "VolumePair",
    "VolumePairs",
    "is_volume_file",
    "list_volumes",
    "pair_volumes",
    "read_volume",
    "read_volume_header",
    "read_volume_image",
    "volume_stem",
    "discover_files",
    "display_path",
    "load_class_map",
    "mask_from_array",
    "read_mask",
    "relative_name",
    "resolve_class_map",
    "scan_source",
]
