"""What the phases of ``tune`` share: the settings fixed before anything is written, and the open run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TuneContext:
    """Everything ``tune`` decided before writing: validated settings, paths, the profile, the advice and the
    decoded training data. Built by :func:`lossadvisor.tune._phases.plan.plan`, read-only afterwards."""

    options: Any  # TuneOptions as given (checked); the phases read the options they need from it
    run_dir: Path
    source: Any  # tune.data._data.Source: pairs or arrays, profile, per-image rows, left-out files
    rec: Any  # the Recommendation this worker made (a shared study may hold another: see Live.rec)
    base_space: Any  # SearchSpace of the recommendation, before the LR range tests
    spec: Any  # ModelSpec: the network's factory and the side multiple it needs
    model_info: Any  # ModelInfo: name and parameters, checked on a small batch
    device: Any  # DeviceChoice
    data: Any  # TrainData of the search split (not yet saved to cache/)
    read_mask: Callable  # path -> label array, with the class map, ignore index and pixel limit
    loss_factory: Callable  # (name, params) -> loss module, with the training ignore index
    data_settings: dict  # what besides the fingerprint keys the decoded-data cache
    size: int  # resolved: the option, or what the lost-objects rule chose, or the default
    crop: int | None  # resolved like size
    size_switch: dict | None  # set when the lost-objects rule chose the training size
    num_classes: int
    steps: int  # optimiser steps per search epoch (the option, or one pass over the tiles)
    train_ignore: int | None
    storage_url: str
    storage_label: str  # redacted, for messages
    name: str  # study name
    settings: dict  # run.json's "settings"
    objective_settings: dict  # what a joined or resumed study must have been made with
    command: str | None
    progress: bool
    recipe: Any = None  # TrainingRecipe: the study's (see plan.study_recipe)
    time_budget: Any = None  # TimeBudget: --time-budget resolved for the device (auto: 10m on a CPU)

    @property
    def profile(self):
        return self.source.profile


@dataclass(frozen=True)
class Live:
    """The open run: the session on the study and its companion, the training context, run.json's record, the
    progress bars and the phase clock. ``rec``/``base_space`` are the study's (its first worker's) advice."""

    session: Any  # lossadvisor.tune.study._session.Session
    cstudy: Any  # the "<name>:confirm" companion study
    run: Any  # RunContext of the search split
    rec: Any
    base_space: Any
    record: Any  # RunRecord (run.json)
    bars: Any  # Progress
    clock: dict = field(default_factory=dict)  # phase -> time.monotonic() when it ended
    diag_records: list = field(default_factory=list)  # diagnostic runs, once the diagnostics phase ran
    job: Any = None  # _clock.JobClock: the job's time against --time-budget

    @property
    def study(self):
        return self.session.study
