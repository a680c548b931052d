"""Phase ``search``: the LR range tests (``lr_range_test.json``), the Optuna search over the advised space
(trials in the study, ``trials.csv`` and ``epochs.csv`` kept current), then the diagnostic runs.

Finished trials, tests and runs are read back from the study, so a re-run continues where it stopped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from lossadvisor import runfolder
from lossadvisor._run_records import LRRangeTest, LRRangeTests
from lossadvisor.tune._phases._clock import finished_seconds, full_trial_seconds
from lossadvisor.tune._phases._context import Live, TuneContext
from lossadvisor.tune.confirm import end_reserve, race_minimum, search_may_continue
from lossadvisor.tune.outputs import write_tables
from lossadvisor.tune.search import (
    DIAGNOSTIC_SEEDS,
    LR_TEST_LOSSES,
    SearchSpace,
    diagnostic_configs,
    enqueue_defaults,
    equal_lr_ranges,
    run_diagnostics,
    run_search,
)
from lossadvisor.tune.study import PLAN_ATTR, Session, counted_trials
from lossadvisor.tune.training import RunContext, lr_range_test

LR_TEST_ATTR = "lr_range_test"
SEARCH_CLOSED_ATTR = "search_closed_by_budget"  # {"time_budget_s", "n_trials", "trials"}: stored once
DIAGNOSTIC_PREFIX = "diagnostic:"  # the diagnostic runs' keys in the task queue
DIAGNOSTIC_RUNS = len(LR_TEST_LOSSES) * DIAGNOSTIC_SEEDS
logger = logging.getLogger("lossadvisor.tune._api")


@dataclass(frozen=True)
class Searched:
    """What the search leaves for the later phases: the space it searched, with the LR range tests' picks."""

    space: SearchSpace
    suggestions: dict  # loss -> learning rate its LR range test suggested
    lr_note: str | None  # how the equal learning-rate range was chosen


def lr_range_tests(
    session: Session, space: SearchSpace, ctx: RunContext, run_dir: Path
) -> tuple[LRRangeTest, ...]:
    """Plain CE and plain Dice LR range tests: units of the study's task queue, run once per study.

    Every worker needs them (they set the search's learning-rate range): it runs the tests no other worker
    has claimed, waits for the rest, and writes ``lr_range_test.json``.
    """
    from lossadvisor.losses import get_spec

    results = session.study.user_attrs.get(LR_TEST_ATTR)  # studies made before the task queue
    if results is None:
        units = {f"{LR_TEST_ATTR}:{loss}": {"loss": loss} for loss in LR_TEST_LOSSES}

        def work(key: str, spec: dict) -> dict:
            loss = spec["loss"]
            params = space.default_configuration(loss).params if loss in space.entries else {}
            return lr_range_test(
                loss,
                ctx.data,
                num_classes=ctx.num_classes,
                loss_factory=ctx.loss_factory,
                device=ctx.device,
                model_factory=ctx.model_factory,
                params=params,
                batch_size=ctx.batch_size,
                seed=ctx.seed,
                bounded=get_spec(loss).bounded,
            ).to_dict()

        session.tasks.ensure(units)
        stored = session.tasks.run(units, work)
        results = [stored[key] for key in units]
    tests = tuple(LRRangeTest.from_dict(r) for r in results)  # as the study stored them
    LRRangeTests(tests=tests).save(run_dir / runfolder.LR_RANGE_TEST_JSON)
    return tests


def searched_space(base_space: SearchSpace, lr_results: tuple[LRRangeTest, ...]) -> Searched:
    """The search space with one learning-rate range for every loss, from the LR range tests' suggestions."""
    suggestions = {r.loss: r.suggested_lr for r in lr_results if r.suggested_lr}
    entries, lr_note = equal_lr_ranges(list(base_space.entries.values()), suggestions.values())
    return Searched(SearchSpace(entries, starting_points=base_space.starting_points), suggestions, lr_note)


def restore(tc: TuneContext, live: Live) -> Searched:
    """The finished search's :class:`Searched`, read from ``lr_range_test.json``.

    For re-running a later phase alone on a finished folder.
    """
    path = tc.run_dir / runfolder.LR_RANGE_TEST_JSON
    tests = LRRangeTests.load(path).tests if path.is_file() else ()
    return searched_space(live.base_space, tests)


