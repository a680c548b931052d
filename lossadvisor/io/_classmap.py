"""Class maps: which colour or pixel value stands for which class (``--class-map FILE``, JSON or CSV).

Colour-coded masks (RGB, or palette PNGs whose colours carry the meaning) cannot be read without one, and grey
masks need one when their values are codes rather than class indices (0 / 128 / 255). Accepted forms::

    {"background": [0, 0, 0], "building": [255, 0, 0], "road": "#808080"}    # name -> colour
    {"background": 0, "building": 255}                                      # name -> value
    {"0": "background", "255": "building"}                                  # value -> name
    [{"name": "road", "color": [128, 64, 128]}, {"name": "void", "value": 255}]
    [{"title": "road", "color": "#804080"}, ...]      # Supervisely / Dataset Ninja classes (or meta) files
    {"classes": [...]}                                # any of the list forms, wrapped

and CSV with a header, ``name,r,g,b`` or ``name,value`` or ``name,color`` (``#rrggbb``). Files must be
UTF-8 (a Latin-1 file is refused with the byte that is not UTF-8, never misread). A name may appear
more than once (several colours for one class). The background class (named "background" / "bg", else the one
coded 0 or black, else the first) gets index 0; the others follow in file order. Entries named "ignore" or
"void" mark pixels that take no part in any statistic or loss.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from lossadvisor._text import display_path, safe_text
from lossadvisor.errors import ConfigError

BACKGROUND_NAMES: frozenset[str] = frozenset({"background", "bg", "_background_"})
IGNORE_NAMES: frozenset[str] = frozenset({"ignore", "ignored", "void"})
# Keys that name a class in the list form: ours, Supervisely / Dataset Ninja ("title"), and a common "label".
_NAME_KEYS = ("name", "title", "label")

Key = tuple[int, ...]  # (value,) or (r, g, b)


@dataclass(frozen=True)
class ClassMap:
    """A validated class map.

    Attributes:
        names: class names in index order; ``names[0]`` is the background.
        kind: "rgb" (keys are colours) or "value" (keys are pixel values).
        entries: (key, class index) pairs; several keys may share a class.
        ignore_keys: keys whose pixels are ignored.
        source: the file it was read from (for messages).
    """

    names: tuple[str, ...]
    kind: str
    entries: tuple[tuple[Key, int], ...]
    ignore_keys: tuple[Key, ...] = ()
    source: str = "<class map>"

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def digest(self) -> str:
        """A short hash of what the map means (names, keys, ignored keys), not of where it was read from."""
        import hashlib

        text = repr((self.names, self.kind, self.entries, self.ignore_keys))
        return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:16]

    def describe_keys(self) -> str:
        """The declared keys, for messages: "0 background, 255 building"."""
        return ", ".join(f"{_key_text(k)} {self.names[i]}" for k, i in self.entries)

    @classmethod
    def from_mapping(cls, mapping: dict[str, object] | list, *, source: str = "<class map>") -> ClassMap:
        """Build a class map from the already-parsed JSON forms described in the module docstring."""
        return _build(_pairs_from_json(mapping, source), source)


def load_class_map(path: str | os.PathLike[str]) -> ClassMap:
    """Read a class map from a JSON or CSV file.

    Args:
        path: a ``.json`` or ``.csv`` file in one of the forms of this module's docstring.

    Returns:
        The validated :class:`ClassMap`.

    Raises:
        ConfigError: the file is missing, malformed, mixes colours and values, or maps one key twice.

    Example:
        >>> load_class_map("classes.json").names  # doctest: +SKIP
        ('background', 'building')
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"--class-map: {display_path(path)} does not exist. Give a JSON or CSV file mapping colours or "
            f"values to class names."
        )
    source = display_path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise ConfigError(
            f"--class-map: {source} is not UTF-8 text (byte 0x{bad} at position {exc.start}); expected a "
            f"UTF-8 JSON or CSV file. Re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8 FILE > FILE.utf8."
        ) from None
    if path.suffix.lower() == ".csv" or (
        path.suffix.lower() != ".json" and not text.lstrip().startswith(("{", "["))
    ):
        return _build(_pairs_from_csv(text, source), source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--class-map: {source} is not valid JSON ({exc}). Fix the file.") from exc
    return ClassMap.from_mapping(data, source=source)


def _key_text(key: Key) -> str:
    return str(key[0]) if len(key) == 1 else "(" + ",".join(map(str, key)) + ")"


def _parse_key(value: object, source: str, name: str) -> Key:
    """A value (int), a colour ([r, g, b] or "#rrggbb" or "r g b"), or a numeric string."""
    if isinstance(value, bool):
        raise ConfigError(
            f"--class-map {source}: class {name!r} has {value!r}; expected a pixel value or colour."
        )
    if isinstance(value, int):
        key: Key = (value,)
    elif isinstance(value, str) and value.startswith("#") and len(value) == 7:
        try:
            key = tuple(int(value[i : i + 2], 16) for i in (1, 3, 5))
        except ValueError as exc:
            raise ConfigError(
                f"--class-map {source}: class {name!r} has colour {value!r}; expected '#rrggbb' hex digits."
            ) from exc
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        key = (int(value),)
    elif isinstance(value, str) and len(value.replace(",", " ").split()) == 3:
        key = tuple(_int(v, source, name) for v in value.replace(",", " ").split())
    elif isinstance(value, (list, tuple)) and len(value) in (3, 4) and all(isinstance(v, int) for v in value):
        key = tuple(value[:3])  # an alpha component, if given, plays no part
    else:
        raise ConfigError(
            f"--class-map {source}: class {name!r} has {value!r}; expected a pixel value (0), "
            f"a colour [r, g, b] or '#rrggbb'."
        )
    limit = 255 if len(key) == 3 else 2**31 - 1
    if any(v < 0 or v > limit for v in key):
        raise ConfigError(
            f"--class-map {source}: class {name!r} has {value!r}; values must lie in 0..{limit}."
        )
    return key


def _int(text: str, source: str, name: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise ConfigError(f"--class-map {source}: class {name!r} has {text!r}; expected an integer.") from exc


def _pairs_from_json(data: object, source: str) -> list[tuple[str, Key]]:
    pairs: list[tuple[str, Key]] = []
    if isinstance(data, dict) and isinstance(data.get("classes"), list):
        data = data["classes"]
    if isinstance(data, dict):
        numeric_keys = all(str(k).strip().isdigit() for k in data)
        if numeric_keys and all(isinstance(v, str) for v in data.values()):
            return [(str(v), (int(k),)) for k, v in data.items()]  # value -> name
        for name, value in data.items():
            many = isinstance(value, list) and value and all(isinstance(v, (list, str)) for v in value)
            for item in value if many else [value]:
                pairs.append((str(name), _parse_key(item, source, str(name))))
        return pairs
    if isinstance(data, list):
        for item in data:
            key = next((k for k in _NAME_KEYS if isinstance(item, dict) and k in item), None)
            if key is None:
                raise ConfigError(
                    f"--class-map {source}: list entries must be objects with 'name' (or 'title') and "
                    f"'color' or 'value'; got {safe_text(repr(item))[:200]}."
                )
            name = str(item[key])
            value = item.get("color", item.get("colour", item.get("value")))
            pairs.append((name, _parse_key(value, source, name)))
        return pairs
    raise ConfigError(f"--class-map {source}: expected a JSON object or list; got {type(data).__name__}.")


def _pairs_from_csv(text: str, source: str) -> list[tuple[str, Key]]:
    rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
    if not rows:
        raise ConfigError(f"--class-map {source}: the file is empty. Write one class per line.")
    header = [c.strip().lower() for c in rows[0]]
    name_col = next((header.index(c) for c in ("name", "class", "label") if c in header), None)
    if name_col is None:  # no header: name,value or name,r,g,b
        header, body = [], rows
    else:
        body = rows[1:]
    pairs: list[tuple[str, Key]] = []
    for row in body:
        cells = [c.strip() for c in row]
        if header:
            record = dict(zip(header, cells, strict=False))  # short rows: missing cells
            name = record[header[name_col]]
            if {"r", "g", "b"} <= record.keys():
                value: object = f"{record['r']} {record['g']} {record['b']}"
            else:
                value = record.get("color", record.get("colour", record.get("value", "")))
        else:
            name, rest = cells[0], cells[1:]
            value = rest[0] if len(rest) == 1 else " ".join(rest)
        pairs.append((name, _parse_key(value, source, name)))
    return pairs


def _build(pairs: list[tuple[str, Key]], source: str) -> ClassMap:
    # Class names are shown everywhere (terminal, CSV headers, the report, rule rationales): made printable
    # once, here, by the one escaping rule, so no layout downstream can be broken by a newline or an ESC.
    pairs = [(safe_text(name), key) for name, key in pairs]
    if not pairs:
        raise ConfigError(f"--class-map {source}: no classes found. Map at least two colours or values.")
    lengths = {len(k) for _, k in pairs}
    if len(lengths) > 1:
        raise ConfigError(f"--class-map {source}: mixes pixel values and RGB colours; use one or the other.")
    seen: dict[Key, str] = {}
    for name, key in pairs:
        if key in seen and seen[key] != name:
            raise ConfigError(
                f"--class-map {source}: {_key_text(key)} is mapped to both {seen[key]!r} and "
                f"{name!r}; each colour or value must mean one class."
            )
        seen[key] = name
    ignore = tuple(k for n, k in pairs if n.strip().lower() in IGNORE_NAMES)
    names = list(dict.fromkeys(n for n, _ in pairs if n.strip().lower() not in IGNORE_NAMES))
    if len(names) < 2:
        raise ConfigError(
            f"--class-map {source}: found {len(names)} class(es) ({', '.join(names) or 'none'}); "
            f"a segmentation task needs at least a background and one class."
        )
    names.insert(0, names.pop(names.index(_background_name(pairs, names))))
    index = {n: i for i, n in enumerate(names)}
    entries = tuple((k, index[n]) for n, k in pairs if n in index)
    kind = "rgb" if lengths == {3} else "value"
    return ClassMap(tuple(names), kind, entries, ignore, source)


def _background_name(pairs: list[tuple[str, Key]], names: list[str]) -> str:
    for name in names:
        if name.strip().lower() in BACKGROUND_NAMES:
            return name
    for name, key in pairs:
        if name in names and not any(key):
            return name
    return names[0]
