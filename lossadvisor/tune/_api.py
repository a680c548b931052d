"""``tune``: profile, advise, search with Optuna, confirm the finalists by paired cross-validation, verdict.

Everything is stored as it finishes (trials in the study, confirmation runs as trials of its companion study,
diagnostic runs in its user attributes, the decoded data in ``cache/``), so a re-run with the same folder
resumes: finished work is read back, only the rest runs. The work itself is done by the phases in
``lossadvisor/tune/_phases/`` (one module each); :func:`tune` validates its arguments and calls them in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lossadvisor._run_records import (
    Confidence,
    ModelUsed,
    RankedConfig,
    Recommended,
    TuneOutcome,
    Verdict,
)
from lossadvisor._text import safe_text
from lossadvisor.errors import ConfigError
from lossadvisor.io import DEFAULT_MAX_PIXELS
from lossadvisor.tune._phases import (
    confirmation,
    plan,
    search,
    start,
)
from lossadvisor.tune._phases import (
    report as report_phase,
)
from lossadvisor.tune._phases import (
    result as result_phase,
)
from lossadvisor.tune._phases.advise import DEFAULT_SIZE, RULE_LOST, SIDE_MULTIPLE, follow_size_advice
from lossadvisor.tune._phases.plan import MIN_STEPS_PER_EPOCH
from lossadvisor.tune._phases.plan import loss_factory as _loss_factory
from lossadvisor.tune._phases.search import LR_TEST_ATTR
from lossadvisor.tune._phases.search import lr_range_tests as _lr_range_tests
from lossadvisor.tune._phases.start import SAMPLE_TILES
from lossadvisor.tune._progress import Progress
from lossadvisor.tune._signals import Terminated, sigterm_as_interrupt
from lossadvisor.tune.confirm import DEFAULT_CONFIRM_SEEDS, DEFAULT_FINALISTS, DEFAULT_MARGIN
from lossadvisor.tune.data import DEFAULT_FOLDS
from lossadvisor.tune.outputs import write_tables
from lossadvisor.tune.search import counted_trials
from lossadvisor.tune.study import DEFAULT_HEARTBEAT_S, DEFAULT_STORAGE_LABEL, releases_folder_locks, scrub
from lossadvisor.tune.training import resolve_model

__all__ = [
    "DEFAULT_SIZE", "LR_TEST_ATTR", "MIN_STEPS_PER_EPOCH", "RULE_LOST", "SAMPLE_TILES", "SIDE_MULTIPLE",
    "TuneResult", "follow_size_advice", "tune",
]  # fmt: skip

# CPU defaults, so `make example` (31 tiles, 128 px) stays within about 10 minutes on 2 cores, with most of
# the time where the verdict is decided: a search of 10 trials of 6 epochs x >= 20 steps (120 AdamW steps,
# pruned by the median rule), then 3 finalists x 3 folds x 2 seeds = 18 confirmation runs of twice those steps
# (240), and 2 x 2 diagnostic runs at the search budget. See README ("Time allocation").
DEFAULT_EPOCHS = 6
DEFAULT_BATCH_SIZE = 8
DEFAULT_N_TRIALS = 10
DEFAULT_SEEDS = DEFAULT_CONFIRM_SEEDS


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


def _check_options(
    *, size, crop, model, model_factory, epochs, n_trials, seeds, batch_size, folds, finalists, margin,
    steps_per_epoch, warmup_steps, timeout, heartbeat,
):  # fmt: skip
    """Refuse a bad option of :func:`tune` by name, before any data is read; return the resolved model."""
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
    return spec


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
    spec = _check_options(
        size=size, crop=crop, model=model, model_factory=model_factory, epochs=epochs, n_trials=n_trials,
        seeds=seeds, batch_size=batch_size, folds=folds, finalists=finalists, margin=margin,
        steps_per_epoch=steps_per_epoch, warmup_steps=warmup_steps, timeout=timeout, heartbeat=heartbeat,
    )  # fmt: skip

    import optuna

    # Nothing is written before the run is known to be valid: plan reads the data and settings and checks the
    # study, so a refused run (other data, other settings, a bad storage URL) leaves a finished run as it was.
    tc = plan.plan(
        images, masks, train=train, val=val, out=out, spec=spec, size=size, crop=crop, epochs=epochs,
        steps_per_epoch=steps_per_epoch, batch_size=batch_size, warmup_steps=warmup_steps, n_trials=n_trials,
        timeout=timeout, seeds=seeds, folds=folds, finalists=finalists, margin=margin, storage=storage,
        study_name=study_name, device=device, threads=threads, class_map=class_map, ignore_index=ignore_index,
        rules_config=rules_config, seed=seed, heartbeat=heartbeat, progress=progress, report=report,
        max_pixels=max_pixels, command=command, make_loss=_loss_factory,
    )  # fmt: skip
    clock = {"start": time.monotonic()}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        plan.refuse_mismatch(tc)
        record = start.start_run(tc)  # from here on run.json says how the run ends
        study = live = None
        bars = Progress(enabled=progress)
        clock["prepared"] = time.monotonic()
        with sigterm_as_interrupt():
            try:
                session = start.open_session(tc)
                study = session.study
                live = start.join(tc, session, record, bars, clock)
                lr_results = _lr_range_tests(session, live.base_space, live.run, tc.run_dir)
                searched = search.search(tc, live, lr_results)
                search.diagnostics(live, searched)
                confirmed = confirmation.confirm(tc, live, searched)
                result_path = result_phase.write_outcome(tc, live, searched, confirmed)
            except KeyboardInterrupt as exc:
                bars.close()
                if study is not None:
                    write_tables(tc.run_dir, study, diagnostics=live.diag_records if live else [])
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
                    error=safe_text(scrub(f"{type(exc).__name__}: {exc}", tc.storage_url, tc.storage_label)),
                )
                raise
    finally:
        optuna.logging.set_verbosity(verbosity)
    report_path = report_phase.build(tc)
    outcome = TuneOutcome.load(result_path)  # the record just written: TuneResult carries what the file says
    return TuneResult(
        run_dir=tc.run_dir,
        recommended=outcome.recommended,
        confidence=outcome.confidence,
        ranking=outcome.ranking,
        study_name=tc.name,
        model=outcome.model or ModelUsed.from_dict(tc.model_info.to_dict()),
        storage=tc.storage_label if storage else DEFAULT_STORAGE_LABEL,
        trials=counted_trials(study),
        result_path=result_path,
        report_path=report_path,
        verdict=outcome.verdict,
        diagnostics=outcome.diagnostics,
        size_switch=tc.size_switch,
        outcome=outcome,
    )
