"""``tune``: profile, advise, search with Optuna, confirm the finalists by paired cross-validation, verdict.

Everything is stored as it finishes (trials in the study, confirmation runs as trials of its companion study,
diagnostic runs in its user attributes, the decoded data in ``cache/``), so a re-run with the same folder
resumes: finished work is read back, only the rest runs. The work itself is done by the phases in
``lossadvisor/tune/_phases/`` (one module each); :func:`tune` validates its arguments and calls them in order.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
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
from lossadvisor.errors import ConfigError, OutputWriteError
from lossadvisor.tune._options import SIDE_MULTIPLE, TuneOptions
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
from lossadvisor.tune._phases.advise import DEFAULT_SIZE, RULE_LOST, follow_size_advice
from lossadvisor.tune._phases.plan import MIN_STEPS_PER_EPOCH
from lossadvisor.tune._phases.plan import loss_factory as _loss_factory
from lossadvisor.tune._phases.search import LR_TEST_ATTR
from lossadvisor.tune._phases.search import lr_range_tests as _lr_range_tests
from lossadvisor.tune._phases.start import SAMPLE_TILES
from lossadvisor.tune._progress import Progress
from lossadvisor.tune._signals import Terminated, sigterm_as_interrupt
from lossadvisor.tune.outputs import write_tables
from lossadvisor.tune.study import (
    DEFAULT_STORAGE_LABEL,
    counted_trials,
    releases_folder_locks,
    scrub,
)
from lossadvisor.tune.training import resolve_model

__all__ = [
    "DEFAULT_SIZE", "LR_TEST_ATTR", "MIN_STEPS_PER_EPOCH", "RULE_LOST", "SAMPLE_TILES", "SIDE_MULTIPLE",
    "TuneResult", "follow_size_advice", "tune",
]  # fmt: skip

@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune` found and where it wrote it."""

    run_dir: Path
    recommended: Recommended | None  # loss, params, lr, label, config_id
    confidence: Confidence  # level (the verdict kind: clear / equivalent / undecided / ...), explanation
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


def _finish_failed(record, error: str) -> None:
    """Mark run.json failed with ``error``; on a disk too full for that as well, say so and go on (the error
    being raised is the one to show)."""
    try:
        record.finish("failed", error=error)
    except OutputWriteError as exc:
        logging.getLogger(__name__).warning("run.json could not be updated either: %s", exc)


def _resolve_model(opts: TuneOptions, model_factory):
    """The model spec of the run, refused by name when it cannot train at the run's tile side (the options
    themselves were checked when the record was made)."""
    if opts.model is not None and model_factory is not None:
        raise ConfigError("Give the model once: 'model' and 'model_factory' are the same option of tune.")
    spec = resolve_model(opts.model if opts.model is not None else model_factory)
    side = opts.crop or opts.size or DEFAULT_SIZE
    if spec.side_multiple and side % spec.side_multiple:
        m = spec.side_multiple
        raise ConfigError(
            f"The {'crop' if opts.crop else 'size'} option of tune must be a multiple of {m} for the model "
            f"{spec.name!r}; got {side}. Try {side // m * m or m}."
        )
    return spec


def _options(images, masks, options: TuneOptions | None, keywords: dict) -> TuneOptions:
    """One record from the ``options`` given (or the defaults), the folders and any option keywords."""
    base = options if options is not None else TuneOptions()
    given = {k: v for k, v in (("images", images), ("masks", masks)) if v is not None}
    return TuneOptions.from_keywords({**base.to_dict(), **given, **keywords})


