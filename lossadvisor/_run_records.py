"""Typed, frozen records of the tuner's JSON files (``result.json``, ``run.json``), saved and loaded like the
profile (``lossadvisor/_records.py``), so the tuner, the report and a notebook read fields, not string keys.

Each record declares the fields this version writes and reads. Keys a newer (or older) writer added that a
record does not declare are kept in its ``extra`` mapping and written back unchanged, so reading and saving a
file never loses what another version put there. Torch-free: the report imports it.

Example:
    >>> outcome = TuneOutcome.load("reports/buildings/result.json")  # doctest: +SKIP
    >>> outcome.recommended.loss, outcome.confidence.level  # doctest: +SKIP
    ('weighted_ce', 'tie')
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from lossadvisor import _atomic
from lossadvisor._records import check_schema_version, from_jsonable, supported_version, to_jsonable

R = TypeVar("R", bound="_Record")

# Bump when a key is renamed or changes meaning (a reader refuses newer versions; adding a key needs no bump:
# readers keep unknown keys in ``extra``). Files written before versions existed read as version 1.
RESULT_SCHEMA_VERSION = 1
RUN_SCHEMA_VERSION = 1
LR_RANGE_TEST_SCHEMA_VERSION = 1


class _Record:
    """Shared JSON round trip: declared fields typed, the rest kept in ``extra``."""

    extra: dict[str, Any]

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        """A record from a JSON object; undeclared keys go to ``extra``, absent ones take their default."""
        if not isinstance(data, dict):
            raise TypeError(f"Expected a JSON object for {cls.__name__}, got {type(data).__name__}.")
        return cls._from_checked(data, what=f"this {cls.__name__}")

    @classmethod
    def _from_checked(cls: type[R], data: dict[str, Any], *, what: str) -> R:
        supported = supported_version(cls)  # type: ignore[arg-type]
        if supported is not None:
            check_schema_version(data, supported=supported, what=what)
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}  # type: ignore[arg-type]
        if supported is not None and data and not names & data.keys():
            raise TypeError(
                f"{what} holds none of the keys of a {cls.__name__} ({', '.join(sorted(data)[:5])}...): it "
                f"was not written by lossadvisor, or by a version whose keys this one does not know."
            )
        hints = get_type_hints(cls)
        known = {k: _convert(hints[k], v) for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        return cls(**known, extra=extra)  # type: ignore[call-arg]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: declared fields (non-finite numbers as null), then ``extra`` unchanged."""
        out = {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.name != "extra"
        }
        return {**out, **{k: v for k, v in self.extra.items() if k not in out}}

    def save(self, path: str | Path) -> Path:
        """Write the record as strict, indented JSON, atomically."""
        return _atomic.write_json(path, self.to_dict())

    @classmethod
    def load(cls: type[R], path: str | Path) -> R:
        """Read a record written by :meth:`save` (or by an earlier version: absent fields take defaults); a
        file of a newer schema version is refused with one line naming it."""
        from lossadvisor._text import display_path

        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError(f"Expected a JSON object for {cls.__name__}, got {type(data).__name__}.")
        return cls._from_checked(data, what=display_path(path))


def _convert(tp: Any, data: Any) -> Any:
    """``from_jsonable``, except that nested records keep their undeclared keys too."""
    origin, args = get_origin(tp), get_args(tp)
    if isinstance(tp, type) and issubclass(tp, _Record):
        return tp.from_dict(data)
    records = [a for a in args if isinstance(a, type) and issubclass(a, _Record)]
    if origin in (Union, types.UnionType) and records:
        return None if data is None else records[0].from_dict(data)
    if origin is tuple and args and isinstance(args[0], type) and issubclass(args[0], _Record):
        if not isinstance(data, list):
            raise TypeError(f"Expected a list of {args[0].__name__}, got {type(data).__name__}.")
        return tuple(args[0].from_dict(item) for item in data)
    return from_jsonable(tp, data)


def _plain(value: Any) -> Any:
    """JSON values of a field: nested records as their ``to_dict``, non-finite numbers as null (the run
    folder's NaN policy; ``_records.to_jsonable`` would spell them "nan")."""
    if isinstance(value, _Record):
        return value.to_dict()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return to_jsonable(value)


