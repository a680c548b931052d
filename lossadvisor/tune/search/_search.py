"""The search phase: ask Optuna for configurations, train them, tell it how they did.

The ask-and-tell interface (rather than ``study.optimize``) gives the tuner the control a long run needs: the
trial budget counts trials already in the storage (so a re-run does only what is left, and several machines
sharing one PostgreSQL study share one budget), an interrupted trial is marked FAIL with the reason
"interrupted" before Ctrl-C propagates, and a failed trial is recorded without stopping the study.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lossadvisor._atomic import write_npy
from lossadvisor.tune.data import TrainData
from lossadvisor.tune.search._space import LOSS_PARAM, LR_PARAM, Configuration, SearchSpace
from lossadvisor.tune.study import STALE_REASON
from lossadvisor.tune.training import (
    DEFAULT_RECIPE,
    DeviceChoice,
    TrainingRecipe,
    TrialConfig,
    TrialOutcome,
    train_trial,
)

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
NOT_COUNTED = (INTERRUPTED, STALE_REASON)  # failures that do not use up the trial budget (they are redone)
DEFAULT_ATTR = "default_of"  # user attribute of the enqueued default trial of each loss
PREDS_PREFIX = "preds/"  # shared file names of sample predictions


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


def jsonable_params(params: dict) -> dict:
    """Loss parameters as JSON values (tuples become lists)."""
    return json.loads(json.dumps(params, default=list))


def outcome_summary(outcome: TrialOutcome) -> dict:
    """The per-run numbers every output file needs, JSON-safe."""
    final, best = outcome.final, outcome.best
    return {
        "val_iou": final.val_iou if final else None,
        "val_dice": final.val_dice if final else None,
        "best_iou": best.val_iou if best else None,
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


def _redone(t) -> bool:
    """A failure that does not use up the budget: interrupted, or its worker died (re-queued, redone).

    A trial failed by Optuna's heartbeat check has no ``fail_reason``: the tuner records one for every
    failure it sees itself.
    """
    from optuna.trial import TrialState

    if t.state != TrialState.FAIL:
        return False
    reason = t.user_attrs.get("fail_reason")
    return reason is None or reason in NOT_COUNTED


def counted_trials(study) -> int:
    """Trials that use up the budget: finished, running (maybe on other machines), failed but not redone."""
    from optuna.trial import TrialState

    counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.FAIL)
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state in counted and not _redone(t))


def enqueue_defaults(study, space: SearchSpace, *, limit: int) -> int:
    """Enqueue one trial per loss at its defaults, unless one already ran or waits.

    ``limit`` is what the budget has left besides the trials already queued (at most that many are added).

    With a dozen trials, TPE alone may never try some losses; a first pass at default parameters gives each
    candidate one fair run before the sampler and the pruner take over.
    """
    from optuna.trial import TrialState

    done = set()
    trials = study.get_trials(deepcopy=False)
    limit -= sum(t.state == TrialState.WAITING for t in trials)  # queued ones will use the budget too
    for t in trials:
        loss = t.user_attrs.get(DEFAULT_ATTR)
        if loss is None and t.state == TrialState.WAITING:
            loss = t.system_attrs.get("fixed_params", {}).get(LOSS_PARAM)
        if loss and not _redone(t):
            done.add(loss)
    added = 0
    for loss in space.losses:
        if loss not in done and added < limit:
            study.enqueue_trial(space.default_trial_params(loss), user_attrs={DEFAULT_ATTR: loss})
            added += 1
    return added


def run_search(
    study,
    space: SearchSpace,
    ctx: RunContext,
    *,
    n_trials: int,
    timeout: float | None = None,
    on_trial: Callable[[object], None] | None = None,
    claim: Callable[[], object | None] | None = None,
    beat: Callable[[int], contextlib.AbstractContextManager] | None = None,
) -> int:
    """Run trials until ``n_trials`` are counted in the study or ``timeout`` seconds pass.

    ``claim`` returns the next trial, or ``None`` when the budget is used up (several workers: it counts
    and asks under the study lock, so the workers together never overshoot); ``beat(trial_id)`` keeps the
    trial's heartbeat while it trains. ``on_trial`` is called with the ``FrozenTrial`` of each finished trial
    (the progress bar, live CSVs).

    Returns:
        The number of trials this call ran.

    Raises:
        KeyboardInterrupt: After marking the running trial FAIL with reason "interrupted".
    """
    if claim is None:

        def claim():
            return study.ask() if counted_trials(study) < n_trials else None

    start = time.monotonic()
    ran = 0
    while True:
        if timeout is not None and time.monotonic() - start >= timeout:
            logger.info("Search stopped by --timeout after %d trial(s).", ran)
            break
        trial = claim()
        if trial is None:
            break
        with beat(trial._trial_id) if beat is not None else contextlib.nullcontext():
            _run_trial(study, space, ctx, trial)
        ran += 1
        if on_trial is not None:
            on_trial(study._storage.get_trial(trial._trial_id))
    return ran


def _run_trial(study, space: SearchSpace, ctx: RunContext, trial) -> None:
    """Train one trial and tell the study how it went (a failure is recorded, not raised)."""
    from optuna.trial import TrialState

    try:
        config = space.suggest(trial)
        trial.set_user_attr("lr", config.lr)
        trial.set_user_attr("lr_unit", trial.params.get(LR_PARAM))
        trial.set_user_attr("params", jsonable_params(config.params))

        def on_epoch(record, trial=trial) -> bool:
            trial.report(record.val_iou, record.epoch)
            return trial.should_prune()

        outcome = ctx.train(config, seed=ctx.seed, on_epoch=on_epoch, keep_samples=True)
    except KeyboardInterrupt:
        trial.set_user_attr("fail_reason", INTERRUPTED)
        study.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as exc:  # a loss that cannot be built, a user model that raises: record, go on
        logger.warning("Trial %d failed: %s: %s", trial.number, type(exc).__name__, exc)
        trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}")
        study.tell(trial, state=TrialState.FAIL)
        return
    trial.set_user_attr("epochs", [asdict(r) for r in outcome.epochs])
    trial.set_user_attr("summary", outcome_summary(outcome))
    ctx.save_predictions(f"trial{trial.number}", outcome)
    if outcome.failed:
        trial.set_user_attr("fail_reason", outcome.fail_reason)
        study.tell(trial, state=TrialState.FAIL)
    elif outcome.stopped_early:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, outcome.best.val_iou)