@releases_folder_locks
def tune(
    images: str | Path | None = None,
    masks: str | Path | None = None,
    *,
    train=None,
    val=None,
    model_factory: str | Callable | None = None,
    progress: bool = True,
    command: str | None = None,
    options: TuneOptions | None = None,
    **keywords,
) -> TuneResult:
    """Profile the masks, advise, search with Optuna, confirm the finalists by paired k-fold runs, verdict.

    Args:
        images: Folder of images (grey or RGB PNG/JPEG/TIFF), paired with masks by file stem (default
            "images").
        masks: Folder of masks (default "masks").
        train: Instead of folders: a ``torch.utils.data.Dataset`` of ``(image, mask)`` items, or a pair
            ``(images, masks)`` of arrays, images ``(N, H, W[, C])`` and masks ``(N, H, W)`` (see
            ``lossadvisor/tune/data/_sources.py`` for the layouts). Needs ``out``.
        val: Validation data in the same form as ``train``; default: a stratified 20 % of ``train``.
        model_factory: The same as the ``model`` option (its name before ``--model`` existed).
        progress: Show progress bars.
        command: The command line to record in ``run.json`` (the CLI passes what the user typed, passwords
            redacted); default: rebuilt from the options.
        options: A :class:`TuneOptions` record; keywords given as well override its fields.
        **keywords: Any option of :class:`TuneOptions`, by name (listed below). ``model`` also takes a
            callable ``(in_channels, num_classes) -> nn.Module`` returning logits ``(N, C, H, W)``, and
            ``class_map`` a ``ClassMap``; the model is run once on a small batch before anything is written,
            and refused if it fails or its output shape is wrong. ``max_pixels=None``: no limit.

    Options (the fields of :class:`TuneOptions`; the CLI flag in brackets):
{options}

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
    opts = _options(images, masks, options, keywords)
    spec = _resolve_model(opts, model_factory)

    import optuna

    # Nothing is written before the run is known to be valid: plan reads the data and settings and checks the
    # study, so a refused run (other data, other settings, a bad storage URL) leaves a finished run as it was.
    tc = plan.plan(
        opts, train=train, val=val, spec=spec, progress=progress, command=command, make_loss=_loss_factory
    )
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
                _finish_failed(
                    record, safe_text(scrub(f"{type(exc).__name__}: {exc}", tc.storage_url, tc.storage_label))
                )
                raise
    finally:
        optuna.logging.set_verbosity(verbosity)
    try:
        report_path = report_phase.build(tc)
    except Exception as exc:  # run.json said "complete": a run without its report is not, so it says why
        _finish_failed(record, safe_text(f"report.html could not be built: {type(exc).__name__}: {exc}"))
        raise
    outcome = TuneOutcome.load(result_path)  # the record just written: TuneResult carries what the file says
    return TuneResult(
        run_dir=tc.run_dir,
        recommended=outcome.recommended,
        confidence=outcome.confidence,
        ranking=outcome.ranking,
        study_name=tc.name,
        model=outcome.model or ModelUsed.from_dict(tc.model_info.to_dict()),
        storage=tc.storage_label if opts.storage else DEFAULT_STORAGE_LABEL,
        trials=counted_trials(study),
        result_path=result_path,
        report_path=report_path,
        verdict=outcome.verdict,
        diagnostics=outcome.diagnostics,
        size_switch=tc.size_switch,
        outcome=outcome,
    )


def _options_doc() -> str:
    """The options part of :func:`tune`'s docstring, from the record (so it cannot drift from the CLI)."""
    import textwrap

    lines = []
    for f in dataclasses.fields(TuneOptions):
        flag = f" [{f.metadata['flag']}]" if f.metadata["flag"] else ""
        text = f"{f.name} (default {f.default!r}){flag}: {f.metadata['help']}"
        lines += textwrap.wrap(text, 110, initial_indent=" " * 8, subsequent_indent=" " * 12)
    return "\n".join(lines)


def _signature() -> inspect.Signature:
    """:func:`tune`'s signature with every option as a keyword and its default (for ``help()`` and IDEs)."""
    params = [p for p in inspect.signature(tune.__wrapped__).parameters.values() if p.kind != p.VAR_KEYWORD]
    named = {p.name for p in params}
    for f in dataclasses.fields(TuneOptions):
        if f.name not in named:
            params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default))
    return inspect.Signature(params, return_annotation="TuneResult")


tune.__doc__ = (tune.__doc__ or "").replace("{options}", _options_doc())
tune.__signature__ = _signature()
