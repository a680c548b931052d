"""``tune``: profile, advise, search with Optuna, confirm the finalists by paired cross-validation, verdict.

Everything is stored as it finishes (trials in the study, confirmation runs as trials of its companion study,
diagnostic runs in its user attributes, the decoded data in ``cache/``), so a re-run with the same folder
resumes: finished work is read back, only the rest runs.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lossadvisor import runfolder
from lossadvisor._atomic import write_json
from lossadvisor._run_records import (
    Confidence,
    ModelUsed,
    RankedConfig,
    Recommended,
    TuneOutcome,
    Verdict,
)
from lossadvisor._text import display_path, safe_text
from lossadvisor.errors import ConfigError
from lossadvisor.io import DEFAULT_MAX_PIXELS
from lossadvisor.tune._cache import (
    build_fold_data,
    build_train_data,
    fold_data_from_memory,
    save_cache,
    train_data_from_memory,
)
from lossadvisor.tune._confirm import (
    CONFIRM_STEP_FACTOR,
    DEFAULT_CONFIRM_SEEDS,
    DEFAULT_FINALISTS,
    collect,
    confirm_study_name,
    enqueue_units,
    finalists_from_json,
    finalists_to_json,
    run_units,
    select_finalists,
)
from lossadvisor.tune._data import load_source
from lossadvisor.tune._device import resolve_device
from lossadvisor.tune._diagnostics import (
    DIAGNOSTIC_SEEDS,
    LR_TEST_LOSSES,
    diagnostic_configs,
    run_diagnostics,
    summarise,
)
from lossadvisor.tune._lock import hold_folder, releases_folder_locks
from lossadvisor.tune._lr_range import lr_range_test
from lossadvisor.tune._models import check_model, resolve_model
from lossadvisor.tune._outputs import write_tables
from lossadvisor.tune._progress import Progress
from lossadvisor.tune._result import finalist_ranking, write_result
from lossadvisor.tune._runinfo import RunRecord, environment
from lossadvisor.tune._search import RunContext, counted_trials, enqueue_defaults, run_search
from lossadvisor.tune._session import PLAN_ATTR, Session
from lossadvisor.tune._signals import Terminated, sigterm_as_interrupt
from lossadvisor.tune._space import SearchSpace, equal_lr_ranges
from lossadvisor.tune._split import DEFAULT_FOLDS
from lossadvisor.tune._storage import DEFAULT_HEARTBEAT_S
from lossadvisor.tune._study import (
    DEFAULT_STORAGE_LABEL,
    DEFAULT_STUDY_NAME,
    STUDY_DB,
    check_study,
    default_storage_url,
    open_storage,
    redact_url,
    scrub,
)
from lossadvisor.tune._verdict import DEFAULT_MARGIN, decide

logger = logging.getLogger(__name__)

# CPU defaults, so `make example` (31 tiles, 128 px) stays within about 10 minutes on 2 cores, with most of
# the time where the verdict is decided: a search of 10 trials of 6 epochs x >= 20 steps (120 AdamW steps,
# pruned by the median rule), then 3 finalists x 3 folds x 2 seeds = 18 confirmation runs of twice those steps
# (240), and 2 x 2 diagnostic runs at the search budget. See README ("Time allocation").
DEFAULT_SIZE = 128
DEFAULT_EPOCHS = 6
MIN_STEPS_PER_EPOCH = 20
DEFAULT_BATCH_SIZE = 8
DEFAULT_N_TRIALS = 10
DEFAULT_SEEDS = DEFAULT_CONFIRM_SEEDS
SAMPLE_TILES = 6
LR_TEST_ATTR = "lr_range_test"
SIDE_MULTIPLE = 16  # the default U-Net has 4 stride-2 levels
RULE_LOST = "rule_objects_lost_at_train_size"


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune` found and where it wrote it."""

    run_dir: Path
    recommended: Recommended | None  # loss, params, lr, label, config_id
    confidence: Confidence  # level ("clear" / "tie" / "single" / "none"), margin, interval, explanation
    ranking: tuple[RankedConfig, ...]  # one entry per finalist, best confirmation IoU first
    study_name: str
    model: ModelUsed | None  # name, parameters
    storage: str  # redacted URL
    trials: int  # trials counted in the study
    result_path: Path
    report_path: Path | None
    verdict: Verdict | None = None  # kind, winner, recommended, tied, comparisons, order, explanation
    diagnostics: tuple[RankedConfig, ...] = ()  # finder-picked configurations, never ranked
    size_switch: dict | None = None  # set when tune followed the lost-objects rule to another training size
    outcome: TuneOutcome | None = None  # all of result.json, typed


