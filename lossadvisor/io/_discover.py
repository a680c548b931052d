"""Find the mask files of a dataset: a folder (searched recursively), a glob pattern, or a text file of paths.

Discovery never opens an image; it only decides which paths are candidates. Problems found on the way (a
symbolic-link loop between folders, a listed file that does not exist) are returned beside the files so a
profile run can list them as skipped instead of stopping.
"""

from __future__ import annotations

import dataclasses
import glob
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from lossadvisor.errors import DataError, NoUsableDataError
from lossadvisor.io._errors import display_path

# Formats read by :func:`lossadvisor.io.read_mask`.
MASK_SUFFIXES: frozenset[str] = frozenset({".png", ".tif", ".tiff", ".npy", ".bmp", ".gif"})
# Lossy formats: collected so that each is reported with a reason (JPEG changes mask values), not ignored.
LOSSY_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg"})
CANDIDATE_SUFFIXES: frozenset[str] = MASK_SUFFIXES | LOSSY_SUFFIXES
# 3-D label volumes (read by :func:`lossadvisor.io.read_volume`); ".nii.gz" is matched on the name's end.
VOLUME_NAME_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii")
_GLOB_CHARS = frozenset("*?[")
# .npy headers read to tell a folder of 3-D volumes from one of 2-D masks (datasets do not mix the two).
_NPY_HEADERS_READ = 16
# A list file larger than this is almost certainly not a list of paths.
_MAX_LIST_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SourceScan:
    """What a source holds.

    Attributes:
        source: the source as given.
        kind: "folder", "glob", "list" or "file".
        root: the folder paths are reported relative to (the folder, the glob's fixed prefix, the list's
            folder).
        files: candidate mask files, sorted.
        problems: (path, reason) for entries that cannot even be tried (symlink loops, missing listed files).
        other_files: files seen but not candidates (other extensions, hidden files).
        dimensionality: 3 when label volumes (NIfTI files, or ``.npy`` files whose header is a 3-D volume)
            make up at least half of the files, else 2. Decided from names and ``.npy`` headers only, so no
            flag is needed.
    """

    source: str
    kind: str
    root: Path
    files: tuple[Path, ...]
    problems: tuple[tuple[Path, str], ...]
    other_files: int
    dimensionality: int = 2


def is_candidate(name: str) -> bool:
    """A file name lossadvisor tries to read: a 2-D mask extension or a NIfTI volume."""
    lower = name.lower()
    return Path(lower).suffix in CANDIDATE_SUFFIXES or lower.endswith(VOLUME_NAME_SUFFIXES)


def discover_files(source: str | os.PathLike[str]) -> list[Path]:
    """Return the candidate mask files of ``source``, sorted.

    Args:
        source: a folder (searched recursively; hidden files and folders are left out), a glob pattern
            (``"masks/**/*.png"``, recursive ``**`` allowed), a text file listing one path per line
            (relative to the list file; blank lines and ``#`` comments are skipped), or one mask file.

    Returns:
        The paths of files with a mask extension (.png, .tif, .tiff, .npy, .bmp, .gif, and .jpg/.jpeg so that
        they are reported rather than silently ignored) or a volume one (.nii, .nii.gz; see
        :attr:`SourceScan.dimensionality`).

    Raises:
        DataError: the source does not exist or is not a folder, pattern or list.
        NoUsableDataError: the source holds no candidate file.

    Example:
        >>> discover_files("examples/buildings/masks")[:1]  # doctest: +SKIP
        [PosixPath('examples/buildings/masks/austin1_0.tif')]
    """
    return list(scan_source(source).files)


def scan_source(source: str | os.PathLike[str]) -> SourceScan:
    """Like :func:`discover_files`, but also return the problems found and the root paths are relative to."""
    text = os.fspath(source)
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"SOURCE must be a folder, a glob pattern or a list file; got {text!r}.")
    path = Path(text)
    if path.is_dir():
        scan = _scan_folder(text, path)
    elif path.is_file():
        if is_candidate(path.name):
            scan = SourceScan(text, "file", path.parent, (path,), (), 0)
        else:
            scan = _scan_list(text, path)
    elif any(ch in text for ch in _GLOB_CHARS):
        scan = _scan_glob(text)
    else:
        raise DataError(
            f"SOURCE {display_path(text)} does not exist. Expected a folder of masks, a glob pattern "
            f"(e.g. 'masks/*.png') or a text file listing mask paths; check the path."
        )
    if not scan.files:
        raise NoUsableDataError(_nothing_found_message(scan))
    return dataclasses.replace(scan, dimensionality=dimensionality_of(scan.files))


