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
from lossadvisor.tune._phases._clock import finished_seconds
from lossadvisor.tune._phases._context import Live, TuneContext
from lossadvisor.tune._phases.confirmation import Confirmed, context_for
from lossadvisor.tune._phases.search import DIAGNOSTIC_PREFIX as DIAG
from lossadvisor.tune._phases.search import Searched, search_limit
from lossadvisor.tune.confirm import (
    CONFIRM_STEP_FACTOR,
    SEARCH_SHARE,
    RaceOutcome,
    Unit,
    collect,
    final_decision,
    level_runs,
    order_between_levels,
    parse_time_budget,
    race_state,
    race_verdict,
    what_it_bought,
)
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
    got = collect(live.cstudy, picks, metric=tc.options.objective)
    confirm_records, tiles = got.records, got.tiles
    race = race_outcome(tc, confirmed, got)
    level_of = {f.entry: race.rival_level.get(f.entry, race.final_level) for f in picks}
    finalist_runs = got.finalist_runs(picks, level_of)
    verdict = race_verdict(
        finalist_runs, race, confirm_records, margin=tc.options.margin, metric=tc.options.objective
    )
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
        "steps_per_confirmation_run": race.steps_of_level.get(race.final_level or 0),
        "confirm_step_factor": CONFIRM_STEP_FACTOR,
        "folds": tc.options.folds,
        "repetitions_per_level": tc.options.seeds,
        "confirm_budget": tc.options.confirm_budget,
        "finalists": [f.entry for f in picks],
        "confirmation_runs": len(confirm_records),
        "size_switch": tc.size_switch,
    }
    result_path = write_result(
        tc.run_dir, study, ranking=ranking, verdict=verdict, diagnostics=diagnostics,
        records=confirm_records, rec=live.rec, training=training, search=search_info, ctx=live.run,
        contexts=first_partition(tc, live, confirmed),
        finalist_trials={f.entry: f.search_trial for f in picks},
        model=ModelUsed(name=tc.model_info.name, parameters=tc.model_info.parameters),
        budget=budget_block(tc, live, confirmed, len(confirm_records), race),
    )  # fmt: skip
    live.clock["end"] = time.monotonic()
    live.record.finish("complete", trials=counted_trials(study), timings=timings(live.run, live.clock))
    live.session.share_run_files(tc.run_dir, SHARED_AT_END, replace=True)
    return result_path


def budget_block(
    tc: TuneContext, live: Live, confirmed: Confirmed, race_runs: int, race: RaceOutcome
) -> dict:
    """result.json's ``budget``: what the time budget bought (the work of every run of this study, by its
    recorded durations, and the job's time up to now), and whether it was kept."""
    budget = tc.time_budget if tc.time_budget is not None else parse_time_budget("none")
    study, tasks = live.study, live.session.tasks.study
    trials = counted_trials(study)
    closed = search_limit(tc, study) < tc.options.n_trials
    job_s = live.job.spent() if live.job is not None else 0.0
    search_s = finished_seconds(study)
    diag_s = finished_seconds(tasks, lambda t: str(t.user_attrs.get("task", "")).startswith(DIAG))
    race_s = finished_seconds(live.cstudy)
    levels = len(race.state.runs_by_level) if race.state is not None else 0
    text, kept, over = what_it_bought(
        budget, search_trials=trials, search_s=search_s, search_stopped=closed, n_trials=tc.options.n_trials,
        diag_runs=len(live.diag_records), diag_s=diag_s, race_runs=race_runs, race_levels=levels,
        race_s=race_s, job_s=job_s, plan=confirmed.plan,
    )  # fmt: skip
    plan = confirmed.plan
    return {
        "time_budget": tc.options.time_budget,
        "seconds": budget.seconds,
        "spent_s": round(job_s, 1),
        "kept": kept,
        "over_s": round(over, 1),
        "search": {
            "trials": trials, "n_trials": tc.options.n_trials, "seconds": round(search_s, 1),
            "stopped_by_budget": closed, "share": SEARCH_SHARE,
        },
        "diagnostics": {"runs": len(live.diag_records), "seconds": round(diag_s, 1)},
        "confirmation": {
            "runs": race_runs, "run_lengths": levels, "seconds": round(race_s, 1),
            "plan": plan.to_dict() if plan is not None else None,
        },
        "bought": text,
    }  # fmt: skip


def first_partition(tc: TuneContext, live: Live, confirmed: Confirmed) -> list[RunContext]:
    """The folds of the first repetition (every tile validated once): what the validation set is."""
    entry = confirmed.picks[0].entry if confirmed.picks else ""
    return [context_for(tc, live, confirmed, Unit(0, 0, fold, entry)) for fold in range(tc.options.folds)]


def race_outcome(tc: TuneContext, confirmed: Confirmed, got) -> RaceOutcome:
    """The race replayed from the stored runs, and the decision at the longest budget measured."""
    entries, cfg = confirmed.entries(), confirmed.race
    state = confirmed.state or race_state(entries, got.iou, got.seconds, cfg)
    decision, final_level, rival_level = final_decision(entries, got.iou, state, cfg)
    per_run = {}
    if decision is not None:
        for other, lv in rival_level.items():
            reps = 1 + max(u.rep for u in got.iou if u.level == lv)
            mine = level_runs(got.iou, decision.leader, lv, reps, cfg.folds)
            theirs = level_runs(got.iou, other, lv, reps, cfg.folds)
            per_run[other] = [
                {"level": lv, "rep": r, "fold": f, "seed": None, "diff": mine[(r, f)] - theirs[(r, f)]}
                for (r, f) in sorted(set(mine) & set(theirs))
            ]
    levels = {u.level for u in got.iou} | {0}
    return RaceOutcome(
        decision=decision, final_level=final_level, rival_level=rival_level, state=state,
        between_levels=order_between_levels(got.iou, entries, cfg.folds),
        steps_of_level={lv: tc.options.epochs * tc.steps * CONFIRM_STEP_FACTOR**lv for lv in sorted(levels)},
        budget=tc.options.confirm_budget, folds=cfg.folds, per_run=per_run,
    )  # fmt: skip


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
