"""Phase ``start``: the run begins. Writes profile.json, per_image.csv, recommendation.json and run.json,
saves the decoded tiles to ``cache/``, and opens (or joins) the study.

From here on run.json says how the run ends (complete, interrupted, failed).
"""

from __future__ import annotations

import time

import numpy as np

from lossadvisor import runfolder
from lossadvisor._text import safe_text
from lossadvisor.tune._phases import advise as advise_phase
from lossadvisor.tune._phases import profile as profile_phase
from lossadvisor.tune._phases._clock import JobClock, finished_seconds
from lossadvisor.tune._phases._context import Live, TuneContext
from lossadvisor.tune.confirm import parse_time_budget
from lossadvisor.tune.data import save_cache
from lossadvisor.tune.outputs import RunRecord, environment
from lossadvisor.tune.study import DEFAULT_STORAGE_LABEL, Session, hold_folder
from lossadvisor.tune.training import RunContext

SAMPLE_TILES = 6
SHARED_AT_START = (
    runfolder.PROFILE_JSON, runfolder.PER_IMAGE_CSV, runfolder.RECOMMENDATION_JSON, runfolder.RUN_JSON,
)  # fmt: skip


def start_run(tc: TuneContext) -> RunRecord:
    """Create the folder, take its lock, write the profile, the advice and run.json ("running")."""
    env = environment(tc.device.name, tc.device.threads)
    tc.run_dir.mkdir(parents=True, exist_ok=True)
    hold_folder(tc.run_dir)
    profile_phase.write_profile(tc)
    advise_phase.write_advice(tc)
    return _record(tc, env)


def open_session(tc: TuneContext) -> Session:
    """Save the decoded tiles, then create, resume or join the study (this worker registered in it)."""
    save_cache(tc.data)
    return Session.open(
        tc.storage_url,
        tc.name,
        fingerprint=tc.profile.fingerprint,
        objective_settings=tc.objective_settings,
        definition=tc.rec.to_dict(),
        storage_label=tc.storage_label,
        heartbeat_s=None if tc.options.storage is None else tc.options.heartbeat,
        own_sqlite=tc.options.storage is None,
    )


def join(tc: TuneContext, session: Session, record: RunRecord, bars, clock: dict) -> Live:
    """Follow the study's advice, open the confirmation study, build the training context, share the files."""
    rec, base_space = advise_phase.adopt_definition(session, tc.rec, tc.base_space, tc.run_dir)
    cstudy = session.companion("confirm")
    if tc.options.storage is None:
        session.requeue_running(cstudy)
    run = RunContext(
        data=tc.data,
        num_classes=tc.num_classes,
        loss_factory=tc.loss_factory,
        device=tc.device,
        epochs=tc.options.epochs,
        steps_per_epoch=tc.steps,
        batch_size=tc.options.batch_size,
        warmup_steps=tc.options.warmup_steps,
        seed=tc.options.seed,
        preds_dir=tc.run_dir / runfolder.CACHE_DIR / f"preds_{tc.name}",
        sample_indices=sample_indices(tc.data.val_masks, tc.train_ignore),
        model_factory=tc.spec.factory,
        ignore_index=tc.train_ignore,
        files=session.files,
        objective=tc.options.objective,
        recipe=tc.recipe,
    )
    session.share_run_files(tc.run_dir, SHARED_AT_START, replace=False)
    # the work earlier runs of this study stored counts against the budget: a resumed run spends what is left
    prior = sum(finished_seconds(s) for s in (session.study, session.tasks.study, cstudy))
    budget = tc.time_budget if tc.time_budget is not None else parse_time_budget("none")
    job = JobClock(budget, clock.get("entered", time.monotonic()), prior_s=prior)
    return Live(
        session=session, cstudy=cstudy, run=run, rec=rec, base_space=base_space, record=record, bars=bars,
        clock=clock, job=job,
    )  # fmt: skip


def sample_indices(val_masks: np.ndarray, ignore_index: int | None) -> list[int]:
    """Validation tiles for samples.npz: those with foreground first (most interesting), then empty ones."""
    fg = [(m > 0) & (m != ignore_index) if ignore_index is not None else m > 0 for m in val_masks]
    order = sorted(range(len(val_masks)), key=lambda i: (not fg[i].any(), i))
    return order[:SAMPLE_TILES]


def reopen(tc: TuneContext, bars=None) -> Live:
    """The open run of a folder whose earlier phases are done, to re-run or replace a later phase alone.

    Unlike :func:`start_run` it leaves profile.json and recommendation.json as they are; run.json reads
    "running" again until the re-run phase finishes it.
    """
    from lossadvisor.tune._progress import Progress

    record = _record(tc, environment(tc.device.name, tc.device.threads))
    bars = bars if bars is not None else Progress(enabled=False)
    return join(tc, open_session(tc), record, bars, {})


def _record(tc: TuneContext, env: dict) -> RunRecord:
    """run.json, written now with status "running"."""
    return RunRecord(
        tc.run_dir,
        settings=tc.settings,
        command=tc.command,
        storage_url=tc.storage_url if tc.options.storage else DEFAULT_STORAGE_LABEL,
        study_name=tc.name,
        fingerprint=tc.profile.fingerprint,
        env=env,
        left_out=tc.source.left_out + [safe_text(s) for s in tc.data.skipped],
        model=tc.model_info.to_dict(),
    )
