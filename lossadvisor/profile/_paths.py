"""Where a dataset's run folder goes: ``reports/<dataset-name>/``, the convention every command shares."""

from __future__ import annotations

import os
import re
from pathlib import Path

from lossadvisor.io import MASK_SUFFIXES

REPORTS_DIR = Path("reports")
# Folder names that say "this is where the masks are" rather than which dataset it is; the parent names it.
GENERIC_FOLDER_NAMES: frozenset[str] = frozenset(
    {
        "masks",
        "mask",
        "labels",
        "label",
        "gt",
        "ground_truth",
        "groundtruth",
        "annotations",
        "annotation",
        "targets",
        "target",
        "segmentations",
        "segmentation",
        "images",
        "data",
    }
)
_GLOB_CHARS = frozenset("*?[")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def dataset_name_for(source: str | os.PathLike[str]) -> str:
    """A short, file-system-safe name for a dataset, from its source.

    The folder name, or its parent's when the folder has a generic name (``data/inria/masks`` -> ``inria``);
    for a glob, the fixed folder before the first wildcard; for a list file, its stem (``train.txt`` ->
    ``train``).

    Example:
        >>> dataset_name_for("data/inria-buildings/masks")
        'inria-buildings'
    """
    text = os.fspath(source)
    path = Path(text)
    if any(ch in text for ch in _GLOB_CHARS):
        fixed = []
        for part in path.parts:
            if _GLOB_CHARS & set(part):
                break
            fixed.append(part)
        path = Path(*fixed) if fixed else Path(".")
    elif path.is_file() and path.suffix.lower() not in MASK_SUFFIXES:
        return _safe(path.stem)
    elif path.suffix.lower() in MASK_SUFFIXES:
        path = path.parent
    path = Path(os.path.abspath(path))
    while path.name.lower() in GENERIC_FOLDER_NAMES and path.parent != path:
        path = path.parent
    return _safe(path.name or "dataset")


def default_run_dir(
    source: str | os.PathLike[str], *, reports_dir: str | os.PathLike[str] = REPORTS_DIR
) -> Path:
    """``reports/<dataset-name>/`` for ``source`` (see :func:`dataset_name_for`)."""
    return Path(reports_dir) / dataset_name_for(source)


def _safe(name: str) -> str:
    return _UNSAFE.sub("-", name).strip("-.") or "dataset"