def search(tc: TuneContext, live: Live, lr_results: tuple[LRRangeTest, ...]) -> Searched:
    """Run this worker's share of the ``n_trials`` search trials, then wait for the other workers' ones."""
    import optuna

    searched = searched_space(live.base_space, lr_results)
    space, study, session, bars = searched.space, live.study, live.session, live.bars
    # Each worker (and each resume) samples from its own seed, and the constant liar makes TPE treat the
    # other workers' running trials as taken: no two workers train one configuration.
    seed = session.worker.sampler_seed(tc.options.seed)
    study.sampler = _sampler(seed, n_startup_trials=len(space.losses) + 2)
    # No pruning before half the epochs (Dice-family losses start slower than CE) nor before every loss's
    # default trial has finished, so each candidate gets one full run to set the median.
    study.pruner = optuna.pruners.MedianPruner(
        n_startup_trials=len(space.losses), n_warmup_steps=max(1, tc.options.epochs // 2)
    )
    live.clock["lr_tests"] = time.monotonic()
    done, limit = counted_trials(study), search_limit(tc, study)
    if done and done < limit and PLAN_ATTR in study.user_attrs:
        logger.warning(
            "Extending the finished search from %d to %d trials; the finalists are then chosen again.",
            done, limit,
        )  # fmt: skip
    with session.lock():  # exactly once per study, whatever the number of workers
        enqueue_defaults(study, space, limit=limit - counted_trials(study))
    bars.start_search(total=limit, done=counted_trials(study))

    def after_trial(trial) -> None:  # keep trials.csv / epochs.csv current for a report mid-study
        bars.trial_done(trial)
        write_tables(tc.run_dir, study)

    budget = SearchBudget(tc, live)

    def run(timeout: float | None = None) -> int:
        return run_search(
            study, space, live.run, n_trials=tc.options.n_trials, timeout=timeout, on_trial=after_trial,
            claim=lambda: session.claim(search_limit(tc, study)), beat=session.beat,
            may_start=budget.may_start,
        )  # fmt: skip

    run(tc.options.timeout)
    # other workers' trials still running: wait, re-running those of dead workers (unless out of time), so
    # that every worker picks the finalists from the same finished trials
    out_of_time = tc.options.timeout is not None or budget.stopped
    session.wait_for_search(lambda: search_limit(tc, study), run_more=None if out_of_time else run)
    bars.close()
    live.clock["search"] = time.monotonic()
    return searched


def search_limit(tc: TuneContext, study) -> int:
    """The trials the search runs: ``--n-trials``, or fewer when the time budget closed the search (stored in
    the study, so every worker and every resume with the same or a smaller budget stops there; a larger
    budget or more trials reopens it)."""
    closed = study.user_attrs.get(SEARCH_CLOSED_ATTR)
    if closed is None or tc.options.n_trials > closed["n_trials"]:
        return tc.options.n_trials
    budget, stored = tc.time_budget.seconds if tc.time_budget else None, closed["time_budget_s"]
    if budget is None or budget > stored:
        return tc.options.n_trials
    return min(tc.options.n_trials, closed["trials"])


class SearchBudget:
    """This worker's search against the time budget: :meth:`may_start` says whether another trial may start;
    when it may not, the search is closed for every worker at the trials counted then (stored in the
    study), and :attr:`stopped` is set."""

    def __init__(self, tc: TuneContext, live: Live) -> None:
        self.tc, self.live = tc, live
        opts = tc.options
        self.minimum = min(opts.n_trials, opts.finalists)  # one default trial of as many losses as finalists
        self.race_minimum = race_minimum(opts.finalists, opts.folds, opts.seeds)
        self.stopped = False

    def may_start(self) -> bool:
        tc, live, opts = self.tc, self.live, self.tc.options
        budget = tc.time_budget.seconds if tc.time_budget is not None else None
        if budget is None:
            return True
        if self.stopped:
            return False
        study = live.study
        done = counted_trials(study)
        trial_s = full_trial_seconds(study, opts.epochs)
        after_s = end_reserve(budget)
        if trial_s is not None:  # the diagnostics and the race's minimum not run yet, at the time per run
            diag = len([k for k in live.session.tasks.records() if k.startswith(DIAGNOSTIC_PREFIX)])
            race = len(live.cstudy.get_trials(deepcopy=False))
            after_s += trial_s * (max(0, DIAGNOSTIC_RUNS - diag) + max(0, self.race_minimum - race))
        ok = search_may_continue(
            done=done, minimum=self.minimum, budget_s=budget, job_s=live.job.spent(),
            search_s=finished_seconds(study), trial_s=trial_s, after_s=after_s,
        )  # fmt: skip
        if not ok and done < search_limit(tc, study):
            self.stopped = True
            with live.session.lock():
                study.set_user_attr(
                    SEARCH_CLOSED_ATTR, {"time_budget_s": budget, "n_trials": opts.n_trials, "trials": done}
                )
            logger.warning(
                "The search stopped at %d of %d trials: the time budget (%s) keeps the rest for the "
                "diagnostics and the confirmation race.", done, opts.n_trials, tc.time_budget,
            )  # fmt: skip
        return ok


def diagnostics(live: Live, searched: Searched) -> list[dict]:
    """Train the configurations the LR range tests picked (never ranked); kept in ``live.diag_records``."""
    diag = diagnostic_configs(searched.space, searched.suggestions)
    live.bars.start_runs(total=len(diag) * DIAGNOSTIC_SEEDS, desc="diagnostic runs")
    records = run_diagnostics(live.study, diag, live.run, on_run=live.bars.run_done, queue=live.session.tasks)
    live.diag_records[:] = records
    live.bars.close()
    live.clock["diagnostics"] = time.monotonic()
    return records


def _sampler(seed: int, *, n_startup_trials: int):
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials, constant_liar=True)
