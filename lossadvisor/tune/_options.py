"""Every option of ``tune``, declared once: its default, its check, its CLI flag and help, and whether it
defines the study's objective.

:class:`TuneOptions` is the one record the rest is derived from: ``tune()`` accepts each field as a keyword
(and checks it here), the ``lossadvisor tune`` command builds its click options from it (default, help,
accepted values), run.json's ``settings`` and recorded command are written from it, and a resumed or joined
study is refused when an ``objective`` field differs. This module imports nothing heavy (the CLI reads it to
build ``--help``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lossadvisor._messages import unknown_name_message
from lossadvisor.errors import ConfigError

SIDE_MULTIPLE = 16  # the default U-Net has 4 stride-2 levels: a tile side is a multiple of 16


@dataclass(frozen=True)
class Accepts:
    """The values an option accepts, checked the same way by ``tune()`` and by the CLI's click type.

    ``kind`` is ``int``, ``float``, ``str``, ``bool``, ``Path`` (a string or path-like) or ``object`` (any
    value: checked where it is used, e.g. a model callable or a ``ClassMap``); ``path`` (``"file"`` or
    ``"dir"``) says what the CLI accepts; ``low``/``high`` bound a number (``*_open``: the bound itself is
    refused); ``optional``: ``None`` is accepted (the option's "not given").
    """

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    path: str | None = None
    writable: bool = False  # a folder the run writes into (the CLI refuses one it cannot write)
    choices: tuple[str, ...] | None = None  # a string option that takes one of these names only

    def ok(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.kind is object:
            return True
        if self.kind is bool:
            return isinstance(value, bool)
        if self.kind is int:
            number = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind is float:
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif self.kind is Path:
            return isinstance(value, (str, os.PathLike))
        else:
            return isinstance(value, str) and (self.choices is None or value in self.choices)
        if not number:
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or not (value > self.high or (self.high_open and value == self.high))

    def expected(self) -> str:
        """What the option must be, for the message of a refused value."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        what = {int: "an integer", float: "a number", bool: "True or False", str: "a string"}.get(
            self.kind, "a path"
        )
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            what += f" in {left}{_num(self.low)}, {_num(self.high)}{right}"
        elif self.low is not None:
            what += f" {'>' if self.low_open else '>='} {_num(self.low)}"
        return f"None or {what}" if self.optional else what


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def option(
    default: Any,
    *,
    flag: str | None,
    help: str,
    accepts: Accepts,
    objective: bool = False,
    metavar: str | None = None,
) -> Any:
    """A :class:`TuneOptions` field. ``flag`` is the CLI flag (``None``: Python only); ``objective``: the
    value is part of what makes trials comparable, so a study made with another value is refused."""
    meta = {"flag": flag, "help": help, "accepts": accepts, "objective": objective, "metavar": metavar}
    return field(default=default, metadata=meta)


_INT1 = Accepts(int, low=1)
_SIDE = Accepts(int, low=SIDE_MULTIPLE, optional=True)


