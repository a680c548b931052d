"""Phase ``confirmation``: the finalists (chosen once per study, stored in it) raced over paired k-fold
repetitions (:mod:`lossadvisor.tune.confirm._race`), each run a trial of the ``<name>:confirm`` study,
trained by exactly one worker.

After each repetition every worker replays the race from the stored results alone, so all of them agree on
what runs next and when it stops; the units of the next repetition are enqueued once, under the study lock.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, replace

from lossadvisor import runfolder
from lossadvisor.errors import LossAdvisorError
from lossadvisor.tune._phases._clock import finished_seconds, full_trial_seconds, trial_seconds
from lossadvisor.tune._phases._context import Live, TuneContext
from lossadvisor.tune._phases.search import DIAGNOSTIC_PREFIX, Searched
from lossadvisor.tune.confirm import (
    CONFIRM_STEP_FACTOR,
    Budget,
    Finalist,
    RaceConfig,
    RacePlan,
    RaceState,
    Unit,
    collect,
    end_reserve,
    enqueue_units,
    finalists_from_json,
    finalists_to_json,
    parse_budget,
    plan_race,
    race_state,
    run_units,
    select_finalists,
)
from lossadvisor.tune.data import build_fold_data, build_volume_fold_data, fold_data_from_memory
from lossadvisor.tune.training import RunContext

logger = logging.getLogger("lossadvisor.tune._api")


RACE_PLAN_ATTR = "race_plan"  # {"key": what it was planned for, "plan": RacePlan}: decided once, stored


@dataclass
class Confirmed:
    """The finalists, the race's settings and state, and the training contexts built so far."""

    picks: list[Finalist]
    race: RaceConfig
    contexts: dict  # (rep, fold) -> RunContext at level 0 (longer levels: more steps per epoch)
    state: RaceState | None = None
    plan: RacePlan | None = None  # what the time budget left the race (None: a phase re-run without one)

    def entries(self) -> dict[str, str]:
        return {f.entry: f.config.loss for f in self.picks}


def race_config(tc: TuneContext, plan: RacePlan | None = None) -> RaceConfig:
    """The race's settings: the options, with the time and repetitions the time budget's plan left it."""
    timed = plan is not None and plan.seconds is not None
    budget = parse_budget(tc.options.confirm_budget, time_left=timed)
    if timed:
        seconds = plan.seconds if budget.seconds is None else min(budget.seconds, plan.seconds)
        text = budget.text
        if budget.seconds is None or seconds < budget.seconds:
            text += f" (within the {seconds / 60:.1f} min of training --time-budget {tc.time_budget} left)"
        budget = Budget(runs=budget.runs, seconds=seconds, text=text)
    return RaceConfig(
        folds=tc.options.folds,
        margin=tc.options.margin,
        budget=budget,
        min_reps=plan.min_reps if plan is not None else tc.options.seeds,
    )


def race_plan(tc: TuneContext, live: Live) -> RacePlan:
    """The race's finalists, repetitions before its first look and time, for the time budget left: planned by
    the first worker to get here and stored in the study, so every worker races the same plan and a resumed
    run keeps it. Planned again (and said) when the budgets, --finalists or --seeds differ from the stored
    plan's, e.g. a raised --time-budget on a finished run."""
    from optuna.trial import TrialState

    opts, session = tc.options, live.session
    budget = tc.time_budget.seconds if tc.time_budget is not None else None
    key = {
        "time_budget_s": budget, "confirm_budget": str(opts.confirm_budget), "finalists": opts.finalists,
        "seeds": opts.seeds, "folds": opts.folds,
    }  # fmt: skip
    with session.lock():
        stored = live.study.user_attrs.get(RACE_PLAN_ATTR)
        if stored is not None and stored.get("key") == key:
            return RacePlan.from_dict(stored["plan"])
        left = None
        if budget is not None:  # the race's earlier runs count in its budget: what is left is added to them
            left = finished_seconds(live.cstudy) + budget - live.job.spent() - end_reserve(budget)
        per_run, share = _run_time(live, opts.epochs)
        done = live.cstudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        raced = {t.user_attrs.get("entry") for t in done}
        plan = plan_race(
            finalists=opts.finalists, seeds=opts.seeds, folds=opts.folds,
            confirm_s=parse_budget(opts.confirm_budget, time_left=left is not None).seconds, left_s=left,
            per_run_s=per_run,
            train_share=share, raced=len(raced - {None}),
        )  # fmt: skip
        live.study.set_user_attr(RACE_PLAN_ATTR, {"key": key, "plan": plan.to_dict()})
    if stored is not None:
        logger.warning(
            "The confirmation race is planned again for --time-budget %s, --confirm-budget %s (it was "
            "planned for other budgets or finalists); runs already done are kept.",
            tc.time_budget, opts.confirm_budget,
        )  # fmt: skip
    if plan.note:
        over = plan.expected_over_s()
        logger.warning(
            "Time budget: %s%s.", plan.note,
            f"; the budget will likely be exceeded by about {over:.0f} s" if over > 0 else "",
        )  # fmt: skip
    return plan


def _run_time(live: Live, epochs: int) -> tuple[float | None, float]:
    """The wall time of one run of the race's first level, and the share of it spent training: measured on
    the diagnostic runs (runs of that length), else on the search trials."""
    walls = [
        s for t in live.session.tasks.study.get_trials(deepcopy=False)
        if str(t.user_attrs.get("task", "")).startswith(DIAGNOSTIC_PREFIX) and (s := trial_seconds(t))
    ]  # fmt: skip
    trained = sum(r.get("duration_s") or 0.0 for r in live.diag_records)
    share = min(1.0, trained / sum(walls)) if walls and trained else 1.0
    if walls:
        return statistics.median(walls), share
    return full_trial_seconds(live.study, epochs), share


