"""Issue 11, points 2, 3 and 5 at the mask-reading level: names and class maps that are not UTF-8, hostile
names, masks past Pillow's decompression-bomb guard, --max-pixels, and permission errors named as such."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lossadvisor._text import display_path, safe_text
from lossadvisor.cli import cli
from lossadvisor.errors import ConfigError
from lossadvisor.io import load_class_map, read_mask
from lossadvisor.profile import profile_masks, profile_masks_detailed
from lossadvisor.profile._image import _boundary_pixels, _object_areas

LATIN1_MAP = '{"arri\u00e8re-plan": 0, "b\u00e2timent": 255}'.encode("latin-1")


def _mask(path: Path, side: int = 16) -> Path:
    mask = np.zeros((side, side), np.uint8)
    mask[2:6, 2:8] = 255
    Image.fromarray(mask).save(path)
    return path


# --- point 2: a class map that is not UTF-8 -------------------------------------------------------------


def test_latin1_class_map_is_one_clear_error(tmp_path):
    path = tmp_path / "classes.json"
    path.write_bytes(LATIN1_MAP)
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xe8 at position 6\).*Re-save it as UTF-8"):
        load_class_map(path)


@pytest.mark.parametrize("command", ["profile", "advise"])
def test_latin1_class_map_on_the_command_line_is_one_error_line(tmp_path, command):
    masks = tmp_path / "masks"
    masks.mkdir()
    _mask(masks / "a.png")
    (tmp_path / "classes.json").write_bytes(LATIN1_MAP)
    result = CliRunner().invoke(
        cli,
        [command, str(masks), "--class-map", str(tmp_path / "classes.json"), "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "not UTF-8" in errors[0]
    assert not (tmp_path / "o").exists()  # refused before anything was written


# --- point 6 (shape): the title/color class list of Supervisely / Dataset Ninja ------------------------


def test_title_color_class_list_is_a_class_map(tmp_path):
    path = tmp_path / "classes.json"
    path.write_text(
        json.dumps(
            [
                {"title": "background", "color": "#000000", "shape": "bitmap"},
                {"title": "building", "color": "#FF0000"},
                {"title": "road", "color": "#808080"},
            ]
        )
    )
    cmap = load_class_map(path)
    assert cmap.names == ("background", "building", "road") and cmap.kind == "rgb"
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0, :] = (255, 0, 0)
    rgb[1, :2] = (128, 128, 128)
    Image.fromarray(rgb).save(tmp_path / "m.png")
    m = read_mask(tmp_path / "m.png", class_map=cmap)
    assert m.pixel_counts == {0: 10, 1: 4, 2: 2}


# --- point 3: one helper makes path- and data-derived text safe for a terminal -----------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("evil\x1b[31m\nWARNING forged.png", "evil\\x1b[31m\\nWARNING forged.png"),
        ("c1\x9b31m.png", "c1\\x9b31m.png"),  # the one-byte CSI of the C1 range
        ("caf\udce9.png", "caf\\xe9.png"),  # a Latin-1 byte decoded with surrogateescape
        ("tab\tcr\r.png", "tab\\tcr\\r.png"),
        ("ünï ok.png", "ünï ok.png"),
    ],
)
def test_safe_text_escapes_controls_and_undecodable_bytes(text, expected):
    assert safe_text(text) == expected
    assert display_path(Path(text)) == expected
    expected.encode("utf-8")  # always encodable


# --- point 5: large masks, --max-pixels, each error with its own advice ------------------------------------


@pytest.fixture(scope="module")
def wide_mask(tmp_path_factory) -> Path:
    """40000 x 5000 = 200 MPix (past Pillow's 179 MPix bomb error), mostly empty: a small PNG."""
    mask = np.zeros((5000, 40000), np.uint8)
    mask[100:200, 100:300] = 255  # 20000 px
    mask[2000:3000, 39000:39500] = 255  # 500000 px, crossing many row bands
    mask[4990:5000, :10] = 255  # 100 px in the corner
    path = tmp_path_factory.mktemp("wide") / "wide.png"
    cv2.imwrite(str(path), mask)
    return path


def test_a_40000x5000_mask_is_profiled_without_pillow_warnings(wide_mask):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a raw DecompressionBombWarning would fail here
        profile = profile_masks(wide_mask, workers=1, progress=False)
    assert profile.files_read == 1 and not profile.skipped
    _, frame = profile_masks_detailed(wide_mask, workers=1, progress=False)
    row = frame.iloc[0]
    assert (row["height"], row["width"]) == (5000, 40000)
    assert row["objects_" + profile.classes[1].name] == 3
    assert (row["object_area_min"], row["object_area_max"]) == (100, 500_000)


def test_max_pixels_refuses_a_larger_mask_naming_the_option(wide_mask, tmp_path):
    result = CliRunner().invoke(
        cli, ["profile", str(wide_mask), "--max-pixels", "100000000", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "--max-pixels" in result.output and "40000 x 5000 = 200,000,000 pixels" in result.output
    assert "truncated or corrupt" not in result.output and "Traceback" not in result.output


def test_banded_labelling_and_erosion_equal_one_pass():
    rng = np.random.default_rng(3)
    for _ in range(20):
        h, w = (int(v) for v in rng.integers(5, 120, 2))
        binary = (rng.random((h, w)) < rng.uniform(0.05, 0.7)).astype(np.uint8)
        for connectivity in (4, 8):
            one_pass = np.sort(_object_areas(binary, connectivity, band_pixels=10**9))
            for band in (w, 3 * w, 7 * w + 1):  # one row, three rows, seven rows (+1 px) per band
                assert np.array_equal(
                    np.sort(_object_areas(binary, connectivity, band_pixels=band)), one_pass
                )
                assert _boundary_pixels(binary, int(binary.sum()), band_pixels=band) == _boundary_pixels(
                    binary, int(binary.sum()), band_pixels=10**9
                )


_PERMISSION_PROBE = textwrap.dedent(
    """
    import json, sys
    from lossadvisor.profile import profile_masks_detailed
    profile, frame = profile_masks_detailed(sys.argv[1], workers=1, progress=False)
    print(json.dumps({s.path: s.reason for s in profile.skipped}))
    """
)


_PR_CAPBSET_DROP = 24  # prctl option (linux/prctl.h)
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2  # linux/capability.h


def _drop_file_permission_override() -> None:
    """In the child, before exec: remove root's power to ignore file modes from the capability bounding set,
    so the new process (still uid 0) gets EACCES like any user."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_a_permission_error_is_reported_as_such(tmp_path):
    """An unreadable mask is skipped with a permission message, not "truncated or corrupt".

    root ignores file modes; as root the profile runs in a child whose capability bounding set lacks
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (a real EACCES, no mock). Skipped only where the container
    forbids even that.
    """
    masks = tmp_path / "masks"
    masks.mkdir()
    _mask(masks / "good.png")
    secret = _mask(masks / "secret.png")
    os.chmod(secret, 0o000)
    try:
        if os.geteuid() != 0:
            profile, _ = profile_masks_detailed(masks, workers=1, progress=False)
            reasons = {s.path: s.reason for s in profile.skipped}
        else:
            try:
                done = subprocess.run(
                    [sys.executable, "-c", _PERMISSION_PROBE, str(masks)],
                    capture_output=True,
                    text=True,
                    preexec_fn=_drop_file_permission_override,
                )
            except (OSError, subprocess.SubprocessError) as exc:
                pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE here: {exc}")
            assert done.returncode == 0, done.stderr
            reasons = json.loads(done.stdout.strip().splitlines()[-1])
        assert list(reasons) == ["secret.png"]
        reason = reasons["secret.png"]
        assert "permission" in reason.lower() and "chmod" in reason
        assert "truncated or corrupt" not in reason and str(tmp_path) not in reason
    finally:
        os.chmod(secret, 0o644)


# --- point 6: palette and colour masks ---------------------------------------------------------------------


def _palette_png(path: Path, indices: np.ndarray, colours: list[tuple[int, int, int]]) -> None:
    image = Image.fromarray(indices.astype(np.uint8), mode="P")
    flat = [v for c in colours for v in c]
    image.putpalette(flat + [0] * (768 - len(flat)))
    image.save(path)


@pytest.fixture
def swapped_palettes(tmp_path) -> Path:
    """Two palette PNGs whose palettes disagree: index 0 is black (land) in one, red in the other."""
    folder = tmp_path / "masks"
    folder.mkdir()
    rows = np.zeros((8, 8), np.uint8)
    rows[:2] = 1  # 16 px at index 1, 48 px at index 0
    _palette_png(folder / "a.png", rows, [(0, 0, 0), (255, 0, 0)])
    _palette_png(folder / "b.png", rows, [(255, 0, 0), (0, 0, 0)])
    return folder


def test_palettes_that_differ_are_refused_without_a_class_map(swapped_palettes, tmp_path):
    result = CliRunner().invoke(cli, ["profile", str(swapped_palettes), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "index 0 is (0, 0, 0) in a.png but (255, 0, 0) in b.png" in result.output
    assert '{"background": [0, 0, 0], "class_1": [255, 0, 0]}' in result.output  # a class map to start from
    assert not (tmp_path / "o").exists()


def test_palettes_that_differ_are_mapped_by_colour_with_a_class_map(swapped_palettes):
    cmap = load_class_map_from({"land": [0, 0, 0], "building": [255, 0, 0]})
    profile = profile_masks(swapped_palettes, class_map=cmap, workers=1, progress=False)
    # a.png: 48 land + 16 building; b.png: 48 building (index 0 is red there) + 16 land
    assert [(c.name, c.pixel_count) for c in profile.classes] == [("land", 64), ("building", 64)]


def test_colour_coded_rgb_masks_without_a_class_map_refuse_the_run(tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    _mask(folder / "grey.png")
    for i in range(2):
        rgb = np.zeros((8, 8, 3), np.uint8)
        rgb[: 2 + i] = (0, 255, 0)
        Image.fromarray(rgb).save(folder / f"rgb_{i}.png")
    result = CliRunner().invoke(cli, ["profile", str(folder), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "2 of 3 masks are colour-coded RGB" in result.output and "--class-map" in result.output
    assert '"class_1": [0, 255, 0]' in result.output


def load_class_map_from(mapping):
    from lossadvisor.io import ClassMap

    return ClassMap.from_mapping(mapping)


def test_the_cli_default_of_max_pixels_is_the_librarys():
    from lossadvisor.cli._common import DEFAULT_MAX_PIXELS as CLI_DEFAULT
    from lossadvisor.io import DEFAULT_MAX_PIXELS

    assert CLI_DEFAULT == DEFAULT_MAX_PIXELS == 1_000_000_000


def test_class_map_lookup_in_row_bands_equals_one_pass(tmp_path, monkeypatch):
    """Colour masks are mapped band by band (int64 keys stay small); the result must not depend on it."""
    import lossadvisor.io._labels as labels_module

    rng = np.random.default_rng(5)
    colours = np.array([(0, 0, 0), (255, 0, 0), (0, 0, 255), (255, 255, 255)], np.uint8)
    rgb = colours[rng.integers(0, 4, size=(37, 23))]
    Image.fromarray(rgb).save(tmp_path / "m.png")
    cmap = load_class_map_from(
        {"background": [0, 0, 0], "building": [255, 0, 0], "water": [0, 0, 255], "void": [255, 255, 255]}
    )
    whole = read_mask(tmp_path / "m.png", class_map=cmap)
    monkeypatch.setattr(labels_module, "_MAP_BAND_PIXELS", 23 * 3 + 5)  # three rows (and a bit) per band
    banded = read_mask(tmp_path / "m.png", class_map=cmap)
    assert np.array_equal(whole.labels, banded.labels) and whole.pixel_counts == banded.pixel_counts
    expected = {i: int(np.count_nonzero(np.all(rgb == colours[i], axis=-1))) for i in range(3)}
    assert whole.pixel_counts == {i: c for i, c in expected.items() if c}
    assert whole.ignored_pixels == int(np.count_nonzero(np.all(rgb == colours[3], axis=-1)))
    assert set(np.unique(whole.labels)) <= {0, 1, 2, 255}
    rgb[5, 5] = (1, 2, 3)  # an undeclared colour in one band: the message names it with its pixel count
    Image.fromarray(rgb).save(tmp_path / "m.png")
    with pytest.raises(Exception, match=r"values outside them: \(1, 2, 3\) \(1 px\)"):
        read_mask(tmp_path / "m.png", class_map=cmap)


# --- issue 20, point 1: 1-bit PNG masks ----------------------------------------------------------------


def test_a_one_bit_png_mask_reads_as_0_1(tmp_path):
    mask = np.zeros((8, 8), bool)
    mask[2:5, 1:4] = True  # 9 foreground pixels
    path = tmp_path / "m.png"
    Image.fromarray(mask).convert("1").save(path)
    assert Image.open(path).mode == "1"
    m = read_mask(path)
    assert sorted(np.unique(m.labels).tolist()) == [0, 1]
    assert m.pixel_counts == {0: 55, 1: 9}
