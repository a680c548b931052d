"""lossadvisor: which loss to train your segmentation network with, proven on your own data.

Data flows one way: masks -> profile -> rules -> tune -> report. The public API mirrors the CLI::

    import lossadvisor
    profile = lossadvisor.profile_masks("masks/")
    rec = lossadvisor.recommend(profile)
    result = lossadvisor.tune(images="images/", masks="masks/", out="reports/run")
    lossadvisor.build_report("reports/run")

Heavy dependencies (torch, optuna, seaborn) are imported on first use, so ``import lossadvisor`` and
``lossadvisor --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lossadvisor._version import __version__
from lossadvisor.errors import DataError, LossAdvisorError, NoUsableDataError

if TYPE_CHECKING:  # pragma: no cover
    from lossadvisor.profile import DatasetProfile, profile_arrays, profile_masks
    from lossadvisor.report import build_report
    from lossadvisor.rules import Recommendation, recommend
    from lossadvisor.tune import tune

__all__ = [
    "__version__",
    "DataError",
    "DatasetProfile",
    "LossAdvisorError",
    "NoUsableDataError",
    "Recommendation",
    "build_report",
    "losses",
    "profile_arrays",
    "profile_masks",
    "recommend",
    "tune",
]

# Public name -> module that defines it; resolved lazily (PEP 562) to keep imports light.
_LAZY = {
    "DatasetProfile": "lossadvisor.profile",
    "profile_masks": "lossadvisor.profile",
    "profile_arrays": "lossadvisor.profile",
    "Recommendation": "lossadvisor.rules",
    "recommend": "lossadvisor.rules",
    "tune": "lossadvisor.tune",
    "build_report": "lossadvisor.report",
}


def __getattr__(name: str) -> Any:
    if name == "losses":
        return importlib.import_module("lossadvisor.losses")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lossadvisor' has no attribute {name!r}")
