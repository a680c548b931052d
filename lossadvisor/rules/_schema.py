"""The recommendation: ranked candidate losses, the tuning search space, and the trace of every rule.

Saved as ``recommendation.json``; the tuner reads :attr:`Recommendation.search_space`, the report reads the
rest. Like the profile, a frozen record that round-trips through JSON exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lossadvisor._records import (
    check_schema_version,
    from_jsonable,
    load_record,
    save_record,
    supported_version,
    to_jsonable,
)

RECOMMENDATION_SCHEMA_VERSION = 1

ParamValue = bool | int | float | str | None | tuple[float, ...]  # order matters when reading JSON back


@dataclass(frozen=True)
class Candidate:
    """One loss to try, with parameters computed from the profile."""

    rank: int  # 1 = best first choice
    loss: str  # registry name (``lossadvisor losses``)
    params: dict[str, ParamValue]  # constructor keyword arguments, e.g. {"mix": 0.5, "pos_weight": 4.2}
    lr_range: tuple[float, float]  # suggested AdamW learning-rate range (low, high)
    rationale: str  # plain words a practitioner understands
    is_baseline: bool = False  # plain CE, the baseline every candidate must beat
    lr_note: str = ""  # e.g. why an LR range test is not to be trusted for this loss


@dataclass(frozen=True)
class ParamRange:
    """One tunable parameter of a loss in the search space."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[ParamValue, ...] | None = None  # categorical instead of a range


@dataclass(frozen=True)
class SearchSpaceEntry:
    """What the tuner may vary for one loss."""

    loss: str
    lr_range: tuple[float, float]
    fixed_params: dict[str, ParamValue]  # passed as they are (e.g. pos_weight from the profile)
    tunable: tuple[ParamRange, ...]


@dataclass(frozen=True)
class RuleTrace:
    """The evidence a rule left: what it measured, against what, and what it concluded."""

    rule: str  # function name, e.g. "rule_imbalance_level"
    question: str  # what the rule checks, in words
    measured_name: str  # e.g. "minority_share"
    measured: float | None
    threshold: float | None
    comparison: str  # e.g. "<", ">=", "in [0.01, 0.1)"
    fired: bool
    conclusion: str
    reference: str


@dataclass(frozen=True)
class Recommendation:
    """The advice for one dataset profile."""

    dataset_name: str
    profile_fingerprint: str
    task: str  # "binary" / "multiclass"
    num_classes: int
    imbalance_level: str  # "none" / "moderate" / "severe" / "extreme"
    candidates: tuple[Candidate, ...]
    search_space: tuple[SearchSpaceEntry, ...]
    trace: tuple[RuleTrace, ...]
    warnings: tuple[str, ...]
    thresholds: dict[str, float]  # the thresholds in force (defaults merged with --rules-config)
    schema_version: int = RECOMMENDATION_SCHEMA_VERSION
    created_with: str = ""
    objective: str = "iou"  # the metric the ranking is for ("iou", "dice", "recall"); older files: IoU

    @property
    def top(self) -> Candidate:
        return self.candidates[0]

    def to_dict(self) -> dict:
        return to_jsonable(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> Recommendation:
        check_schema_version(data, supported=supported_version(cls), what="this recommendation")
        return from_jsonable(cls, data)

    def save(self, path: str | Path) -> Path:
        return save_record(self, path)

    @classmethod
    def load(cls, path: str | Path) -> Recommendation:
        from lossadvisor.errors import DataError

        path = Path(path)
        if not path.is_file():
            raise DataError(f"Recommendation file {path} does not exist. Run `lossadvisor advise` first.")
        try:
            return load_record(cls, path)
        except DataError:  # a newer schema version: its own one-line message
            raise
        except (json.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
            raise DataError(f"{path} is not a lossadvisor recommendation ({exc}).") from exc
