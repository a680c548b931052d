"""What a loss declares about itself: its family, the inputs it accepts and its parameters.

These records are torch-free on purpose: the rules engine, the tuner's search space and ``lossadvisor losses``
read them without importing torch, and the loss classes themselves check their constructor arguments against
the same records, so a range is written down exactly once.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lossadvisor._messages import unknown_name_message
from lossadvisor.errors import ConfigError

PARAM_KINDS = ("float", "int", "bool", "choice", "floats")
FAMILIES = ("distribution", "region", "compound")

# The one note on LR range tests (LR finders) for bounded losses: the rules, the tuner and the report show it.
BOUNDED_LR_TEST_NOTE = (
    "LR range tests (LR finders) are not to be trusted for bounded losses (Dice and its relatives, values in "
    "[0, 1]): the smoothed loss barely moves, the usual 'stop at 4x the minimum' never fires, and the "
    "suggested learning rate comes out nearly the same whatever the data. Tune the learning rate instead."
)


@dataclass(frozen=True)
class ParamSpec:
    """One constructor parameter of a loss.

    ``low``/``high``/``log`` are the *search range* the tuner samples when ``tunable`` is true; ``bounds``
    is the *valid domain* every constructor accepts (inclusive, ``None`` for open). They differ on purpose:
    ``mix`` of ``dice_ce`` is valid on [0, 1] but tuned on [0.1, 0.9], because the ends are plain CE and plain
    Dice, which are candidates of their own.

    Kinds: ``"float"``, ``"int"``, ``"bool"``, ``"choice"`` (one of ``choices``) and ``"floats"`` (a sequence
    of floats, each inside ``bounds``; class weights). ``nullable`` says whether ``None`` is accepted.
    """

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    tunable: bool = False
    choices: tuple[Any, ...] | None = None
    bounds: tuple[float | None, float | None] = (None, None)
    nullable: bool = False

    def check(self, value: Any, *, loss: str) -> Any:
        """Return ``value`` (ints widened to float for float kinds) or raise :class:`ConfigError`.

        The message names the parameter, the loss, what was expected and what was got.
        """
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(f"The {self.name!r} parameter of {loss} must not be None ({self.expected()}).")
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise self._error(value, loss)
            return value
        if self.kind == "choice":
            if value not in (self.choices or ()):
                raise self._error(value, loss)
            return value
        if self.kind == "floats":
            is_sequence = isinstance(value, Sequence) or hasattr(value, "tolist")
            if isinstance(value, (str, bytes)) or not is_sequence:
                raise self._error(value, loss)
            items = list(value.tolist() if hasattr(value, "tolist") else value)
            if not items:
                raise self._error(value, loss)
            return tuple(self._check_number(v, loss, whole=value) for v in items)
        return self._check_number(value, loss, whole=value)

    def _check_number(self, value: Any, loss: str, *, whole: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
            raise self._error(whole, loss)
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise self._error(whole, loss)
            number: float | int = int(value)
        else:
            number = float(value)
            if not math.isfinite(number):
                raise self._error(whole, loss)
        lo, hi = self.bounds
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise self._error(whole, loss)
        return number

    def expected(self) -> str:
        """The valid domain in words, e.g. ``a float in [0, 1]``."""
        if self.kind == "bool":
            text = "True or False"
        elif self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices or ())
        else:
            lo, hi = self.bounds
            noun = {"float": "a float", "int": "an integer", "floats": "a sequence of floats"}[self.kind]
            if lo is None and hi is None:
                text = noun
            elif hi is None:
                text = f"{noun} >= {lo:g}"
            elif lo is None:
                text = f"{noun} <= {hi:g}"
            else:
                text = f"{noun} in [{lo:g}, {hi:g}]"
        return text + (" or None" if self.nullable else "")

    def _error(self, value: Any, loss: str) -> ConfigError:
        return ConfigError(
            f"The {self.name!r} parameter of {loss} must be {self.expected()}. Got {value!r} instead."
        )


@dataclass(frozen=True)
class LossSpec:
    """A registry entry: everything the rules, the tuner and the CLI need to know about one loss.

    ``class_path`` (``"module:Class"``) is resolved only by :meth:`load_class`, so reading the registry never
    imports torch.
    """

    name: str
    family: str
    supports_binary: bool
    supports_multiclass: bool
    params: tuple[ParamSpec, ...]
    description: str
    reference: str
    class_path: str

    @property
    def tunable_params(self) -> tuple[ParamSpec, ...]:
        return tuple(p for p in self.params if p.tunable)

    @property
    def bounded(self) -> bool:
        """The loss value lies in [0, 1] (a pure overlap score): LR range tests fail on it.

        A compound adds an unbounded pixel term (CE, focal), whose rise at a too-high learning rate is what
        an LR range test needs to stop, so compounds are not bounded.
        """
        return self.family == "region"

    @property
    def compound(self) -> bool:
        """An overlap term and a pixel term mixed (Dice + CE, Dice + focal, unified focal)."""
        return self.family == "compound"

    @property
    def has_overlap_term(self) -> bool:
        """Some of the loss is an overlap score (Dice, Tversky, Lovász): the "Dice family" of the rules."""
        return self.family in ("region", "compound")

    @property
    def has_batch_dice(self) -> bool:
        """The loss can sum its overlap term over the whole batch (nnU-Net's batch Dice)."""
        return any(p.name == "batch_dice" for p in self.params)

    @property
    def class_name(self) -> str:
        return self.class_path.rsplit(":", 1)[1]

    def param(self, name: str) -> ParamSpec:
        """The :class:`ParamSpec` called ``name``; unknown names list the valid ones with a did-you-mean."""
        for p in self.params:
            if p.name == name:
                return p
        valid = [p.name for p in self.params]
        raise ConfigError(unknown_name_message(f"parameter of {self.name}", name, valid))

    def defaults(self) -> dict[str, Any]:
        """Constructor defaults, ``{name: default}``."""
        return {p.name: p.default for p in self.params}

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check names and values of ``params`` against this spec; return them normalised.

        Raises:
            ConfigError: an unknown name (with a did-you-mean) or a value outside its domain.
        """
        return {name: self.param(name).check(value, loss=self.name) for name, value in params.items()}

    def load_class(self) -> type:
        """Import and return the loss class (this imports torch)."""
        module_name, class_name = self.class_path.split(":")
        return getattr(importlib.import_module(module_name), class_name)
