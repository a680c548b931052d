"""What one training run trains and the context it runs in, apart from the search that chooses it.

A :class:`Configuration` (a loss, its parameters, a learning rate) is trained by the search, the diagnostics
and the confirmation alike; :class:`RunContext` holds everything else a run needs (data, device, budget,
where its sample predictions go), and :func:`outcome_summary` is the per-run summary every output file reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lossadvisor._atomic import write_npy
from lossadvisor.tune.data import TrainData
from lossadvisor.tune.training._device import DeviceChoice
from lossadvisor.tune.training._recipe import DEFAULT_RECIPE, TrainingRecipe
from lossadvisor.tune.training._train import TrialConfig, TrialOutcome, train_trial

PREDS_PREFIX = "preds/"  # shared file names of sample predictions


@dataclass(frozen=True)
class Configuration:
    """A loss with its parameters and learning rate: what a trial or a stability run trains."""

    loss: str
    params: dict
    lr: float


def jsonable_params(params: dict) -> dict:
    """Loss parameters as JSON values (tuples become lists)."""
    return json.loads(json.dumps(params, default=list))



def config_id(config: Configuration) -> str:
    """A stable id from the loss, its parameters and the learning rate (4 significant digits).

    Example:
        >>> config_id(Configuration("ce", {}, 1e-3))
        'ce-641449'
    """
    key = json.dumps([config.loss, jsonable_params(config.params), f"{config.lr:.4g}"], sort_keys=True)
    return f"{config.loss}-{hashlib.sha1(key.encode()).hexdigest()[:6]}"


def describe(config: Configuration) -> str:
    """A short label: the loss, its shape parameters and the learning rate."""
    shown = {k: v for k, v in config.params.items() if k in ("mix", "gamma", "beta", "alpha", "delta")}
    extra = ", ".join(f"{k}={v:.2g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
    return f"{config.loss}" + (f" ({extra})" if extra else "") + f" lr={config.lr:.2g}"


@dataclass
class RunContext:
    """Everything a training run needs besides its configuration."""

    data: TrainData
    num_classes: int
    loss_factory: Callable
    device: DeviceChoice
    epochs: int
    steps_per_epoch: int
    batch_size: int
    warmup_steps: int
    seed: int
    preds_dir: Path
    sample_indices: list[int]
    model_factory: Callable | None = None
    ignore_index: int | None = None
    files: object | None = None  # SharedFiles: predictions every worker (and the report) can read
    objective: str = "iou"  # the metric runs are scored by (SCORED_METRICS; --objective)
    recipe: TrainingRecipe = DEFAULT_RECIPE  # the study's (LEGACY_RECIPE for a study older than the recipe)
    timings: dict = field(default_factory=lambda: {"train_s": 0.0, "data_s": 0.0, "images": 0, "runs": 0})

    def train(
        self, config: Configuration, *, seed: int, on_epoch=None, keep_samples: bool = False
    ) -> TrialOutcome:
        trial_config = TrialConfig(
            loss=config.loss,
            params=dict(config.params),
            lr=config.lr,
            epochs=self.epochs,
            steps_per_epoch=self.steps_per_epoch,
            batch_size=self.batch_size,
            warmup_steps=self.warmup_steps,
            seed=seed,
            objective=self.objective,
            recipe=self.recipe,
        )
        outcome = train_trial(
            trial_config,
            self.data,
            num_classes=self.num_classes,
            loss_factory=self.loss_factory,
            device=self.device,
            model_factory=self.model_factory,
            ignore_index=self.ignore_index,
            on_epoch=on_epoch,
            sample_indices=self.sample_indices if keep_samples else None,
        )
        self.timings["train_s"] += outcome.duration_s
        self.timings["data_s"] += outcome.data_s
        self.timings["images"] += outcome.images_seen
        self.timings["runs"] += 1
        return outcome

    def save_predictions(self, name: str, outcome: TrialOutcome) -> None:
        """Keep a run's sample predictions (in the storage when shared, so every worker's report has them)."""
        if outcome.sample_predictions is not None:
            self.put_predictions(name, outcome.sample_predictions)

    def put_predictions(self, name: str, predictions: np.ndarray) -> None:
        if self.files is not None:
            self.files.put_array(f"{PREDS_PREFIX}{name}", predictions)
            return
        self.preds_dir.mkdir(parents=True, exist_ok=True)
        write_npy(self.preds_dir / f"{name}.npy", predictions)

    def load_predictions(self, name: str) -> np.ndarray | None:
        if self.files is not None:
            return self.files.get_array(f"{PREDS_PREFIX}{name}")
        path = self.preds_dir / f"{name}.npy"
        return np.load(path) if path.is_file() else None

    def copy_predictions(self, source: str, target: str) -> None:
        """The predictions of run ``source`` also as those of ``target`` (a reused search trial)."""
        predictions = self.load_predictions(source)
        if predictions is not None:
            self.put_predictions(target, predictions)


def outcome_summary(outcome: TrialOutcome) -> dict:
    """The per-run numbers every output file needs, JSON-safe."""
    final, best = outcome.final, outcome.best
    return {
        "val_iou": final.val_iou if final else None,
        "val_dice": final.val_dice if final else None,
        "best_iou": best.val_iou if best else None,
        "val_score": final.val_score if final else None,  # the scored metric (--objective) of the final model
        "best_score": best.val_score if best else None,
        "best_epoch": best.epoch if best else None,
        "epochs_run": len(outcome.epochs),
        "collapse": final.collapse if final else "none",
        "grad_norm_max": max((r.grad_norm_max for r in outcome.epochs), default=None),
        "grad_spikes": sum(r.grad_spikes for r in outcome.epochs),
        "nonfinite": outcome.nonfinite,
        "duration_s": outcome.duration_s,
        "failed": outcome.failed,
        "fail_reason": outcome.fail_reason,
        "object_recall": outcome.object_recall,
    }
