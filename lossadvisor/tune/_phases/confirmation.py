"""Phase ``confirmation``: the finalists (chosen once per study, stored in it) and their paired k-fold runs,
each unit a trial of the ``<name>:confirm`` study, trained by exactly one worker."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from lossadvisor import runfolder
from lossadvisor.tune._phases._context import Live, TuneContext
from lossadvisor.tune._phases.search import Searched
from lossadvisor.tune.confirm import (
    CONFIRM_STEP_FACTOR,
    collect,
    enqueue_units,
    finalists_from_json,
    finalists_to_json,
    run_units,
    select_finalists,
)
from lossadvisor.tune.data import build_fold_data, build_volume_fold_data, fold_data_from_memory
from lossadvisor.tune.study import PLAN_ATTR


@dataclass(frozen=True)
class Confirmed:
    """The finalists and one training context per fold (the confirmation's data and step budget)."""

    picks: list
    contexts: list


def prepare(tc: TuneContext, live: Live, searched: Searched) -> Confirmed:
    """The study's finalists (picked by the first worker to get here) and the folds' training contexts."""
    picks = finalists_from_json(  # chosen once, by the first worker here, for every worker
        live.session.once(
            PLAN_ATTR,
            lambda: finalists_to_json(
                select_finalists(live.study, searched.space, max_finalists=tc.options.finalists)
            ),
        )
    )
    if tc.source.volumes is not None:
        fold_data = build_volume_fold_data(
            list(tc.source.volumes.pairs), read_label=tc.read_mask,
            cache_dir=tc.run_dir / runfolder.CACHE_DIR,
            fingerprint=tc.profile.fingerprint, crop=tc.crop, patch=tc.data.patch, folds=tc.options.folds,
            seed=tc.options.seed, ignore_index=tc.train_ignore, key_settings=tc.data_settings,
        )  # fmt: skip
    elif tc.source.in_memory is not None:
        fold_data = fold_data_from_memory(
            *tc.source.in_memory, size=tc.size, crop=tc.crop, folds=tc.options.folds, seed=tc.options.seed,
            ignore_index=tc.train_ignore,
        )  # fmt: skip
    else:
        fold_data = build_fold_data(
            tc.source.pairing.pairs,
            read_mask=tc.read_mask,
            cache_dir=tc.run_dir / runfolder.CACHE_DIR,
            fingerprint=tc.profile.fingerprint,
            size=tc.size,
            crop=tc.crop,
            folds=tc.options.folds,
            seed=tc.options.seed,
            ignore_index=tc.train_ignore,
            key_settings=tc.data_settings,
        )
    ctx = live.run
    contexts = [
        replace(ctx, data=d, steps_per_epoch=tc.steps * CONFIRM_STEP_FACTOR, timings=ctx.timings)
        for d in fold_data
    ]
    return Confirmed(picks, contexts)


def confirm(tc: TuneContext, live: Live, searched: Searched) -> Confirmed:
    """Run this worker's share of the ``finalists x folds x seeds`` units, then wait for the others' ones."""
    confirmed = prepare(tc, live, searched)
    picks, cstudy, session, bars = confirmed.picks, live.cstudy, live.session, live.bars
    with session.lock():  # every unit enqueued once, whatever the number of workers
        enqueue_units(cstudy, picks, folds=tc.options.folds, seeds=tc.options.seeds)
    bars.start_runs(total=len(picks) * tc.options.folds * tc.options.seeds, desc="confirmation runs")
    bars.advance(len(collect(cstudy, picks)[0]))

    def run() -> int:  # each unit to exactly one worker, with a heartbeat while it trains
        return run_units(
            cstudy, picks, confirmed.contexts, base_seed=tc.options.seed, on_run=bars.run_done,
            take=lambda: session.take(cstudy), beat=session.beat,
        )  # fmt: skip

    run()
    session.wait_idle(cstudy, run)  # the others' units, and any a dead worker left
    bars.close()
    live.clock["confirmation"] = time.monotonic()
    return confirmed
