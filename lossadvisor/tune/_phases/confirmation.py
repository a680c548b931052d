"""Phase ``confirmation``: the finalists (chosen once per study, stored in it) raced over paired k-fold
repetitions (:mod:`lossadvisor.tune.confirm._race`), each run a trial of the ``<name>:confirm`` study,
trained by exactly one worker.

After each repetition every worker replays the race from the stored results alone, so all of them agree on
what runs next and when it stops; the units of the next repetition are enqueued once, under the study lock.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from lossadvisor import runfolder
from lossadvisor.errors import LossAdvisorError
from lossadvisor.tune._phases._context import Live, TuneContext
from lossadvisor.tune._phases.search import Searched
from lossadvisor.tune.confirm import (
    CONFIRM_STEP_FACTOR,
    Finalist,
    RaceConfig,
    RaceState,
    Unit,
    collect,
    enqueue_units,
    finalists_from_json,
    finalists_to_json,
    parse_budget,
    race_state,
    run_units,
    select_finalists,
)
from lossadvisor.tune.data import build_fold_data, build_volume_fold_data, fold_data_from_memory
from lossadvisor.tune.training import RunContext

logger = logging.getLogger("lossadvisor.tune._api")


@dataclass
class Confirmed:
    """The finalists, the race's settings and state, and the training contexts built so far."""

    picks: list[Finalist]
    race: RaceConfig
    contexts: dict  # (rep, fold) -> RunContext at level 0 (longer levels: more steps per epoch)
    state: RaceState | None = None

    def entries(self) -> dict[str, str]:
        return {f.entry: f.config.loss for f in self.picks}


def race_config(tc: TuneContext) -> RaceConfig:
    return RaceConfig(
        folds=tc.options.folds,
        margin=tc.options.margin,
        budget=parse_budget(tc.options.confirm_budget),
        min_reps=tc.options.seeds,
    )


def prepare(tc: TuneContext, live: Live, searched: Searched) -> Confirmed:
    """The study's finalists (picked by the first worker to get here, for every worker)."""
    stored, again = live.session.finalists(
        lambda: finalists_to_json(
            select_finalists(live.study, searched.space, max_finalists=tc.options.finalists)
        )
    )
    picks = finalists_from_json(stored)
    if again:
        logger.warning(
            "The finalists changed since they were chosen (a larger search or another --finalists): now %s; "
            "runs already done for a finalist kept, only new ones are trained.",
            ", ".join(f.config.loss for f in picks),
        )
    return Confirmed(picks, race_config(tc), {})


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
