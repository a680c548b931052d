"""JSON round-trip for the frozen dataclasses that carry data between the steps (profile, recommendation).

The records are plain frozen dataclasses whose fields are ``int``, ``float``, ``str``, ``bool``,
``None``, tuples, dicts and other records. :func:`to_jsonable` and :func:`from_jsonable` turn them into
JSON and back so that ``from_jsonable(T, json.loads(json.dumps(to_jsonable(x)))) == x`` exactly.
Non-finite floats are written as the strings ``"inf"``, ``"-inf"`` and ``"nan"`` so the files stay
strict JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from lossadvisor._atomic import write_text

T = TypeVar("T")

# Every file lossadvisor writes carries its shape's version under this key (an .npz as a 0-d array of that
# name); a reader refuses a newer or unknown version with one line. Files written before versions existed
# have no key and are read as version 1.
SCHEMA_KEY = "schema_version"


def check_schema_version(data: Any, *, supported: int, what: str) -> None:
    """Refuse ``data`` (a JSON object, or the version itself) written in a shape this version cannot read.

    Args:
        data: The file's top-level object, or its version (a list, as older files hold, has none).
        supported: The newest version this lossadvisor reads (versions 1..supported are read).
        what: The file, for the message ("result.json", "reports/x/profile.json").

    Raises:
        DataError: The version is newer than ``supported``, or not a positive integer.
    """
    from lossadvisor._version import __version__
    from lossadvisor.errors import DataError

    if isinstance(data, dict):
        version = data.get(SCHEMA_KEY)
    elif isinstance(data, (int, str)):
        version = data
    else:  # a bare list: a file from before versions existed
        return
    if version is None:
        return
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DataError(
            f"{what} has the schema version {version!r}, which lossadvisor does not know (versions are "
            f"whole numbers from 1); the file is damaged or not lossadvisor's."
        )
    if version > supported:
        raise DataError(
            f"{what} has schema version {version}; lossadvisor {__version__} reads versions up to "
            f"{supported}. It was written by a newer lossadvisor: upgrade (pip install -U lossadvisor) to "
            f"read it."
        )

_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def to_jsonable(obj: Any) -> Any:
    """Convert a record (or nested value) into JSON-safe Python values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, float):
        if math.isnan(obj):
            return "nan"
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    return obj


def from_jsonable(tp: Any, data: Any) -> Any:
    """Rebuild a value of type ``tp`` (a record class or a typing expression) from JSON values."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(data, dict):
            raise TypeError(f"Expected an object for {tp.__name__}, got {type(data).__name__}.")
        hints = get_type_hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = from_jsonable(hints[f.name], data[f.name])
        return tp(**kwargs)
    origin = get_origin(tp)
    args = get_args(tp)
    if origin in (Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        last_error: Exception | None = None
        for arg in non_none:
            try:
                return from_jsonable(arg, data)
            except (TypeError, ValueError) as exc:
                last_error = exc
        raise TypeError(f"Value {data!r} matches none of {tp}: {last_error}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_jsonable(args[0], v) for v in data)
        return tuple(from_jsonable(a, v) for a, v in zip(args, data, strict=True))
    if origin is list:
        return [from_jsonable(args[0], v) for v in data]
    if origin in (dict, typing.Mapping):
        key_tp, val_tp = args if args else (str, Any)
        return {from_jsonable(key_tp, k): from_jsonable(val_tp, v) for k, v in data.items()}
    if tp is float:
        if isinstance(data, str) and data in _NONFINITE:
            return _NONFINITE[data]
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise TypeError(f"Expected a number, got {data!r}.")
        return float(data)
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise TypeError(f"Expected an integer, got {data!r}.")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise TypeError(f"Expected a string, got {data!r}.")
        return data
    if tp is bool:
        if not isinstance(data, bool):
            raise TypeError(f"Expected true/false, got {data!r}.")
        return data
    if tp is Any:
        return data
    return data


def save_record(record: Any, path: str | Path) -> Path:
    """Write a record as indented JSON (atomically: a crash never leaves half a file)."""
    return write_text(path, json.dumps(to_jsonable(record), indent=2, sort_keys=False) + "\n")


def supported_version(tp: type) -> int | None:
    """The schema version a record class writes (its ``schema_version`` field's default), or None."""
    for f in dataclasses.fields(tp):
        if f.name == SCHEMA_KEY and isinstance(f.default, int):
            return f.default
    return None


def load_record(tp: type[T], path: str | Path) -> T:
    """Read a record written by :func:`save_record`; a newer schema version is refused with one line."""
    from lossadvisor._text import display_path

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    supported = supported_version(tp)
    if supported is not None:
        check_schema_version(data, supported=supported, what=display_path(path))
    return from_jsonable(tp, data)