# --- result.json ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recommended(_Record):
    """The configuration to train with."""

    loss: str
    params: dict[str, Any] = field(default_factory=dict)
    lr: float | None = None
    label: str = ""
    config_id: str = ""
    mean_iou: float | None = None
    std_iou: float | None = None
    collapse_rate: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RankedConfig(_Record):
    """One configuration of the ranking (or of the diagnostics), with its aggregates over its runs."""

    config_id: str = ""
    label: str = ""
    loss: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    lr: float | None = None
    source: str = ""
    seeds: int | None = None
    runs: int | None = None
    mean_iou: float | None = None
    std_iou: float | None = None
    collapse_rate: float | None = None
    failures: int | None = None
    score: float | None = None
    search_iou: float | None = None
    recommended: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Confidence(_Record):
    """How sure the verdict is: a level and the sentence that explains it."""

    level: str = ""
    margin: float | None = None
    explanation: str = ""
    seed_spread: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    runner_up: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PairedRun(_Record):
    """The leader's IoU minus a finalist's on one paired run (level, repetition, fold; older files: seed)."""

    diff: float | None = None
    fold: int | None = None
    seed: int | None = None
    level: int | None = None
    rep: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Comparison(_Record):
    """The leader against one other finalist, paired over the same partitions, folds and tiles: the correlated
    t-test's three probabilities (older files: a bootstrap interval, ``ci_*``)."""

    against: str = ""
    against_loss: str = ""
    runs: int = 0
    mean_diff: float | None = None
    sd_diff: float | None = None
    p_better: float | None = None
    p_equivalent: float | None = None
    p_worse: float | None = None
    state: str | None = None  # "better" / "equivalent" / "worse" / "open"
    level: int | None = None
    steps: int | None = None
    runs_to_decide: int | None = None
    resolvable_diff: float | None = None  # the smallest difference more repetitions at this spread can call
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = None
    runs_won: int = 0
    runs_lost: int = 0
    clear: bool = False
    margin: float | None = None
    per_run: tuple[PairedRun, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict(_Record):
    """The paired decision: "clear", "equivalent", "undecided", "single" or "none" (older files: "tie"), with
    the comparisons behind it and what the confirmation race measured."""

    kind: str = ""
    winner: str | None = None
    recommended: str | None = None
    tied: tuple[str, ...] = ()
    comparisons: tuple[Comparison, ...] = ()
    margin: float | None = None
    order: OrderCheck | None = None
    explanation: str = ""
    next_steps: str | None = None  # what "undecided" means and what would decide it
    final_steps: int | None = None  # the run length the decision was made at
    order_held_between_budgets: bool | None = None
    still_improving: tuple[str, ...] = ()
    race: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Overtake(_Record):
    """A finalist that ranked below another in the search and above it after the confirmation."""

    entry: str = ""
    overtook: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderCheck(_Record):
    """Did the search's order of the finalists hold after the longer confirmation runs?"""

    search: tuple[str, ...] = ()
    confirmation: tuple[str, ...] = ()
    held: bool | None = None
    overtook: tuple[Overtake, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidationSet(_Record):
    """What the validation scores rest on: tiles, and true objects per size bucket."""

    tiles: int | None = None  # validation tiles, or volumes
    objects: dict[str, int] = field(default_factory=dict)
    object_found_overlap: float | None = None
    size_unit: str = "px"  # what the size buckets measure: "px" (area) or "mm³" (volumes)
    spacing: dict[str, Any] | None = None  # volumes: voxel spacing per axis and anisotropy
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelUsed(_Record):
    """The network every run trained: the ``--model`` name as given and its trainable parameters."""

    name: str = ""
    parameters: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def describe_recipe(recipe: dict, *, crop: bool) -> str:
    """A training recipe (``result.json``'s ``training.recipe``) in words, for the "validated on" sentences of
    the snippets and the report; empty for the plain recipe (and for older files, which have none).

    Example:
        >>> describe_recipe({"ema_decay": 0.99, "foreground_share": 1 / 3}, crop=True)[:56]
        "a third of each batch's crops centred on foreground, the"
        >>> describe_recipe({"ema_decay": None, "foreground_share": 1 / 3}, crop=False)
        ''
    """
    parts = []
    share = recipe.get("foreground_share") or 0.0
    if crop and share:
        parts.append(f"{'a third' if abs(share - 1 / 3) < 1e-9 else f'{share:.0%}'} of each batch's crops "
                     "centred on foreground")  # fmt: skip
    if recipe.get("schedule", "constant") != "constant":
        parts.append(f"the learning rate decayed to 0 ({recipe['schedule']})")
    if recipe.get("ema_decay") is not None:
        decay = recipe["ema_decay"]
        parts.append(f"the model scored is the exponential moving average of its weights (decay {decay:g})")
    return ", ".join(parts)


@dataclass(frozen=True)
class TrainingSetup(_Record):
    """What every run trained: the model and its size, the optimiser, schedule, steps and tiles."""

    model: str = ""
    parameters: int | None = None
    optimizer: str = ""
    weight_decay: float | None = None
    warmup_steps: int = 0
    batch_size: int | None = None
    tile_px: int | None = None
    tile_mode: str = ""
    steps_per_run: int | None = None
    objective: str = ""  # in words: what the search and the confirmation scored
    scored_metric: str = "iou"  # --objective: "iou", "dice" or "recall" (files before it: IoU)
    recipe: dict[str, Any] = field(default_factory=dict)  # TrainingRecipe (older files: none, the plain one)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TuneOutcome(_Record):
    """``result.json``: the recommendation, the verdict and its evidence (docs/ARCHITECTURE.md)."""

    schema_version: int = RESULT_SCHEMA_VERSION
    recommended: Recommended | None = None
    confidence: Confidence = field(default_factory=Confidence)
    ranking: tuple[RankedConfig, ...] = ()
    verdict: Verdict | None = None
    diagnostics: tuple[RankedConfig, ...] = ()  # finder-picked learning rates: shown apart, never ranked
    order: OrderCheck | None = None
    object_recall: dict[str, dict[str, float | None]] = field(default_factory=dict)
    validation: ValidationSet | None = None
    model: ModelUsed | None = None
    training: TrainingSetup = field(default_factory=TrainingSetup)
    snippets: dict[str, str] = field(default_factory=dict)
    param_importances: dict[str, float] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)
    rules_first_choice: dict[str, Any] = field(default_factory=dict)
    agrees_with_rules: bool | None = None
    budget: dict[str, Any] = field(default_factory=dict)  # what --time-budget bought, kept or exceeded
    extra: dict[str, Any] = field(default_factory=dict)

    def config(self, config_id: str) -> RankedConfig | None:
        """The ranked configuration with this id (``None`` when it is not ranked)."""
        return next((r for r in self.ranking if r.config_id == config_id), None)


# --- lr_range_test.json -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LRRangeTest(_Record):
    """One loss's LR range test: the sweep (learning rates and smoothed, debiased losses) and its pick."""

    loss: str = ""
    suggested_lr: float | None = None
    method: str = ""  # "valley"
    steep_lr: float | None = None
    lrs: tuple[float, ...] = ()
    losses: tuple[float, ...] = ()
    stopped_early: bool = False
    suspect: bool = False
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LRRangeTests(_Record):
    """``lr_range_test.json``: one :class:`LRRangeTest` per loss swept."""

    schema_version: int = LR_RANGE_TEST_SCHEMA_VERSION
    tests: tuple[LRRangeTest, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


# --- run.json ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timings(_Record):
    """How long a finished run took: training throughput and the wall time of each phase (seconds)."""

    train_s: float | None = None
    data_share: float | None = None  # share of the training time spent waiting for batches
    images_per_s: float | None = None
    runs: int | None = None
    phases: dict[str, float | None] = field(default_factory=dict)  # prepare_s, search_s, ..., total_s
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSummary(_Record):
    """``run.json``: what ``tune`` ran, with which settings, on what machine, and how it ended."""

    schema_version: int = RUN_SCHEMA_VERSION
    status: str = ""
    command: str = ""
    started: str | None = None
    finished: str | None = None
    duration_s: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    storage: str = ""
    study_name: str = ""
    fingerprint: str = ""
    left_out: tuple[str, ...] = ()
    model: ModelUsed | None = None
    trials: int | None = None
    timings: Timings | None = None  # a complete run
    reason: str | None = None  # an interrupted run: "interrupted (Ctrl-C)" or "terminated (SIGTERM)"
    error: str | None = None  # a failed run: the exception, password and paths scrubbed
    extra: dict[str, Any] = field(default_factory=dict)
