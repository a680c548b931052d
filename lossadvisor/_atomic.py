"""Every file lossadvisor writes goes through here: a temporary file in the same folder, then ``os.replace``.

Readers (a report built mid-study, a colleague opening ``trials.csv``, another worker) never see half a file,
and a run that fails while writing leaves the previous version in place. The temporary name is unique per
writer (several processes may write one run folder) and starts with a dot, so it never looks like an output.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from lossadvisor._text import safe_text
from lossadvisor.errors import OutputWriteError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what a plain open(..., "w") would have given


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on any error it is removed.

    Example:
        >>> with atomic_path("out/table.csv") as tmp:  # doctest: +SKIP
        ...     frame.to_csv(tmp, index=False)
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise _disk_error(target, exc) from None
        raise
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in DISK_ERRNOS:
            raise _disk_error(target, exc) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# A write that fails for its disk, not for a bug: full, over quota, read-only, file too large.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def _disk_error(target: Path, exc: OSError) -> OutputWriteError:
    """One line naming the file and what to do (the CLI prints it as ``Error: ...``, no traceback)."""
    from lossadvisor._text import display_path

    why = exc.strerror or errno.errorcode.get(exc.errno or 0, "write error")
    return OutputWriteError(
        f"Cannot write {display_path(target)}: {why}. Free space on that disk (or write to another folder "
        f"with --out) and run the same command again; what was written before is intact."
    )


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """``open`` for writing that publishes the file only once it is complete (text mode: UTF-8)."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:  # noqa: PTH123 - a plain file object
        yield f
        f.flush()
        os.fsync(f.fileno())


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    with atomic_open(path, "w", newline="", errors="backslashreplace") as f:
        f.write(text)
    return Path(path)


def strict_json(value: Any) -> Any:
    """``value`` with non-finite floats as null, tuples as lists and keys as strings (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def write_json(path: str | os.PathLike[str], payload: Any) -> Path:
    """Indented strict JSON (NaN and infinities become null), written atomically."""
    return write_text(path, json.dumps(strict_json(payload), indent=2) + "\n")


def _cell(value: Any) -> Any:
    return safe_text(value) if isinstance(value, str) else value


def write_csv(
    path: str | os.PathLike[str], columns: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> Path:
    """A CSV with a header; each row is a mapping (missing keys: empty cells, extra keys: left out).

    Every text cell and header goes through :func:`~lossadvisor._text.safe_text` (no raw control character
    or newline from a tile or class name reaches a shared file)."""
    names = list(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_text(c) for c in names])
    for row in rows:
        writer.writerow([_cell(row.get(c, "")) for c in names])
    return write_text(path, buffer.getvalue())


def write_frame(path: str | os.PathLike[str], frame: Any) -> Path:
    """A pandas DataFrame as CSV (no index column), written atomically; text cells and headers escaped as
    by :func:`write_csv`."""
    frame = frame.copy()
    frame.columns = [safe_text(c) if isinstance(c, str) else c for c in frame.columns]
    for i in range(frame.shape[1]):
        if frame.iloc[:, i].dtype == object:
            frame.isetitem(i, frame.iloc[:, i].map(_cell))
    return write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def write_npy(path: str | os.PathLike[str], array: Any) -> Path:
    """One NumPy array as ``.npy``, written atomically."""
    import numpy as np

    with atomic_open(path, "wb") as f:
        np.save(f, array)
    return Path(path)


def write_npz(path: str | os.PathLike[str], *, compressed: bool = True, **arrays: Any) -> Path:
    """NumPy arrays in one ``.npz`` file, written atomically."""
    import numpy as np

    save = np.savez_compressed if compressed else np.savez
    with atomic_open(path, "wb") as f:
        save(f, **arrays)
    return Path(path)
