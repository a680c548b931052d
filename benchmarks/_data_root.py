"""Where the benchmarks find the real datasets: the folder named by LOSSADVISOR_DATA (or ``--data DIR``).

The folder holds ``inria-buildings/``, ``dsb2018-nuclei/`` and ``msd-hippocampus/``, each laid out as README's
"Data" section describes. It is never guessed from where the checkout sits: a user's clone has only the
bundled examples, so without the variable a benchmark runs on those or skips a real set, saying so in one
line that names the variable.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ENV_VAR = "LOSSADVISOR_DATA"
SETS = ("inria-buildings", "dsb2018-nuclei", "msd-hippocampus")


def data_root(override: Path | None = None) -> Path | None:
    """``override`` (a benchmark's ``--data DIR``) if given, else the folder named by LOSSADVISOR_DATA;
    None when neither is set (an empty variable counts as unset)."""
    if override is not None:
        return Path(override).expanduser()
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value).expanduser() if value else None


def real_set(name: str, override: Path | None = None) -> Path | None:
    """The folder of the real set ``name`` (one of :data:`SETS`) under :func:`data_root`; None when there is
    no data folder or it has no such set."""
    if name not in SETS:
        raise ValueError(f"Unknown real data set {name!r}; known: {', '.join(SETS)}.")
    root = data_root(override)
    if root is None or not (root / name).is_dir():
        return None
    return root / name


def missing_note(name: str, override: Path | None = None, *, instead: str = "skipped") -> str:
    """The one line a benchmark prints when ``real_set(name)`` is None: why, and what it does ``instead``."""
    root = data_root(override)
    if root is None:
        why = f"{ENV_VAR} is not set (see README, Data)"
    elif override is not None:
        why = f"not found in --data {root}"
    else:
        why = f"not found in {ENV_VAR}={root}"
    return f"  ({name}: {why}: {instead})"


def add_data_option(parser: argparse.ArgumentParser) -> None:
    """``--data DIR``: the same as setting LOSSADVISOR_DATA for this run."""
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"folder of the real datasets ({', '.join(SETS)}) [default: ${ENV_VAR}]",
    )
