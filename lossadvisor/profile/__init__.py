"""The dataset profile: the fingerprint of a mask dataset that the rules, the tuner and the report read.

Public names:

- :func:`profile_masks` / :func:`profile_masks_detailed`: measure a dataset (and write ``profile.json`` and
  ``per_image.csv``); :func:`profile_arrays` does the same for masks held in memory.
- :class:`DatasetProfile` and its parts (:class:`ClassStats`, :class:`ObjectStats`, :class:`ScaleEffect`,
  :class:`Distribution`, :class:`SkippedFile`).
- :func:`default_run_dir` / :func:`dataset_name_for`: the ``reports/<dataset-name>/`` convention.
- :func:`format_summary`: the terminal table.

Example:
    >>> from lossadvisor.profile import profile_masks
    >>> p = profile_masks("examples/buildings/masks", progress=False)
    >>> round(p.empty_mask_share, 3)
    0.065
"""

from __future__ import annotations

from lossadvisor.profile._api import (
    PER_IMAGE_FILE,
    PROFILE_FILE,
    profile_masks,
    profile_masks_detailed,
    write_outputs,
)
from lossadvisor.profile._arrays import profile_arrays
from lossadvisor.profile._paths import dataset_name_for, default_run_dir
from lossadvisor.profile._schema import (
    PERCENTILES,
    PROFILE_SCHEMA_VERSION,
    SCALE_DIAMETER_THRESHOLDS_PX,
    SIZE_BUCKET_BOUNDS_PX,
    ClassStats,
    DatasetProfile,
    Distribution,
    ObjectStats,
    ScaleEffect,
    SkippedFile,
)
from lossadvisor.profile._summary import format_summary

__all__ = [
    "PERCENTILES",
    "PER_IMAGE_FILE",
    "PROFILE_FILE",
    "PROFILE_SCHEMA_VERSION",
    "SCALE_DIAMETER_THRESHOLDS_PX",
    "SIZE_BUCKET_BOUNDS_PX",
    "ClassStats",
    "DatasetProfile",
    "Distribution",
    "ObjectStats",
    "ScaleEffect",
    "SkippedFile",
    "dataset_name_for",
    "default_run_dir",
    "format_summary",
    "profile_arrays",
    "profile_masks",
    "profile_masks_detailed",
    "write_outputs",
]
