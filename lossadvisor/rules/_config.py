"""Read a rules-config file (TOML) that overrides the thresholds of the rules.

The file has one table, ``[thresholds]``, whose keys are the names in
:data:`lossadvisor.rules.DEFAULT_THRESHOLDS`::

    # rules.toml: treat 5 % empty images as "many", and (from evidence on your data) a lower LR cap for Dice
    [thresholds]
    empty_mask_share = 0.05
    lr_region_high = 5e-4

Every problem names the file and the key, says what was expected and what was found, and suggests the closest
valid key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lossadvisor._messages import unknown_name_message
from lossadvisor.errors import ConfigError
from lossadvisor.rules._thresholds import resolve_thresholds

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_TABLES = ("thresholds",)


def load_rules_config(path: str | Path) -> dict[str, float]:
    """Read and check the threshold overrides of a rules-config TOML file.

    Args:
        path: the TOML file.

    Returns:
        The overrides, ``{threshold name: value}`` (only the keys the file sets), already checked against
        their domains and against the defaults (e.g. a severe bound above the moderate one is refused).

    Raises:
        ConfigError: the file is missing or is not valid TOML, or a table or key is unknown (with a
            did-you-mean), or a value has the wrong type or lies outside its range.

    Example:
        >>> overrides = load_rules_config("rules.toml")  # doctest: +SKIP
        >>> recommend(profile, thresholds=overrides)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"Rules-config file {path} does not exist. Expected a TOML file with a [thresholds] table; "
            "see `lossadvisor advise --help`."
        )
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Rules-config file {path} is not valid TOML: {exc}.") from exc
    for key, value in data.items():
        if key not in CONFIG_TABLES:
            raise ConfigError(
                f"Rules-config file {path}: " + unknown_name_message("table", key, list(CONFIG_TABLES))
            )
        if not isinstance(value, dict):
            raise ConfigError(
                f"Rules-config file {path}: {key!r} must be a table ([{key}] then name = value lines). "
                f"Got {type(value).__name__} {value!r} instead."
            )
    overrides = dict(data.get("thresholds", {}))
    try:
        resolve_thresholds(overrides)
    except ConfigError as exc:
        raise ConfigError(f"Rules-config file {path}: {exc}") from exc
    return {name: float(value) for name, value in overrides.items()}