@dataclass(frozen=True)
class TuneOptions:
    """The options of one ``tune`` run, checked when the record is made (a bad value raises
    :class:`~lossadvisor.errors.ConfigError` naming the option).

    Adding an option: add a field below with :func:`option` (default, CLI flag, help, accepted values, and
    ``objective=True`` if a study run with another value must be refused), then add ``@tune_option("name")``
    to the decorators of ``lossadvisor/cli/_tune.py``. ``tune(name=...)`` accepts it, ``run.json`` records
    it in ``settings`` and in the recorded command, and ``tests/tune/test_tune_options.py`` fails until the
    CLI has it and it survives the recorded command. The phases read it as ``tc.options.name``.
    """

    images: str | Path | None = option(
        None,
        flag="--images",
        accepts=Accepts(Path, optional=True, path="dir"),
        help="Folder of images (grey or RGB PNG, JPEG, TIFF), paired with masks by file stem "
        "[default: images].",
    )
    masks: str | Path | None = option(
        None,
        flag="--masks",
        accepts=Accepts(Path, optional=True, path="dir"),
        help="Folder of masks (PNG, TIFF, NPY; 0/1, 0/255, class indices, or colours with --class-map) "
        "[default: masks].",
    )
    out: str | Path | None = option(
        None,
        flag="--out",
        accepts=Accepts(Path, optional=True, path="dir", writable=True),
        help="Run folder for everything this command writes [default: reports/<dataset-name>/]. Re-running "
        "with the same folder resumes the study.",
    )
    size: int | None = option(
        None,
        flag="--size",
        accepts=_SIDE,
        objective=True,
        help="Side the tiles are resized to for training (a multiple of 16; 256+ on a GPU) [default: 128, or "
        "native-resolution crops / a larger size when the lost-objects rule fires].",
    )
    crop: int | None = option(
        None,
        flag="--crop",
        accepts=_SIDE,
        objective=True,
        help="Train on random NxN crops at native resolution instead of resizing (large aerial tiles "
        "whose small objects vanish when resized). Volumes: an NxNxN training patch, also the patch the "
        "profile's empty-patch and tiny-lesion figures are measured at [default: the median case shape "
        "rounded down to a multiple of 16, within 32-64].",
    )
    # CPU defaults, so `make example` (31 tiles, 128 px) stays within about 10 minutes on 2 cores, with most
    # of the time where the verdict is decided: a search of 10 trials of 6 epochs x >= 20 steps (120 AdamW
    # steps, pruned by the median rule), 2 x 2 diagnostic runs at the search budget, then the confirmation
    # race within --confirm-budget (5 minutes of training, measured as it goes). See README ("Time
    # allocation"). --time-budget (auto: 10 minutes on a CPU) cuts the search and the race when the data or
    # the machine make them slower.
    epochs: int = option(
        6,
        flag="--epochs",
        accepts=_INT1,
        objective=True,
        help="Validations per run; each epoch is --steps-per-epoch optimiser steps (twice as many in the "
        "confirmation runs).",
    )
    steps_per_epoch: int | None = option(
        None,
        flag="--steps-per-epoch",
        accepts=Accepts(int, low=1, optional=True),
        objective=True,
        help="Optimiser steps between validations [default: one pass over the tiles, at least 20].",
    )
    batch_size: int | None = option(
        None,
        flag="--batch-size",
        accepts=Accepts(int, low=1, optional=True),
        objective=True,
        help="Batch size [default: 8 tiles, or 2 patches for volumes].",
    )
    warmup_steps: int = option(
        0,
        flag="--warmup-steps",
        accepts=Accepts(int, low=0),
        objective=True,
        help="Linear learning-rate warm-up steps.",
    )
    n_trials: int = option(
        10,
        flag="--n-trials",
        accepts=_INT1,
        help="Search trials in the study (trials from an earlier run of the same study count).",
    )
    timeout: float | None = option(
        None,
        flag="--timeout",
        accepts=Accepts(float, low=0, low_open=True, optional=True),
        help="Seconds after which no new search trial starts; the confirmation still runs.",
    )
    seeds: int = option(
        2,
        flag="--seeds",
        accepts=_INT1,
        help="Repetitions of k-fold (each on a fresh stratified partition) per level of the confirmation "
        "race before it decides or promotes the better half to runs twice as long.",
    )
    folds: int = option(
        3,
        flag="--folds",
        accepts=Accepts(int, low=2),
        objective=True,
        help="Folds of the confirmation's stratified cross-validation; every tile is validated once per "
        "repetition.",
    )
    finalists: int = option(
        3,
        flag="--finalists",
        accepts=Accepts(int, low=2),
        help=(
            "Losses confirmed: the best configuration of each top loss of the search, CE always among them, "
            "and the rules' first choice from 3 finalists on."
        ),
    )
    margin: float = option(
        0.01,
        flag="--margin",
        accepts=Accepts(float, low=0, high=1, high_open=True),
        help="Region of practical equivalence in IoU: losses whose mean paired difference is probably within "
        "it are 'equivalent', and the simplest is recommended.",
    )
    confirm_budget: str | int = option(
        "auto",
        flag="--confirm-budget",
        accepts=Accepts(object),  # checked in __post_init__ (runs, a time or auto)
        metavar="RUNS|TIME|auto",
        help="Budget of the confirmation race: a number of runs (30; a run twice as long counts 2), a "
        "training time (8m, 90s; converted with the time per run measured on the first runs), or auto: what "
        "--time-budget leaves (5m of training without a time budget). Raising it on a finished run folder "
        "extends the race.",
    )
    time_budget: str = option(
        "auto",
        flag="--time-budget",
        accepts=Accepts(str),  # checked in __post_init__ (a duration, none or auto)
        metavar="TIME|none|auto",
        help="Wall time of the whole job (10m, 90s, 1.5h or none; auto: 10m on a CPU, none on a GPU). The "
        "search stops starting trials once its share (35%) is used, the confirmation gets the time left "
        "(less with a --confirm-budget) and races fewer finalists when its minimum would not fit; the "
        "summary says what the budget bought. Raising it on a finished run folder extends the run.",
    )
    storage: str | None = option(
        None,
        flag="--storage",
        accepts=Accepts(str, optional=True),
        metavar="URL",
        help="Optuna storage shared by every worker of the study: postgresql://user:pw@host/db for many "
        "machines, journal:FILE for a few processes on one machine [default: SQLite <out>/study.db, one "
        "process]. The password is never written to files or logs.",
    )
    study_name: str | None = option(
        None,
        flag="--study",
        accepts=Accepts(str, optional=True),
        help="Study name in the storage [default: lossadvisor].",
    )
    model: str | Callable | None = option(
        None,
        flag="--model",
        accepts=Accepts(object, optional=True),
        metavar="NAME|MODULE:CALLABLE",
        help="Network the trials train: compact (default; the package's compact U-Net), monai-unet, "
        "monai-segresnet (pip install 'lossadvisor[monai]'), or your own as MODULE:CALLABLE (mynet:build, "
        "./mynet.py:build), called as CALLABLE(in_channels, num_classes) and returning an nn.Module whose "
        "output is logits (N, C, H, W). On volumes the presets are 3-D and a CALLABLE that takes a "
        "spatial_dims keyword is called with spatial_dims=3 (logits (N, C, D, H, W)). Checked on one batch "
        "before the study starts.",
    )
    device: str = option(
        "auto",
        flag="--device",
        accepts=Accepts(str),
        help="auto (CUDA with bfloat16, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps.",
    )
    threads: int | None = option(
        None,
        flag="--threads",
        accepts=Accepts(int, low=1, optional=True),
        help="Torch CPU threads [default: all cores when the machine is idle, else the free ones].",
    )
    class_map: str | Path | None = option(
        None,
        flag="--class-map",
        accepts=Accepts(object, optional=True, path="file"),  # a path, or a ClassMap from Python
        help="JSON or CSV class map for colour-coded masks.",
    )
    ignore_index: int | None = option(
        None,
        flag="--ignore-index",
        accepts=Accepts(int, optional=True),
        help="Mask value to ignore, e.g. 255 on boundaries.",
    )
    rules_config: str | Path | None = option(
        None,
        flag="--rules-config",
        accepts=Accepts(Path, optional=True, path="file"),
        help="TOML file overriding rule thresholds (as for `lossadvisor advise`).",
    )
    objective: str = option(
        "iou",
        flag="--objective",
        accepts=Accepts(str, choices=("iou", "dice", "recall")),  # = lossadvisor.rules.OBJECTIVES (a test)
        objective=True,
        help="The metric you score: foreground IoU, Dice, or pixel recall. The rules rank for it, the search "
        "maximises it, the verdict compares finalists on it (--margin is then in that metric).",
    )
    seed: int = option(
        0,
        flag="--seed",
        accepts=Accepts(int),
        objective=True,
        help="Seed of the split, sampler and runs.",
    )
    max_pixels: int | None = option(
        1_000_000_000,  # = lossadvisor.io.DEFAULT_MAX_PIXELS (io imports Pillow); a test keeps them equal
        flag="--max-pixels",
        accepts=Accepts(int, low=1, optional=True),
        metavar="N",
        help="Largest mask read (height x width); larger files are skipped, never decoded. Raise it for "
        "bigger masks (profiling needs about 3 bytes per pixel per worker).",
    )
    heartbeat: int = option(
        15,
        flag="--heartbeat",
        accepts=_INT1,
        metavar="SECONDS",
        help="Seconds between a worker's heartbeats on shared storage; a trial silent for 4 heartbeats is "
        "taken for a dead worker's and re-run by a live one.",
    )
    report: bool = option(
        True,
        flag="--no-report",  # an off-switch: the flag given means False
        accepts=Accepts(bool),
        help="Do not build report.html at the end.",
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            accepts: Accepts = f.metadata["accepts"]
            if not accepts.ok(value):
                raise ConfigError(
                    f"The {f.name!r} option of tune must be {accepts.expected()}; got {value!r}."
                )
        from lossadvisor.tune.study import check_study_name  # here: the CLI's --help stays light

        check_study_name(self.study_name)  # a companion study's name (:confirm, :tasks, :files) is refused
        from lossadvisor.tune.confirm import parse_budget  # here too, not for --help

        parse_budget(self.confirm_budget)  # refused with the forms it accepts
        from lossadvisor.tune.confirm import parse_time_budget

        parse_time_budget(self.time_budget)  # a duration, none or auto

    @classmethod
    def from_keywords(cls, keywords: Mapping[str, Any]) -> TuneOptions:
        """The options from ``tune()``'s keywords; an unknown one is refused with the nearest name."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in keywords:
            if key not in names:
                raise TypeError(unknown_name_message("option of tune", key, names))
        return cls(**keywords)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @staticmethod
    def cli_fields() -> tuple[dataclasses.Field, ...]:
        """The fields that have a CLI flag, in declaration order."""
        return tuple(f for f in dataclasses.fields(TuneOptions) if f.metadata["flag"])

    @staticmethod
    def objective_names() -> tuple[str, ...]:
        """The options a resumed or joined study must have been made with."""
        return tuple(f.name for f in dataclasses.fields(TuneOptions) if f.metadata["objective"])
