"""Class maps from JSON and CSV: the accepted forms, the background rule, and the errors."""

from __future__ import annotations

import pytest

from lossadvisor.errors import ConfigError
from lossadvisor.io import ClassMap, load_class_map


def test_json_name_to_colour_puts_background_first(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"roof": [255, 0, 0], "background": "#000000", "void": [255, 255, 255]}')
    cmap = load_class_map(path)
    assert cmap.names == ("background", "roof") and cmap.kind == "rgb"
    assert dict(cmap.entries) == {(255, 0, 0): 1, (0, 0, 0): 0}
    assert cmap.ignore_keys == ((255, 255, 255),)


def test_json_value_to_name_and_list_form():
    assert ClassMap.from_mapping({"0": "bg", "255": "building"}).names == ("bg", "building")
    cmap = ClassMap.from_mapping([{"name": "water", "value": 3}, {"name": "land", "value": 0}])
    assert cmap.names == ("land", "water")  # coded 0 -> background


def test_csv_with_header_and_several_colours_per_class(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("name,r,g,b\nbackground,0,0,0\ntree,0,128,0\ntree,0,100,0\n")
    cmap = load_class_map(path)
    assert cmap.names == ("background", "tree")
    assert dict(cmap.entries) == {(0, 0, 0): 0, (0, 128, 0): 1, (0, 100, 0): 1}


def test_csv_without_header(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("background,0\nlesion,1\n")
    assert load_class_map(path).kind == "value"


@pytest.mark.parametrize(
    ("mapping", "pattern"),
    [
        ({"a": [0, 0, 0], "b": 1}, r"mixes pixel values and RGB colours"),
        ({"a": 1, "b": 1}, r"1 is mapped to both 'a' and 'b'"),
        ({"only": 0}, r"found 1 class\(es\)"),
        ({"a": [0, 0, 300], "b": 1}, r"values must lie in 0..255|mixes"),
        ({"a": "red", "b": 0}, r"class 'a' has 'red'; expected a pixel value"),
    ],
)
def test_invalid_maps(mapping, pattern):
    with pytest.raises(ConfigError, match=pattern):
        ClassMap.from_mapping(mapping)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match=r"--class-map: .* does not exist"):
        load_class_map(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"is not valid JSON"):
        load_class_map(tmp_path / "bad.json")
