"""Phase ``result``: the verdict from the stored confirmation runs. Writes result.json, samples.npz,
confirmation.csv, confirmation_tiles.csv, diagnostics.csv, trials.csv, epochs.csv and run.json ("complete").

It only reads the study, its companion and the earlier phases' outputs, so it can be re-run alone on a
finished folder (``tests/tune/test_tune_phases.py``).
"""

from __future__ import annotations

import time
from pathlib import Path

from lossadvisor import runfolder
from lossadvisor._run_records import ModelUsed, Timings
from lossadvisor.tune._phases._context import Live, TuneContext
from lossadvisor.tune._phases.confirmation import Confirmed
from lossadvisor.tune._phases.search import Searched
from lossadvisor.tune.confirm import CONFIRM_STEP_FACTOR, collect, decide
from lossadvisor.tune.outputs import finalist_ranking, write_result, write_tables
from lossadvisor.tune.search import summarise
from lossadvisor.tune.study import counted_trials
from lossadvisor.tune.training import RunContext

SHARED_AT_END = (
    runfolder.RESULT_JSON, runfolder.SAMPLES_NPZ, runfolder.LR_RANGE_TEST_JSON, runfolder.RUN_JSON,
)  # fmt: skip


def write_outcome(tc: TuneContext, live: Live, searched: Searched, confirmed: Confirmed) -> Path:
    """Decide the verdict, write the tables and result.json, mark run.json complete; return result.json."""
    study, picks, space = live.study, confirmed.picks, searched.space
    confirm_records, finalist_runs, tiles = collect(live.cstudy, picks)
    verdict = decide(finalist_runs, margin=tc.options.margin, seed=tc.options.seed)
    ranking = finalist_ranking(list(zip(picks, finalist_runs, strict=True)), verdict, confirm_records)
    diagnostics = summarise(live.diag_records)
    write_tables(tc.run_dir, study, diagnostics=live.diag_records, confirmation=confirm_records, tiles=tiles)
    search_info = {
        "lr_range": list(next(iter(space.entries.values())).lr_range),
        "lr_ranges": {loss: list(e.lr_range) for loss, e in space.entries.items()},
        "lr_range_note": searched.lr_note,
        "trials": counted_trials(study),
        "pruner": "median (after every loss's default trial and half the epochs)",
    }
    training = {
        "steps_per_search_trial": tc.options.epochs * tc.steps,
        "steps_per_confirmation_run": tc.options.epochs * tc.steps * CONFIRM_STEP_FACTOR,
        "confirm_step_factor": CONFIRM_STEP_FACTOR,
        "folds": tc.options.folds,
        "seeds_per_fold": tc.options.seeds,
        "finalists": [f.entry for f in picks],
        "confirmation_runs": len(confirm_records),
        "size_switch": tc.size_switch,
    }
    result_path = write_result(
        tc.run_dir, study, ranking=ranking, verdict=verdict, diagnostics=diagnostics,
        records=confirm_records, rec=live.rec, training=training, search=search_info, ctx=live.run,
        contexts=confirmed.contexts, finalist_trials={f.entry: f.search_trial for f in picks},
        model=ModelUsed(name=tc.model_info.name, parameters=tc.model_info.parameters),
    )  # fmt: skip
    live.clock["end"] = time.monotonic()
    live.record.finish("complete", trials=counted_trials(study), timings=timings(live.run, live.clock))
    live.session.share_run_files(tc.run_dir, SHARED_AT_END, replace=True)
    return result_path


def timings(ctx: RunContext, clock: dict) -> Timings:
    """Training throughput, and the wall time of each phase (search, confirmation, the rest; the report is
    built after run.json is written, so its few seconds are not counted)."""
    t = ctx.timings

    def span(a: str, b: str) -> float | None:
        return round(clock[b] - clock[a], 2) if a in clock and b in clock else None

    total = span("start", "end")
    phases = {
        "prepare_s": span("start", "prepared"),
        "lr_range_test_s": span("prepared", "lr_tests"),
        "search_s": span("lr_tests", "search"),
        "diagnostics_s": span("search", "diagnostics"),
        "confirmation_s": span("diagnostics", "confirmation"),
        "write_s": span("confirmation", "end"),
        "total_s": total,
    }
    return Timings(
        train_s=round(t["train_s"], 2),
        data_share=t["data_s"] / t["train_s"] if t["train_s"] else None,
        images_per_s=t["images"] / t["train_s"] if t["train_s"] else None,
        runs=t["runs"],
        phases=phases,
    )
