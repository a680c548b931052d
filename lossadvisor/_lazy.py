"""Public names of a package loaded on first use (PEP 562), so importing the package stays light.

A package maps each lazy name to the module that defines it (``"_region"``: a module of the package itself;
``"lossadvisor.tune.data"``: any module) and takes the module ``__getattr__`` and ``__dir__`` from here::

    __getattr__, __dir__ = lazy_names(globals(), {"DiceLoss": "_region"})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(namespace: dict[str, Any], names: Mapping[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for the package whose ``globals()`` is ``namespace``."""
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        where = names[name]
        module = importlib.import_module(f"{package}.{where}" if where.startswith("_") else where)
        value = getattr(module, name)
        namespace[name] = value  # the next access finds it without this function
        return value

    def __dir__() -> list[str]:
        return sorted(namespace["__all__"])

    return __getattr__, __dir__