def prepare(tc: TuneContext, live: Live, searched: Searched) -> Confirmed:
    """The study's finalists (picked by the first worker to get here, for every worker), as many as the time
    budget's race plan affords."""
    plan = race_plan(tc, live) if live.job is not None else None
    count = plan.finalists if plan is not None else tc.options.finalists
    stored, again = live.session.finalists(
        lambda: finalists_to_json(select_finalists(live.study, searched.space, max_finalists=count))
    )
    picks = finalists_from_json(stored)
    if again:
        logger.warning(
            "The finalists changed since they were chosen (a larger search, another --finalists or the time "
            "budget's plan): now %s; runs already done for a finalist kept, only new ones are trained.",
            ", ".join(f.config.loss for f in picks),
        )
    return Confirmed(picks, race_config(tc, plan), {}, plan=plan)


def context_for(tc: TuneContext, live: Live, confirmed: Confirmed, unit: Unit) -> RunContext:
    """The training context of a unit: repetition ``r`` folds with seed ``seed + r`` (a fresh stratified
    partition), level ``L`` trains ``CONFIRM_STEP_FACTOR**L`` times a search trial's steps per epoch."""
    if (unit.rep, unit.fold) not in confirmed.contexts:
        seed = tc.options.seed + unit.rep
        if tc.source.volumes is not None:
            fold_data = build_volume_fold_data(
                list(tc.source.volumes.pairs), read_label=tc.read_mask,
                cache_dir=tc.run_dir / runfolder.CACHE_DIR, fingerprint=tc.profile.fingerprint, crop=tc.crop,
                patch=tc.data.patch, folds=tc.options.folds, seed=seed, ignore_index=tc.train_ignore,
                key_settings=tc.data_settings,
            )  # fmt: skip
        elif tc.source.in_memory is not None:
            fold_data = fold_data_from_memory(
                *tc.source.in_memory, size=tc.size, crop=tc.crop, folds=tc.options.folds, seed=seed,
                ignore_index=tc.train_ignore,
            )  # fmt: skip
        else:
            fold_data = build_fold_data(
                tc.source.pairing.pairs, read_mask=tc.read_mask, cache_dir=tc.run_dir / runfolder.CACHE_DIR,
                fingerprint=tc.profile.fingerprint, size=tc.size, crop=tc.crop, folds=tc.options.folds,
                seed=seed, ignore_index=tc.train_ignore, key_settings=tc.data_settings,
            )  # fmt: skip
        for fold, data in enumerate(fold_data):
            confirmed.contexts[(unit.rep, fold)] = replace(live.run, data=data, timings=live.run.timings)
    ctx = confirmed.contexts[(unit.rep, unit.fold)]
    return replace(ctx, steps_per_epoch=tc.steps * CONFIRM_STEP_FACTOR**unit.level)


def replay(tc: TuneContext, live: Live, confirmed: Confirmed) -> RaceState:
    """The race as the stored results say it stands, scored by the metric the user chose (``--objective``)."""
    got = collect(live.cstudy, confirmed.picks, metric=tc.options.objective)
    return race_state(confirmed.entries(), got.iou, got.seconds, confirmed.race)


def confirm(tc: TuneContext, live: Live, searched: Searched) -> Confirmed:
    """Race the finalists: enqueue the next repetition, run this worker's share, wait for the others' units,
    replay; until the race stops (clear, equivalent or the budget spent)."""
    confirmed = prepare(tc, live, searched)
    cstudy, session, bars = live.cstudy, live.session, live.bars
    bars.start_runs(total=None, desc="confirmation runs")
    first = replay(tc, live, confirmed)
    if first.finished:
        logger.warning(
            "The confirmation race is already over (%s; %d runs stored): nothing new to train. Raise "
            "--confirm-budget or --n-trials to extend it; the verdict is computed again from those runs.",
            first.stop_reason, sum(first.runs_by_level.values()),
        )  # fmt: skip

    def run() -> int:  # each unit to exactly one worker, with a heartbeat while it trains
        return run_units(
            cstudy, confirmed.picks, lambda u: context_for(tc, live, confirmed, u), base_seed=tc.options.seed,
            on_run=bars.run_done, take=lambda: session.take(cstudy), beat=session.beat,
        )  # fmt: skip

    while True:
        with session.lock():  # the next repetition's units enqueued once, whatever the number of workers
            state = replay(tc, live, confirmed)
            if state.finished:
                break
            enqueue_units(cstudy, confirmed.picks, state.pending)
        run()
        session.wait_idle(cstudy, run)  # the others' units, and any a dead worker left
        after = replay(tc, live, confirmed)
        if not after.finished and {u.key() for u in after.pending} == {u.key() for u in state.pending}:
            raise LossAdvisorError(
                f"The confirmation cannot finish: {len(after.pending)} run(s) of the race failed and are not "
                f"queued again (e.g. {after.pending[0].key()}). See the fail_reason of the trials of the "
                f"study {tc.name}:confirm; a new --out folder starts afresh."
            )
    confirmed.state = state
    bars.close()
    live.clock["confirmation"] = time.monotonic()
    return confirmed
