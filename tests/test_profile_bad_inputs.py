"""Each bad input gets its own reason in the outputs, and the good files are still profiled."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from PIL import Image

from lossadvisor.errors import NoUsableDataError
from lossadvisor.profile import profile_masks_detailed


def _good(path, offset=0):
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[2 + offset : 6 + offset, 2:8] = 255  # 24 px
    Image.fromarray(mask).save(path)


@pytest.fixture()
def messy(tmp_path):
    root = tmp_path / "masks"
    root.mkdir()
    for i in range(3):
        _good(root / f"good_{i}.png", offset=i)
    _good(root / "with space ünï.png")
    (root / "zero.png").write_bytes(b"")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
        root / "photo.png"
    )
    grey = np.zeros((16, 16), dtype=np.uint8)
    grey[2:6, 2:6] = 255
    grey[6, 2:6] = 128  # an anti-aliased edge: a value outside the binary 0/255 classes
    Image.fromarray(grey).save(root / "aliased.png")
    np.save(root / "nan.npy", np.array([[0.0, np.nan], [1.0, 1.0]]))
    np.save(root / "float.npy", np.array([[0.0, 0.25], [1.0, 1.0]], dtype=np.float32))
    os.symlink(root / "loop.png", root / "loop.png")
    os.symlink(root, root / "back")  # a folder loop
    raw = os.fsencode(root) + b"/latin\xe9.png"
    _good(os.fsdecode(raw))
    return root


EXPECTED_REASONS = {
    "zero.png": r"found an empty file \(0 bytes\)",
    "corrupt.png": r"expected a readable PNG file; found a file that cannot be decoded",
    "photo.png": r"found an RGB image with [\d,]+ distinct colours, which looks like a photo",
    "aliased.png": r"expected binary values like the other 5 masks; found values outside the declared "
    r"classes "
    r"\(0, 128, 255\)",
    "nan.npy": r"found float64 data with 1 NaN value",
    "float.npy": r"expected integer or boolean class values; found float32 data",
    "loop.png": r"found a symbolic-link loop",
    "back": r"symbolic-link loop back to a folder already searched",
}


def test_every_bad_file_is_skipped_with_its_reason(messy):
    profile, frame = profile_masks_detailed(messy, workers=1, progress=False)
    assert profile.files_read == 5  # good_0..2, the name with a space, the Latin-1 name
    assert profile.files_found == 5 + len(EXPECTED_REASONS)
    reasons = {f.path: f.reason for f in profile.skipped}
    assert set(reasons) == set(EXPECTED_REASONS)
    for name, pattern in EXPECTED_REASONS.items():
        assert re.search(pattern, reasons[name]), (name, reasons[name])
    assert profile.classes[1].pixel_count == 5 * 24
    skipped_rows = frame[frame["skipped_reason"] != ""]
    assert set(skipped_rows["file"]) == set(EXPECTED_REASONS)
    assert skipped_rows["height"].isna().all()
    assert "latin\\xe9.png" in set(frame["file"]) and "with space ünï.png" in set(frame["file"])


def test_outputs_are_written_even_with_odd_names(messy, tmp_path):
    out = tmp_path / "run"
    profile, _ = profile_masks_detailed(messy, workers=2, progress=False, out=out)
    text = (out / "per_image.csv").read_text(encoding="utf-8")
    assert "latin\\xe9.png" in text and "found an empty file" in text
    assert (out / "profile.json").is_file() and profile.files_read == 5


def test_nothing_usable_is_one_clear_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").write_bytes(b"")
    with pytest.raises(
        NoUsableDataError,
        match=r"No usable mask in .*: all 2 files were skipped\. a\.png: expected a "
        r"mask image; found an empty file \(0 bytes\)\..*\(and 1 more files\)",
    ):
        profile_masks_detailed(tmp_path, workers=1, progress=False)