def dimensionality_of(files: tuple[Path, ...] | list[Path]) -> int:
    """3 when label volumes (NIfTI, or ``.npy`` files whose header holds a 3-D volume) make up at least half
    of ``files``, else 2.

    In a folder that mixes both, the more numerous kind is profiled and the other files are skipped with a
    reason, so one stray file does not turn a dataset into the other kind. Only the first
    :data:`_NPY_HEADERS_READ` ``.npy`` headers are read (their share of volumes stands for all ``.npy``
    files), so a large 2-D ``.npy`` dataset does not pay one extra open per file.
    """
    from lossadvisor.io._volume import is_volume_file

    if not files:
        return 2
    nifti = sum(1 for p in files if p.name.lower().endswith(VOLUME_NAME_SUFFIXES))
    npys = [p for p in files if p.suffix.lower() == ".npy"]
    sample = npys[:_NPY_HEADERS_READ]
    volume_share = sum(1 for p in sample if is_volume_file(p)) / len(sample) if sample else 0.0
    return 3 if 2 * (nifti + volume_share * len(npys)) >= len(files) else 2


def _nothing_found_message(scan: SourceScan) -> str:
    wanted = ", ".join([*sorted(MASK_SUFFIXES), *VOLUME_NAME_SUFFIXES])
    where = {"folder": "searched recursively", "glob": "pattern", "list": "list file"}.get(
        scan.kind, scan.kind
    )
    found = (
        "nothing" if not scan.other_files else f"{scan.other_files} file(s) with other extensions or hidden"
    )
    problems = "; ".join(f"{display_path(p)}: {r}" for p, r in scan.problems[:3])
    extra = f" Problems: {problems}." if problems else ""
    return (
        f"No mask files in {display_path(scan.source)} ({where}); expected files ending in {wanted}; "
        f"found {found}.{extra} Point SOURCE at the folder that holds the masks."
    )


def _is_hidden(name: str) -> bool:
    # ".DS_Store", "._a.png" (macOS resource forks that carry a .png name but are not images), ".git".
    return name.startswith(".")


def _scan_folder(source: str, root: Path) -> SourceScan:
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    other = 0
    visited: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        st = os.stat(here)
        if (st.st_dev, st.st_ino) in visited:  # reached again through a symbolic link: a loop, not new data
            problems.append(
                (
                    here,
                    "expected a folder of masks; found a symbolic-link loop back to a folder "
                    "already searched. Not followed; remove the link if it is a mistake.",
                )
            )
            dirnames[:] = []
            continue
        visited.add((st.st_dev, st.st_ino))
        keep = []
        for name in sorted(dirnames):
            if _is_hidden(name):
                continue
            try:
                os.stat(here / name)
            except OSError as exc:  # ELOOP for a link to itself, ENOENT for a dangling link
                problems.append(
                    (
                        here / name,
                        f"expected a folder; found an unusable link ({exc.strerror}). "
                        "Remove or fix the link.",
                    )
                )
                continue
            keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            if not _is_hidden(name) and is_candidate(name):
                files.append(here / name)
            else:
                other += 1
    return SourceScan(source, "folder", root, tuple(sorted(files)), tuple(problems), other)


def _glob_root(pattern: str) -> Path:
    """The fixed folder in front of the first wildcard ("masks/**/*.png" -> "masks")."""
    fixed = list(itertools.takewhile(lambda part: not (_GLOB_CHARS & set(part)), Path(pattern).parts))
    return Path(*fixed) if fixed else Path(".")


def _scan_glob(pattern: str) -> SourceScan:
    files, other = [], 0
    for match in glob.glob(pattern, recursive=True):
        path = Path(match)
        if path.is_dir():
            continue
        if is_candidate(path.name) and not _is_hidden(path.name):
            files.append(path)
        else:
            other += 1
    return SourceScan(pattern, "glob", _glob_root(pattern), tuple(sorted(set(files))), (), other)


def _scan_list(source: str, list_file: Path) -> SourceScan:
    size = list_file.stat().st_size
    raw = list_file.read_bytes() if size <= _MAX_LIST_FILE_BYTES else b"\0"
    if b"\0" in raw:
        raise DataError(
            f"SOURCE {display_path(list_file)} is neither a mask nor a text list of paths (it is a binary "
            f"file of {size} bytes with an unknown extension). Pass a folder of masks, a glob pattern, or a "
            f"text file with one mask path per line."
        )
    text = raw.decode("utf-8", "surrogateescape")
    base = list_file.parent
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = Path(entry) if Path(entry).is_absolute() else base / entry
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            problems.append(
                (
                    path,
                    f"expected a mask file (line {number} of {display_path(list_file)}); "
                    "found a folder. List files, not folders.",
                )
            )
        else:
            problems.append(
                (
                    path,
                    f"expected a mask file (line {number} of {display_path(list_file)}); "
                    "found no such file. Fix the path in the list.",
                )
            )
    unique = tuple(dict.fromkeys(files))  # keep the list's order, drop repeats
    return SourceScan(source, "list", base, unique, tuple(problems), 0)


def relative_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it lies below it (else as given), printable."""
    try:
        return display_path(path.relative_to(root))
    except ValueError:
        return display_path(path)
