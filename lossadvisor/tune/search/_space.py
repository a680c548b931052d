"""Turn the recommendation's search space into Optuna parameters, and Optuna trials back into configurations.

Parameters of a trial:

* ``loss``: categorical over the recommended losses; plain ``ce`` is always added as the baseline.
* ``lr_unit`` in [0, 1]: the position of the learning rate inside *that loss's* ``lr_range``, on a log scale
  (``lr = low * (high / low) ** lr_unit``). By default every loss has the same range
  (:func:`equal_lr_ranges`), so ``lr_unit`` is the same rate for every loss. One shared, normalised parameter
  rather than one learning rate per loss because (a) TPE can learn "low or high" from all trials, not from the
  two or three a loss gets in a short study, also when a rules config gives a family another range; (b)
  parameter importance (Optuna evaluates only parameters every trial has) can then compare the loss against
  the learning rate. The actual rate is stored on each trial as the ``lr`` user attribute. *
  ``<loss>.<param>``: each tunable loss parameter (e.g. ``dice_ce.mix``), conditional on that loss."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace

from lossadvisor.errors import ConfigError
from lossadvisor.rules._schema import ParamRange, SearchSpaceEntry
from lossadvisor.tune.training import Configuration

BASELINE_LOSS = "ce"
BASELINE_LR_RANGE = (1e-4, 3e-2)  # the rules' default range (used when the advice lacks ce)
DEFAULT_LR_UNIT = 0.5  # geometric middle of a loss's range, for the enqueued default trials
LR_PARAM = "lr_unit"
LOSS_PARAM = "loss"


def lr_from_unit(unit: float, lr_range: tuple[float, float]) -> float:
    """Map ``unit`` in [0, 1] log-linearly onto ``lr_range``.

    Example:
        >>> round(lr_from_unit(0.5, (1e-4, 1e-2)), 6)
        0.001
    """
    low, high = lr_range
    return float(math.exp(math.log(low) + unit * (math.log(high) - math.log(low))))


def equal_lr_ranges(entries: list[SearchSpaceEntry], suggestions) -> tuple[list[SearchSpaceEntry], str]:
    """Widen every loss's learning-rate range, by the same rule, to contain the LR range test's suggestions.

    Ranges that were equal stay equal (the default): the search gives every loss the same chance. A range a
    rules config set apart for a family is widened the same way. Returns the entries and a note for
    result.json.

    Example:
        >>> e = [SearchSpaceEntry("ce", (1e-4, 3e-2), {}, ()), SearchSpaceEntry("dice", (1e-4, 3e-2), {}, ())]
        >>> [x.lr_range for x in equal_lr_ranges(e, [0.05, 2e-3])[0]]
        [(0.0001, 0.05), (0.0001, 0.05)]
    """
    values = [float(v) for v in suggestions if v and v > 0]
    ranges = {e.lr_range for e in entries}
    same = "the same for every loss" if len(ranges) <= 1 else "different per family, as the rules config set"
    if not values:
        return list(entries), f"Learning-rate ranges {same}; no LR range test suggestion to include."
    low, high = min(values), max(values)
    out = [replace(e, lr_range=(min(e.lr_range[0], low), max(e.lr_range[1], high))) for e in entries]
    widened = any(a.lr_range != b.lr_range for a, b in zip(entries, out, strict=True))
    shown = ", ".join(f"{v:.3g}" for v in values)
    return out, (
        f"Learning-rate ranges {same}, "
        + ("widened to contain" if widened else "already containing")
        + f" the LR range test suggestions ({shown})."
    )


def _encode_choice(value):
    return json.dumps(list(value)) if isinstance(value, (tuple, list)) else value


def _decode_choice(value, choices):
    for c in choices:
        if _encode_choice(c) == value:
            return c
    return value


def _fits(value, rng: ParamRange) -> bool:
    if rng.choices is not None:
        return value in rng.choices
    return isinstance(value, (int, float)) and not isinstance(value, bool) and rng.low <= value <= rng.high


def _default_value(loss: str, rng: ParamRange, starting_point: Mapping | None = None):
    """Where the first trial of ``loss`` puts ``rng``: the value the rules computed for this dataset (the
    candidate's parameters), else the loss's own default, when it lies in the searched range; else the
    range's first choice or (geometric) middle."""
    from lossadvisor.losses import get_spec

    spec = get_spec(loss)
    default = next((p.default for p in spec.params if p.name == rng.name), None)
    for value in ((starting_point or {}).get(rng.name), default):
        if value is not None and _fits(value, rng):
            return _encode_choice(value) if rng.choices is not None else value
    if rng.choices is not None:
        return _encode_choice(rng.choices[0])
    if rng.log:
        return math.sqrt(rng.low * rng.high)
    return (rng.low + rng.high) / 2


class SearchSpace:
    """The per-loss search space of a study.

    Args:
        entries: ``Recommendation.search_space``; ``ce`` is put first, and added with
            :data:`BASELINE_LR_RANGE` if missing.
        starting_points: per loss, the parameters the rules computed for this dataset
            (``{c.loss: c.params for c in Recommendation.candidates}``); each loss's first, enqueued trial
            starts there instead of at the library defaults (e.g. ``dice_ce.mix=0.3`` when objects are tiny).

    Raises:
        ConfigError: An entry with an empty or non-positive learning-rate range.
    """

    def __init__(
        self,
        entries: tuple[SearchSpaceEntry, ...] | list[SearchSpaceEntry],
        *,
        starting_points: Mapping[str, Mapping] | None = None,
    ) -> None:
        by_loss = {e.loss: e for e in entries}
        baseline = by_loss.pop(BASELINE_LOSS, SearchSpaceEntry(BASELINE_LOSS, BASELINE_LR_RANGE, {}, ()))
        by_loss = {BASELINE_LOSS: baseline, **by_loss}  # the baseline first: its default trial runs first
        for entry in by_loss.values():
            low, high = entry.lr_range
            if not (0 < low <= high):
                raise ConfigError(
                    f"The learning-rate range of {entry.loss} must satisfy 0 < low <= high; "
                    f"got {entry.lr_range}."
                )
        self.entries = by_loss
        self.starting_points = {loss: dict(params) for loss, params in (starting_points or {}).items()}

    @property
    def losses(self) -> list[str]:
        return list(self.entries)

    @property
    def rules_first_choice(self) -> str | None:
        """The rules' first choice: the first of ``starting_points`` (the recommendation's candidates, in its
        order); None when the space was built without them."""
        return next(iter(self.starting_points), None)

    def suggest(self, trial) -> Configuration:
        """Ask an Optuna trial for a loss, a learning rate and the loss's tunable parameters."""
        loss = trial.suggest_categorical(LOSS_PARAM, self.losses)
        entry = self.entries[loss]
        unit = trial.suggest_float(LR_PARAM, 0.0, 1.0)
        params = dict(entry.fixed_params)
        for rng in entry.tunable:
            name = f"{loss}.{rng.name}"
            if rng.choices is not None:
                encoded = trial.suggest_categorical(name, [_encode_choice(c) for c in rng.choices])
                params[rng.name] = _decode_choice(encoded, rng.choices)
            elif isinstance(rng.low, int) and isinstance(rng.high, int) and not rng.log:
                params[rng.name] = trial.suggest_int(name, rng.low, rng.high)
            else:
                params[rng.name] = trial.suggest_float(name, float(rng.low), float(rng.high), log=rng.log)
        return Configuration(loss=loss, params=params, lr=lr_from_unit(unit, entry.lr_range))

    def default_trial_params(self, loss: str) -> dict:
        """Optuna parameters of ``loss`` at its starting point and the middle of its learning-rate range."""
        entry = self.entries[loss]
        params = {LOSS_PARAM: loss, LR_PARAM: DEFAULT_LR_UNIT}
        for rng in entry.tunable:
            params[f"{loss}.{rng.name}"] = _default_value(loss, rng, self.starting_points.get(loss))
        return params

    def default_configuration(self, loss: str, *, lr: float | None = None) -> Configuration:
        """``loss`` with its fixed parameters and starting point, at ``lr`` (default: mid-range)."""
        entry = self.entries[loss]
        params = dict(entry.fixed_params)
        for rng in entry.tunable:
            value = _default_value(loss, rng, self.starting_points.get(loss))
            params[rng.name] = _decode_choice(value, rng.choices) if rng.choices is not None else value
        return Configuration(
            loss, params, lr if lr is not None else lr_from_unit(DEFAULT_LR_UNIT, entry.lr_range)
        )
