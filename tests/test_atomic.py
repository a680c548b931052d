"""Every file is written through lossadvisor._atomic: complete or not at all, never half a file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lossadvisor import _atomic

PACKAGE = Path(_atomic.__file__).resolve().parent


def test_writers_round_trip(tmp_path):
    _atomic.write_json(tmp_path / "a.json", {"x": float("nan"), "y": (1, 2), 3: "z"})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": None, "y": [1, 2], "3": "z"}
    _atomic.write_csv(tmp_path / "b.csv", ["a", "b"], [{"a": 1, "b": "x,y", "c": "dropped"}, {"a": 2}])
    assert (tmp_path / "b.csv").read_text() == 'a,b\n1,"x,y"\n2,\n'
    _atomic.write_frame(tmp_path / "c.csv", pd.DataFrame({"n": [1, 2]}))
    assert (tmp_path / "c.csv").read_text() == "n\n1\n2\n"
    _atomic.write_npz(tmp_path / "d.npz", a=np.arange(3))
    assert np.load(tmp_path / "d.npz")["a"].tolist() == [0, 1, 2]
    _atomic.write_npy(tmp_path / "e.npy", np.ones(2))
    assert np.load(tmp_path / "e.npy").tolist() == [1.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.csv", "c.csv", "d.npz", "e.npy"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "run.json"
    _atomic.write_json(target, {"status": "complete"})
    before = target.read_bytes()
    with pytest.raises(RuntimeError), _atomic.atomic_open(target) as f:
        f.write('{"status": "runn')
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
    with pytest.raises(TypeError):  # not JSON-serialisable: fails before anything is replaced
        _atomic.write_json(target, {"bad": object()})
    assert target.read_bytes() == before


def test_file_mode_is_what_a_plain_open_gives_not_mkstemps_private_mode(tmp_path):
    plain = tmp_path / "plain.txt"
    with open(plain, "w") as f:  # noqa: PTH123 - the reference
        f.write("x")
    path = _atomic.write_text(tmp_path / "x.txt", "x")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_a_name_that_is_not_utf8_is_written_escaped_not_a_crash(tmp_path):
    path = _atomic.write_text(tmp_path / "t.txt", "caf\udce9")
    assert path.read_text(encoding="utf-8") == "caf\\udce9"


# Writing calls that must only appear in lossadvisor/_atomic.py (one place makes every file atomic).
_DIRECT_WRITES = re.compile(
    r"\.write_text\(|\.write_bytes\(|\.to_csv\(|np\.save(z|z_compressed)?\(|open\([^)]*['\"][wax]b?['\"]"
)


def test_no_module_writes_a_file_except_through_the_atomic_helper():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_atomic.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#")[0]
            if "hint=" in code:  # advice text that names a NumPy call
                continue
            if _DIRECT_WRITES.search(code) and "_atomic" not in code and "write_text(path" not in code:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert offenders == []
