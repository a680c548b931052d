"""The search phase: ask Optuna for configurations, train them, tell it how they did.

The ask-and-tell interface (rather than ``study.optimize``) gives the tuner the control a long run needs: the
trial budget counts trials already in the storage (so a re-run does only what is left, and several machines
sharing one PostgreSQL study share one budget), an interrupted trial is marked FAIL with the reason
"interrupted" before Ctrl-C propagates, and a failed trial is recorded without stopping the study.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict

from lossadvisor.tune.search._space import LOSS_PARAM, LR_PARAM, SearchSpace
from lossadvisor.tune.study import INTERRUPTED, counted_trials, redone
from lossadvisor.tune.training import RunContext, jsonable_params, outcome_summary

logger = logging.getLogger(__name__)

DEFAULT_ATTR = "default_of"  # user attribute of the enqueued default trial of each loss


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
        if loss and not redone(t):
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
    may_start: Callable[[], bool] | None = None,
) -> int:
    """Run trials until ``n_trials`` are counted in the study or ``timeout`` seconds pass, or ``may_start()``
    says no more may start (the time budget, measured as the trials finish).

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
        if may_start is not None and not may_start():
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
            trial.report(record.val_score, record.epoch)
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
        study.tell(trial, outcome.best.val_score)