def _check(name: str, value, ok: bool, expected: str) -> None:
    if not ok:
        raise ConfigError(f"The {name!r} option of tune must be {expected}; got {value!r}.")


def _loss_factory(ignore_index: int | None) -> Callable:
    from lossadvisor.losses import build_loss, get_spec

    def factory(name: str, params: dict):
        params = dict(params)
        if ignore_index is not None and any(p.name == "ignore_index" for p in get_spec(name).params):
            params.setdefault("ignore_index", ignore_index)
        return build_loss(name, **params)

    return factory


def _sample_indices(val_masks: np.ndarray, ignore_index: int | None) -> list[int]:
    """Validation tiles for samples.npz: those with foreground first (most interesting), then empty ones."""
    fg = [(m > 0) & (m != ignore_index) if ignore_index is not None else m > 0 for m in val_masks]
    order = sorted(range(len(val_masks)), key=lambda i: (not fg[i].any(), i))
    return order[:SAMPLE_TILES]


@releases_folder_locks
def tune(
    images: str | Path | None = None,
    masks: str | Path | None = None,
    *,
    train=None,
    val=None,
    out: str | Path | None = None,
    size: int | None = None,
    crop: int | None = None,
    epochs: int = DEFAULT_EPOCHS,
    steps_per_epoch: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    warmup_steps: int = 0,
    n_trials: int = DEFAULT_N_TRIALS,
    timeout: float | None = None,
    seeds: int = DEFAULT_SEEDS,
    folds: int = DEFAULT_FOLDS,
    finalists: int = DEFAULT_FINALISTS,
    margin: float = DEFAULT_MARGIN,
    storage: str | None = None,
    study_name: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    model: str | Callable | None = None,
    model_factory: str | Callable | None = None,
    class_map: str | Path | None = None,
    ignore_index: int | None = None,
    rules_config: str | Path | None = None,
    seed: int = 0,
    heartbeat: int = DEFAULT_HEARTBEAT_S,
    progress: bool = True,
    report: bool = True,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    command: str | None = None,
) -> TuneResult:
    """Profile the masks, advise, search with Optuna, confirm the finalists by paired k-fold runs, verdict.

    Args:
        images: Folder of images (grey or RGB PNG/JPEG/TIFF), paired with masks by file stem (default
            "images").
        masks: Folder of masks (default "masks").
        train: Instead of folders: a ``torch.utils.data.Dataset`` of ``(image, mask)`` items, or a pair
            ``(images, masks)`` of arrays, images ``(N, H, W[, C])`` and masks ``(N, H, W)`` (see
            ``lossadvisor/tune/_sources.py`` for the layouts). Needs ``out``.
        val: Validation data in the same form as ``train``; default: a stratified 20 % of ``train``.
        out: Run folder (default ``reports/<dataset-name>/``). Re-running with the same folder resumes.
        size: Side tiles are resized to (a multiple of 16 for the default U-Net). Default 128, or what the
            lost-objects rule asks for (native-resolution crops or a larger size) when it fires and neither
            ``size`` nor ``crop`` is given.
        crop: Train on random ``crop x crop`` windows at native resolution instead of resizing.
        epochs: Validations per run; each epoch is ``steps_per_epoch`` optimiser steps (confirmation runs
            take ``CONFIRM_STEP_FACTOR`` times as many steps per epoch).
        steps_per_epoch: Default: one pass over the training tiles, at least 20 steps.
        batch_size: Training batch size.
        warmup_steps: Linear learning-rate warm-up steps (0: none, like a plain training loop).
        n_trials: Search trials in the study (finished ones from an earlier run count).
        timeout: Seconds after which no new search trial starts (the confirmation still runs).
        seeds: Seeds per fold in the confirmation (each finalist gets ``folds x seeds`` paired runs).
        folds: Folds of the confirmation's stratified cross-validation (every tile validated once).
        finalists: Losses confirmed (the best configuration of each top loss; CE always among them).
        margin: Practical margin in IoU: a smaller mean gain is a tie whatever its interval.
        storage: Optuna storage URL: ``postgresql://user:pw@host/db`` for workers on many machines,
            ``journal:PATH`` for a few processes on one machine; default: SQLite ``<out>/study.db`` (one
            process). Every worker started with the same storage and study shares the budget and the work.
        study_name: Study name in the storage (default "lossadvisor"; confirmation runs go to
            ``<name>:confirm``).
        device: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".
        threads: Torch CPU threads (default: all cores if the machine is idle, else the free ones).
        model: The network the trials train: "compact" (default, :class:`CompactUNet`), "monai-unet",
            "monai-segresnet", a ``"MODULE:CALLABLE"`` string (``"mynet:build"``, ``"./mynet.py:build"``) or a
            callable ``(in_channels, num_classes) -> nn.Module`` returning logits ``(N, C, H, W)``. It is run
            once on a small batch before anything is written, and refused if it fails or its output shape is
            wrong.
        model_factory: The same as ``model`` (its name before ``--model`` existed).
        class_map: Class map for colour-coded masks (JSON/CSV), as for ``lossadvisor profile``.
        ignore_index: Mask value to ignore (e.g. 255 on boundaries).
        rules_config: TOML file of rule thresholds, as for ``lossadvisor advise``.
        seed: Seed of the split, the folds, the sampler, every run and the bootstrap (worker k of a shared
            study samples from a seed derived from it).
        heartbeat: Seconds between a worker's heartbeats on shared storage; a trial or run silent for four
            heartbeats is taken for a dead worker's, failed and re-run by a live worker.
        progress: Show progress bars.
        report: Build ``report.html`` at the end.
        max_pixels: Largest mask (pixels) read; larger files are skipped with a message naming this option
            (None: no limit).
        command: The command line to record in ``run.json`` (the CLI passes what the user typed, passwords
            redacted); default: rebuilt from these arguments.

    Returns:
        A :class:`TuneResult`; the run folder holds run.json, study.db, trials.csv, epochs.csv,
        confirmation.csv, confirmation_tiles.csv, diagnostics.csv, lr_range_test.json, result.json,
        samples.npz and report.html.

    Raises:
        ConfigError: A bad option (the message names it); ``ModelError`` for a model that cannot be imported,
            raises, or returns the wrong shape.
        DataError: Missing folders or no usable pairs.
        StudyMismatchError: The run folder's study was made from other data or settings (checked before
            anything is written, so a finished run is never touched).
        RunFolderBusyError: Another live process is running tune in the same run folder.
        KeyboardInterrupt: On Ctrl-C or SIGTERM (a :class:`Terminated`), after marking the running trial and
            ``run.json`` as interrupted.

    Example:
        >>> result = tune("examples/buildings/images", "examples/buildings/masks",
        ...               out="reports/buildings")  # doctest: +SKIP
        >>> result.recommended.loss, result.confidence.level  # doctest: +SKIP
        ('ce', 'tie')
    """
    _check(
        "size",
        size,
        size is None or (isinstance(size, int) and size >= SIDE_MULTIPLE),
        f"None or an integer >= {SIDE_MULTIPLE}",
    )
    side = crop or size or DEFAULT_SIZE
    if model is not None and model_factory is not None:
        raise ConfigError("Give the model once: 'model' and 'model_factory' are the same option of tune.")
    spec = resolve_model(model if model is not None else model_factory)
    _check(
        "crop",
        crop,
        crop is None or (isinstance(crop, int) and crop >= SIDE_MULTIPLE),
        f"None or an integer >= {SIDE_MULTIPLE}",
    )
    if spec.side_multiple and side % spec.side_multiple:
        m = spec.side_multiple
        raise ConfigError(
            f"The {'crop' if crop else 'size'} option of tune must be a multiple of {m} for the model "
            f"{spec.name!r}; got {side}. Try {side // m * m or m}."
        )
    for name, value in (
        ("epochs", epochs),
        ("n_trials", n_trials),
        ("seeds", seeds),
        ("batch_size", batch_size),
    ):
        _check(name, value, isinstance(value, int) and value >= 1, "an integer >= 1")
    _check("folds", folds, isinstance(folds, int) and folds >= 2, "an integer >= 2")
    _check("finalists", finalists, isinstance(finalists, int) and finalists >= 2, "an integer >= 2")
    _check("margin", margin, isinstance(margin, (int, float)) and 0 <= margin < 1, "a number in [0, 1)")
    _check(
        "steps_per_epoch", steps_per_epoch, steps_per_epoch is None or steps_per_epoch >= 1, "None or >= 1"
    )
    _check(
        "warmup_steps", warmup_steps, isinstance(warmup_steps, int) and warmup_steps >= 0, "an integer >= 0"
    )
    _check("timeout", timeout, timeout is None or timeout > 0, "None or a positive number of seconds")
    _check("heartbeat", heartbeat, isinstance(heartbeat, int) and heartbeat >= 1, "an integer >= 1 (seconds)")

    import optuna

    from lossadvisor.io import DEFAULT_IGNORE_INDEX, read_mask, resolve_class_map
    from lossadvisor.profile import default_run_dir, write_outputs
    from lossadvisor.rules import recommend

    # Phase 1: read and validate everything; nothing is written to the run folder yet, so a refused run
    # (other data, other settings, a bad storage URL) leaves a finished run exactly as it was.
    cmap = resolve_class_map(class_map)
    # Pixels a class map marks void/ignore come back as DEFAULT_IGNORE_INDEX (as in the profile); training
    # must ignore the same pixels, or the loss sees 255 as a class index.
    train_ignore = ignore_index
    if train_ignore is None and cmap is not None and cmap.ignore_keys:
        train_ignore = DEFAULT_IGNORE_INDEX
    source = load_source(
        images, masks, train=train, val=val, out=out, side=side, class_map=cmap,
        ignore_index=ignore_index, progress=progress, max_pixels=max_pixels,
    )  # fmt: skip
    profile, per_image = source.profile, source.per_image
    run_dir = Path(out) if out is not None else Path(default_run_dir(source.masks))
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"The 'out' option of tune must be a folder; {display_path(run_dir)} is a file.")
    if run_dir.is_dir():
        hold_folder(run_dir)  # one process per run folder: a second one is refused before any write
    rec = recommend(profile, config=rules_config)
    base_space = SearchSpace(rec.search_space, starting_points={c.loss: c.params for c in rec.candidates})
    size_switch = None
    if size is None and crop is None:
        size_switch = follow_size_advice(profile, rec, multiple=spec.side_multiple or SIDE_MULTIPLE)
        if size_switch is not None:
            size, crop = size_switch["size"], size_switch["crop"]
            side = crop or size
            logger.warning("%s", size_switch["message"])
    size = size or DEFAULT_SIZE
    choice = resolve_device(device, threads=threads)
    num_classes = max(2, profile.num_classes)
    model_info = check_model(
        spec,
        in_channels=source.channels,
        out_channels=1 if num_classes == 2 else num_classes,
        side=side,
        device=choice.name,
    )

    def read(p):
        return read_mask(p, class_map=cmap, ignore_index=ignore_index, max_pixels=max_pixels).labels

    data_settings = {"class_map": cmap.digest() if cmap is not None else None}
    if source.in_memory is not None:
        data = train_data_from_memory(
            *source.in_memory, size=size, crop=crop, seed=seed, ignore_index=train_ignore
        )
    else:
        data = build_train_data(
            source.pairing.pairs,
            read_mask=read,
            cache_dir=run_dir / runfolder.CACHE_DIR,
            fingerprint=profile.fingerprint,
            size=size,
            crop=crop,
            seed=seed,
            ignore_index=train_ignore,
            key_settings=data_settings,
            save=False,
        )
    steps = steps_per_epoch or max(MIN_STEPS_PER_EPOCH, math.ceil(len(data.train_images) / batch_size))
    storage_url = storage or default_storage_url(run_dir)
    storage_label = redact_url(storage) if storage else display_path(run_dir / STUDY_DB)
    name = study_name or DEFAULT_STUDY_NAME
    settings = {
        "images": display_path(source.images) if source.images is not None else None,
        "masks": display_path(source.masks) if source.masks is not None else None,
        "data": source.description,
        "out": display_path(run_dir),
        "size": size,
        "crop": crop,
        "epochs": epochs,
        "steps_per_epoch": steps,
        "batch_size": batch_size,
        "warmup_steps": warmup_steps,
        "n_trials": n_trials,
        "timeout": timeout,
        "seeds": seeds,
        "folds": folds,
        "finalists": finalists,
        "margin": margin,
        "confirm_step_factor": CONFIRM_STEP_FACTOR,
        "storage": storage,
        "study_name": name,
        "device": device,
        "threads": threads,
        "seed": seed,
        "class_map": display_path(class_map) if isinstance(class_map, (str, Path)) else None,
        "ignore_index": ignore_index,
        "rules_config": display_path(rules_config) if rules_config else None,
        "max_pixels": max_pixels,
        "report": report,
        "model": model_info.name,
        "size_switch": size_switch,
    }
    objective_settings = {
        k: settings[k]
        for k in (
            "size",
            "crop",
            "epochs",
            "steps_per_epoch",
            "batch_size",
            "warmup_steps",
            "seed",
            "folds",
            "confirm_step_factor",
        )
    } | {"model": model_info.name, "model_parameters": model_info.parameters}
    clock = {"start": time.monotonic()}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        rdb = None
        if storage is not None or (run_dir / STUDY_DB).is_file():
            rdb = open_storage(storage_url, label=storage_label)
            check_study(
                rdb,
                study_name=name,
                fingerprint=profile.fingerprint,
                objective_settings=objective_settings,
                storage_label=storage_label,
            )
        env = environment(choice.name, choice.threads)

        # Phase 2: the run starts. From here on run.json says how it ends (complete, interrupted, failed).
        run_dir.mkdir(parents=True, exist_ok=True)
        hold_folder(run_dir)
        write_outputs(profile, per_image, run_dir)
        rec.save(run_dir / runfolder.RECOMMENDATION_JSON)
        record = RunRecord(
            run_dir,
            settings=settings,
            command=command,
            storage_url=storage_url if storage else DEFAULT_STORAGE_LABEL,
            study_name=name,
            fingerprint=profile.fingerprint,
            env=env,
            left_out=source.left_out + [safe_text(s) for s in data.skipped],
            model=model_info.to_dict(),
        )
        study = None
        diag_records: list[dict] = []
        bars = Progress(enabled=progress)
        clock["prepared"] = time.monotonic()
        with sigterm_as_interrupt():
            try:
                save_cache(data)
                session = Session.open(
                    storage_url,
                    name,
                    fingerprint=profile.fingerprint,
                    objective_settings=objective_settings,
                    definition=rec.to_dict(),
                    storage_label=storage_label,
                    heartbeat_s=None if storage is None else heartbeat,
                    own_sqlite=storage is None,
                )
                study = session.study
                rec, base_space = _adopt_definition(session, rec, base_space, run_dir)
                cstudy = session.companion(confirm_study_name(name))
                if storage is None:
                    session.requeue_running(cstudy)
                ctx = RunContext(
                    data=data,
                    num_classes=num_classes,
                    loss_factory=_loss_factory(train_ignore),
                    device=choice,
                    epochs=epochs,
                    steps_per_epoch=steps,
                    batch_size=batch_size,
                    warmup_steps=warmup_steps,
                    seed=seed,
                    preds_dir=run_dir / runfolder.CACHE_DIR / f"preds_{name}",
                    sample_indices=_sample_indices(data.val_masks, train_ignore),
                    model_factory=spec.factory,
                    ignore_index=train_ignore,
                    files=session.files,
                )
                shared = (
                    runfolder.PROFILE_JSON, runfolder.PER_IMAGE_CSV, runfolder.RECOMMENDATION_JSON,
                    runfolder.RUN_JSON,
                )  # fmt: skip
                session.share_run_files(run_dir, shared, replace=False)
                lr_results = _lr_range_tests(session, base_space, ctx, run_dir)
                suggestions = {r["loss"]: r["suggested_lr"] for r in lr_results if r.get("suggested_lr")}
                entries, lr_note = equal_lr_ranges(list(base_space.entries.values()), suggestions.values())
                space = SearchSpace(entries, starting_points=base_space.starting_points)
                # Each worker (and each resume) samples from its own seed, and the constant liar makes TPE
                # treat the other workers' running trials as taken: no two workers train one configuration.
                study.sampler = _sampler(
                    session.worker.sampler_seed(seed), n_startup_trials=len(space.losses) + 2
                )
                # No pruning before half the epochs (Dice-family losses start slower than CE) nor before every
                # loss's default trial has finished, so each candidate gets one full run to set the median.
                study.pruner = optuna.pruners.MedianPruner(
                    n_startup_trials=len(space.losses), n_warmup_steps=max(1, epochs // 2)
                )
                clock["lr_tests"] = time.monotonic()
                with session.lock():  # exactly once per study, whatever the number of workers
                    enqueue_defaults(study, space, limit=n_trials - counted_trials(study))
                bars.start_search(total=n_trials, done=counted_trials(study))

                def after_trial(trial) -> None:  # keep trials.csv / epochs.csv current for a report mid-study
                    bars.trial_done(trial)
                    write_tables(run_dir, study)

                def search(limit: float | None = None) -> int:
                    return run_search(
                        study, space, ctx, n_trials=n_trials, timeout=limit, on_trial=after_trial,
                        claim=lambda: session.claim(n_trials), beat=session.beat,
                    )  # fmt: skip

                search(timeout)
                # other workers' trials still running: wait, re-running those of dead workers (unless out of
                # time), so that every worker picks the finalists from the same finished trials
                session.wait_for_search(n_trials, run_more=None if timeout else search)
                bars.close()
                clock["search"] = time.monotonic()
                diag = diagnostic_configs(space, suggestions)
                bars.start_runs(total=len(diag) * DIAGNOSTIC_SEEDS, desc="diagnostic runs")
                diag_records = run_diagnostics(study, diag, ctx, on_run=bars.run_done, queue=session.tasks)
                bars.close()
                clock["diagnostics"] = time.monotonic()
                picks = finalists_from_json(  # chosen once, by the first worker here, for every worker
                    session.once(
                        PLAN_ATTR,
                        lambda: finalists_to_json(select_finalists(study, space, max_finalists=finalists)),
                    )
                )
                fold_data = (
                    fold_data_from_memory(
                        *source.in_memory,
                        size=size,
                        crop=crop,
                        folds=folds,
                        seed=seed,
                        ignore_index=train_ignore,
                    )
                    if source.in_memory is not None
                    else build_fold_data(
                        source.pairing.pairs,
                        read_mask=read,
                        cache_dir=run_dir / runfolder.CACHE_DIR,
                        fingerprint=profile.fingerprint,
                        size=size,
                        crop=crop,
                        folds=folds,
                        seed=seed,
                        ignore_index=train_ignore,
                        key_settings=data_settings,
                    )
                )
                contexts = [
                    replace(ctx, data=d, steps_per_epoch=steps * CONFIRM_STEP_FACTOR, timings=ctx.timings)
                    for d in fold_data
                ]
                with session.lock():  # every unit enqueued once, whatever the number of workers
                    enqueue_units(cstudy, picks, folds=folds, seeds=seeds)
                bars.start_runs(total=len(picks) * folds * seeds, desc="confirmation runs")
                bars.advance(len(collect(cstudy, picks)[0]))

                def confirm() -> int:  # each unit to exactly one worker, with a heartbeat while it trains
                    return run_units(
                        cstudy, picks, contexts, base_seed=seed, on_run=bars.run_done,
                        take=lambda: session.take(cstudy), beat=session.beat,
                    )  # fmt: skip

                confirm()
                session.wait_idle(cstudy, confirm)  # the others' units, and any a dead worker left
                bars.close()
                clock["confirmation"] = time.monotonic()
                confirm_records, finalist_runs, tiles = collect(cstudy, picks)
                verdict = decide(finalist_runs, margin=margin, seed=seed)
                ranking = finalist_ranking(
                    list(zip(picks, finalist_runs, strict=True)), verdict, confirm_records
                )
                diagnostics = summarise(diag_records)
                write_tables(
                    run_dir, study, diagnostics=diag_records, confirmation=confirm_records, tiles=tiles
                )
                search_info = {
                    "lr_range": list(next(iter(space.entries.values())).lr_range),
                    "lr_ranges": {loss: list(e.lr_range) for loss, e in space.entries.items()},
                    "lr_range_note": lr_note,
                    "trials": counted_trials(study),
                    "pruner": "median (after every loss's default trial and half the epochs)",
                }
                training = {
                    "steps_per_search_trial": epochs * steps,
                    "steps_per_confirmation_run": epochs * steps * CONFIRM_STEP_FACTOR,
                    "confirm_step_factor": CONFIRM_STEP_FACTOR,
                    "folds": folds,
                    "seeds_per_fold": seeds,
                    "finalists": [f.entry for f in picks],
                    "confirmation_runs": len(confirm_records),
                    "size_switch": size_switch,
                }
                result_path = write_result(
                    run_dir, study, ranking=ranking, verdict=verdict, diagnostics=diagnostics,
                    records=confirm_records, rec=rec, training=training, search=search_info, ctx=ctx,
                    contexts=contexts, finalist_trials={f.entry: f.search_trial for f in picks},
                    model=model_info.to_dict(),
                )  # fmt: skip
                clock["end"] = time.monotonic()
                record.finish("complete", trials=counted_trials(study), timings=_timings(ctx, clock))
                shared = (
                    runfolder.RESULT_JSON, runfolder.SAMPLES_NPZ, runfolder.LR_RANGE_TEST_JSON,
                    runfolder.RUN_JSON,
                )  # fmt: skip
                session.share_run_files(run_dir, shared, replace=True)
            except KeyboardInterrupt as exc:
                bars.close()
                if study is not None:
                    write_tables(run_dir, study, diagnostics=diag_records)
                why = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
                record.finish(
                    "interrupted",
                    reason=why,
                    trials=counted_trials(study) if study is not None else None,
                )
                raise
            except Exception as exc:  # a bug or a lost database: say so in run.json, then let it surface
                bars.close()
                record.finish(
                    "failed",
                    error=safe_text(scrub(f"{type(exc).__name__}: {exc}", storage_url, storage_label)),
                )
                raise
    finally:
        optuna.logging.set_verbosity(verbosity)
    report_path = None
    if report:  # after run.json says "complete", so the report does not show a running study
        from lossadvisor.report import build_report

        report_path = Path(build_report(run_dir))
    outcome = TuneOutcome.load(result_path)  # the record just written: TuneResult carries what the file says
    return TuneResult(
        run_dir=run_dir,
        recommended=outcome.recommended,
        confidence=outcome.confidence,
        ranking=outcome.ranking,
        study_name=name,
        model=outcome.model or ModelUsed.from_dict(model_info.to_dict()),
        storage=storage_label if storage else DEFAULT_STORAGE_LABEL,
        trials=counted_trials(study),
        result_path=result_path,
        report_path=report_path,
        verdict=outcome.verdict,
        diagnostics=outcome.diagnostics,
        size_switch=size_switch,
        outcome=outcome,
    )


def follow_size_advice(profile, rec, *, multiple: int = SIDE_MULTIPLE) -> dict | None:
    """When the lost-objects rule fires, the training size it asks for: native-resolution crops of
    :data:`DEFAULT_SIZE` (smaller when a tile is smaller), or the larger resize size it names, both rounded to
    a ``multiple`` the model accepts.

    Returns None when the rule does not fire (or the tiles are too small to crop).
    """
    from lossadvisor.rules import training_size_advice

    advice = training_size_advice(profile, rec.thresholds)
    if advice is None:
        return None
    why = (
        f"at {advice.profiled_size} px, {advice.measured_share:.0%} of objects fall under 4 px across "
        f"({RULE_LOST})"
    )
    keep = "Pass --size or --crop to choose."
    if advice.size is not None:
        size = int(math.ceil(advice.size / multiple) * multiple)
        message = f"Training at {size} px instead of {DEFAULT_SIZE}: {why}. {keep}"
        return {"size": size, "crop": None, "rule": RULE_LOST, "message": message}
    smallest = int(min(profile.image_height.min, profile.image_width.min))
    crop = min(DEFAULT_SIZE, smallest // multiple * multiple)
    if crop < multiple:
        return None
    message = (
        f"Training on native-resolution {crop}x{crop} crops instead of resizing tiles to {DEFAULT_SIZE} px: "
        f"{why}. {keep}"
    )
    return {"size": DEFAULT_SIZE, "crop": crop, "rule": RULE_LOST, "message": message}


def _lr_range_tests(session: Session, space: SearchSpace, ctx: RunContext, run_dir: Path) -> list[dict]:
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
    write_json(run_dir / runfolder.LR_RANGE_TEST_JSON, {"tests": results})
    return results


def _sampler(seed: int, *, n_startup_trials: int):
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials, constant_liar=True)


def _adopt_definition(session: Session, rec, space: SearchSpace, run_dir: Path):
    """The study's stored recommendation (made by its first worker) and its search space, for this worker.

    Workers of one study must search one space; a worker whose own advice differs (another --rules-config,
    another lossadvisor version) follows the study and says so.
    """
    from lossadvisor.rules import Recommendation

    stored = session.definition
    if not stored or stored == rec.to_dict():
        return rec, space
    adopted = Recommendation.from_dict(stored)
    if adopted.search_space != rec.search_space:
        logger.warning(
            "This worker's advice differs from the one study %r was created with; it searches the study's "
            "space (%s) so that all workers compare the same candidates.",
            session.name,
            ", ".join(entry.loss for entry in adopted.search_space),
        )
    adopted.save(run_dir / runfolder.RECOMMENDATION_JSON)
    starts = {c.loss: c.params for c in adopted.candidates}
    return adopted, SearchSpace(adopted.search_space, starting_points=starts)


def _timings(ctx: RunContext, clock: dict) -> dict:
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
    return {
        "train_s": round(t["train_s"], 2),
        "data_share": t["data_s"] / t["train_s"] if t["train_s"] else None,
        "images_per_s": t["images"] / t["train_s"] if t["train_s"] else None,
        "runs": t["runs"],
        "phases": phases,
    }
