"""discover_files / scan_source: folders, globs, list files, symlink loops, odd names, empty folders."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from PIL import Image

from lossadvisor.errors import DataError, NoUsableDataError
from lossadvisor.io import MaskFileError, discover_files, display_path, scan_source


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(path)
    return path


def test_folder_is_searched_recursively_and_sorted(tmp_path):
    b = _png(tmp_path / "b" / "x.png")
    a = _png(tmp_path / "a.png")
    np.save(tmp_path / "c.npy", np.zeros((2, 2), np.uint8))
    (tmp_path / "notes.txt").write_text("hello")
    _png(tmp_path / ".hidden" / "h.png")
    _png(tmp_path / "._a.png")  # macOS resource-fork name
    assert discover_files(tmp_path) == [a, b, tmp_path / "c.npy"]


def test_glob_and_list_file(tmp_path):
    a = _png(tmp_path / "m" / "a.png")
    b = _png(tmp_path / "m" / "b.png")
    assert discover_files(str(tmp_path / "m" / "*.png")) == [a, b]
    assert discover_files(str(tmp_path / "**" / "b.png")) == [b]
    listing = tmp_path / "train.txt"
    listing.write_text("# training split\nm/b.png\n\nm/missing.png\nm\n")
    scan = scan_source(listing)
    assert scan.files == (b,)
    reasons = [r for _, r in scan.problems]
    assert "found no such file" in reasons[0] and "line 4" in reasons[0]
    assert "found a folder" in reasons[1]


def test_symlink_loop_between_folders_is_not_followed(tmp_path):
    a = _png(tmp_path / "a.png")
    os.symlink(tmp_path, tmp_path / "again")  # points back to its own parent
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path / "sub" / "x", tmp_path / "sub" / "y")
    os.symlink(tmp_path / "sub" / "y", tmp_path / "sub" / "x")  # two links pointing at each other
    scan = scan_source(tmp_path)
    assert scan.files == (a,)
    assert [(p.name, "symbolic-link loop" in r) for p, r in scan.problems] == [("again", True)]


def test_empty_folder(tmp_path):
    with pytest.raises(NoUsableDataError, match=r"No mask files in .*searched recursively.*found nothing"):
        discover_files(tmp_path)
    (tmp_path / "readme.md").write_text("x")
    with pytest.raises(NoUsableDataError, match=r"found 1 file\(s\) with other extensions"):
        discover_files(tmp_path)


def test_missing_source_and_binary_list(tmp_path):
    with pytest.raises(DataError, match=r"does not exist\. Expected a folder of masks, a glob pattern"):
        discover_files(tmp_path / "nope")
    (tmp_path / "data.bin").write_bytes(b"\x00\x01\x02")
    with pytest.raises(DataError, match=r"neither a mask nor a text list of paths"):
        discover_files(tmp_path / "data.bin")
    with pytest.raises(NoUsableDataError, match=r"No mask files"):
        discover_files(str(tmp_path / "*.png"))


def test_odd_names_are_found_and_printable(tmp_path):
    odd = [_png(tmp_path / "with space.png"), _png(tmp_path / "ünïcødé.png"), _png(tmp_path / "-dash.png")]
    raw = os.fsencode(tmp_path) + b"/latin\xe9.png"  # not valid UTF-8
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(os.fsdecode(raw))
    found = discover_files(tmp_path)
    assert set(odd) <= set(found) and len(found) == 4
    shown = [display_path(p) for p in found]
    assert any(s.endswith("latin\\xe9.png") for s in shown)
    for s in shown:
        s.encode("utf-8")  # every name can be written to CSV / JSON / the terminal
    assert display_path("a\nb.png") == "a\\nb.png"


def test_mask_file_error_pickles(tmp_path):
    err = MaskFileError(tmp_path / "a.png", expected="x", found="y", hint="z")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.reason == "expected x; found y. z"
