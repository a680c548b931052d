"""The confirmation phase: the finalists re-trained as a race of paired k-fold repetitions (:mod:`._race`).

Finalists are the best configuration of each of the top losses of the search, plain CE always among them.
Every finalist is trained on the same partitions and folds (stratified, every tile validated once per
repetition, a fresh partition per repetition), so the verdict compares them pairwise.

Each run is one unit of work (:class:`~._race.Unit`: finalist, level, repetition, fold) with a stable key,
stored as one trial of a companion Optuna study (``<study>:confirm``) in the same storage: the units of
the race's next repetition are enqueued as waiting trials, a worker takes one (the storage switches a
waiting trial to running for one worker only) and stores its result, with the run's record and its per-tile
counts in the trial's user attributes. An interrupted run is marked failed ("interrupted") and enqueued
again on resume; finished runs are read back, never re-trained.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from lossadvisor.runfolder import COLLAPSE, is_collapse
from lossadvisor.tune._signals import deferred_interrupts
from lossadvisor.tune.confirm._race import DEFAULT_MIN_REPS, LEVEL_FACTOR, Unit
from lossadvisor.tune.confirm._verdict import FinalistRuns, foreground_iou
from lossadvisor.tune.search import BASELINE_LOSS, SearchSpace
from lossadvisor.tune.study import INTERRUPTED, NOT_COUNTED
from lossadvisor.tune.training import (
    DEFAULT_METRIC,
    Configuration,
    RunContext,
    config_id,
    describe,
    foreground_score,
    jsonable_params,
    outcome_summary,
)

logger = logging.getLogger(__name__)

CONFIRM_STEP_FACTOR = LEVEL_FACTOR  # each level of the race trains twice the steps of the one below
DEFAULT_FINALISTS = 3  # losses re-trained in the confirmation (CE always among them)
DEFAULT_CONFIRM_SEEDS = DEFAULT_MIN_REPS  # repetitions per level: 2 x 3 folds = 6 paired runs per finalist
UNIT_ATTR = "unit"
RECORD_ATTR = "record"
COUNTS_ATTR = "counts"


@dataclass(frozen=True)
class Finalist:
    """A configuration re-trained in the confirmation, and what the search said of it."""

    entry: str  # stable id of this finalist (its config_id; an A/A check enters one config under two ids)
    label: str
    config: Configuration
    search_value: float | None  # best search trial's IoU (None when the loss had no finished trial)
    search_trial: int | None


def run_seed(base_seed: int, unit: Unit) -> int:
    """The torch/NumPy seed of one run: independent streams per finalist, level, repetition and fold, stable
    across machines and resumes (a hash, not Python's salted ``hash``)."""
    digest = hashlib.sha256(f"{base_seed}|{unit.key()}".encode()).hexdigest()
    return int(digest[:8], 16) % (2**31 - 1)


def select_finalists(study, space: SearchSpace, *, max_finalists: int = DEFAULT_FINALISTS) -> list[Finalist]:
    """The best finished trial of each loss, best losses first, at most ``max_finalists``; CE always in, and
    the rules' first choice too when there are at least 3 places.

    The search's order after a few short trials is noisy, and the rules' first choice is the answer a user
    gets without ``tune``: the confirmation has to measure it, not let a lucky short trial push it out (on
    the bundled buildings the search ranked dice, CE, Dice+CE; the rules' weighted CE, the best loss in longer
    independent runs, never reached the confirmation). CE without a finished trial (all its trials pruned or
    failed) enters at its default configuration; so does the rules' first choice when the search never tried
    it (a search cut short), but not when every try of it failed or was pruned.
    """
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: -t.value)
    best_of: dict[str, object] = {}
    for t in done:
        best_of.setdefault(t.params["loss"], t)
    must = [BASELINE_LOSS]
    first = space.rules_first_choice
    # the rules' first choice is not forced in when the search tried it and every try failed or was pruned
    tried = {t.params.get("loss") for t in trials if t.state in (TrialState.FAIL, TrialState.PRUNED)}
    wanted = first not in (None, BASELINE_LOSS) and first in space.losses and max_finalists >= 3
    if wanted and (first in best_of or first not in tried):
        must.append(first)
    # the places left go to the search's best other losses; all in search order, untrained ones last
    keep = set(must) | set([loss for loss in best_of if loss not in must][: max_finalists - len(must)])
    losses = [loss for loss in best_of if loss in keep] + [loss for loss in must if loss not in best_of]
    picks = []
    for loss in losses:
        t = best_of.get(loss)
        if t is None:
            config = space.default_configuration(loss)
            value, number = None, None
        else:
            config = Configuration(loss, dict(t.user_attrs.get("params", {})), float(t.user_attrs["lr"]))
            value, number = float(t.value), t.number
        cid = config_id(config)
        picks.append(Finalist(cid, f"best {loss}: {describe(config)}", config, value, number))
    return picks


def finalists_to_json(finalists: Sequence[Finalist]) -> list[dict]:
    """The finalists as stored in the study (chosen once, read by every worker)."""
    return [
        {
            "entry": f.entry, "label": f.label, "loss": f.config.loss,
            "params": jsonable_params(f.config.params), "lr": f.config.lr,
            "search_value": f.search_value, "search_trial": f.search_trial,
        }
        for f in finalists
    ]  # fmt: skip


def finalists_from_json(rows: list[dict]) -> list[Finalist]:
    return [
        Finalist(
            r["entry"], r["label"], Configuration(r["loss"], r["params"], r["lr"]), r["search_value"],
            r["search_trial"],
        )
        for r in rows
    ]  # fmt: skip


def _finished(trial) -> bool:
    from optuna.trial import TrialState

    return trial.state == TrialState.COMPLETE and RECORD_ATTR in trial.user_attrs


def enqueue_units(cstudy, finalists: Sequence[Finalist], units: Sequence[Unit]) -> int:
    """Enqueue every unit of ``units`` that is neither finished, waiting nor running (failed-interrupted ones
    again); return how many were added."""
    from optuna.trial import TrialState

    present = set()
    for t in cstudy.get_trials(deepcopy=False):
        key = t.user_attrs.get(UNIT_ATTR)
        if key is None:
            continue
        redone = t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") in NOT_COUNTED
        if not redone:
            present.add(key)
    by_entry = {f.entry: f for f in finalists}
    added = 0
    for u in sorted(units):
        if u.key() in present:
            continue
        f = by_entry[u.entry]
        cstudy.enqueue_trial(
            {},
            user_attrs={
                UNIT_ATTR: u.key(), "entry": u.entry, "level": u.level, "rep": u.rep, "fold": u.fold,
                "loss": f.config.loss, "lr": f.config.lr, "params": jsonable_params(f.config.params),
            },
        )  # fmt: skip
        added += 1
    return added


def _tile_counts(counts: np.ndarray, names: list[str]) -> tuple[list[str], np.ndarray]:
    """Per-tile counts: crop-mode windows ("stem@y,x") summed per tile, so tiles are what gets resampled."""
    stems = [n.split("@", 1)[0] for n in names]
    order = list(dict.fromkeys(stems))
    out = np.zeros((len(order), *counts.shape[1:]), dtype=np.int64)
    for stem, c in zip(stems, counts, strict=True):
        out[order.index(stem)] += c
    return order, out


def _failed_counts(data, num_classes: int, ignore_index: int | None) -> tuple[list[str], np.ndarray]:
    """Counts of a failed run: nothing predicted (IoU 0 wherever there is foreground)."""
    from lossadvisor.tune.training import image_counts

    empty = [np.zeros(m.shape, dtype=np.int64) for m in data.val_masks]  # tiles, or volumes of any shape
    counts = image_counts(empty, data.val_masks, num_classes=max(num_classes, 2), ignore_index=ignore_index)
    counts[:, 0] = 0
    counts[:, 1] = 0
    return _tile_counts(counts, data.val_names)


def run_units(
    cstudy,
    finalists: Sequence[Finalist],
    context_for: Callable[[Unit], RunContext],
    *,
    base_seed: int,
    on_run: Callable[[], None] | None = None,
    take: Callable[[], object | None] | None = None,
    beat: Callable[[int], contextlib.AbstractContextManager] | None = None,
) -> int:
    """Train waiting units until none is left; return how many this call ran.

    ``context_for(unit)`` trains on the unit's partition and fold, at its level's steps per epoch.
    ``take()`` hands this worker the next waiting unit as a trial (``None`` when none is left) and
    ``beat(trial_id)`` keeps its heartbeat while it trains: how workers sharing the study divide the units
    (:meth:`~._session.Session.take`); default ``ask()``.

    Raises:
        KeyboardInterrupt: After marking the running unit failed ("interrupted"), so a resume redoes it.
    """
    from optuna.trial import TrialState

    by_entry = {f.entry: f for f in finalists}
    ran = 0
    while take is not None or cstudy.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial = None
        try:  # from the claim to the verdict on it, an interrupt anywhere marks the unit failed
            with deferred_interrupts():  # claimed and tagged together, or not at all
                trial = cstudy.ask() if take is None else take()
            if trial is None:
                break
            if _run_unit(cstudy, trial, by_entry, context_for, base_seed=base_seed, beat=beat):
                ran += 1
                if on_run is not None:
                    on_run()
        except BaseException as exc:
            if trial is not None:
                with deferred_interrupts():
                    _fail_if_running(cstudy, trial, exc)
            raise
    return ran


def _run_unit(cstudy, trial, by_entry, context_for, *, base_seed: int, beat) -> bool:
    """Train one claimed unit and store its record; False when the trial is no unit of these finalists."""
    from optuna.trial import TrialState

    key = trial.user_attrs.get(UNIT_ATTR)
    entry = trial.user_attrs.get("entry")
    if key is None or entry not in by_entry:  # another worker took the last unit, or a stale finalist
        with deferred_interrupts():
            trial.set_user_attr("fail_reason", "no confirmation unit for this run")
            cstudy.tell(trial, state=TrialState.FAIL)
        return False
    a = trial.user_attrs
    unit = Unit(int(a.get("level", 0)), int(a.get("rep", 0)), int(a["fold"]), entry)
    ctx = context_for(unit)
    finalist = by_entry[entry]
    with beat(trial._trial_id) if beat is not None else contextlib.nullcontext():
        outcome = ctx.train(finalist.config, seed=run_seed(base_seed, unit))
    summary = outcome_summary(outcome)
    if outcome.failed or outcome.image_counts is None:
        names, counts = _failed_counts(ctx.data, ctx.num_classes, ctx.ignore_index)
    else:
        names, counts = _tile_counts(outcome.image_counts, ctx.data.val_names)
    record = {
        "unit": key, "entry": entry, "config_id": entry, "label": finalist.label, "level": unit.level,
        "rep": unit.rep, "fold": unit.fold, "steps": ctx.epochs * ctx.steps_per_epoch,
        "loss": finalist.config.loss, "lr": finalist.config.lr,
        "params": jsonable_params(finalist.config.params), **summary,
        "epochs": [asdict(r) for r in outcome.epochs],
    }  # fmt: skip
    value = 0.0 if outcome.failed or summary["val_score"] is None else float(summary["val_score"])
    with deferred_interrupts():  # the record and COMPLETE together: never a complete unit without its record
        trial.set_user_attr(RECORD_ATTR, record)
        trial.set_user_attr(COUNTS_ATTR, {"tiles": names, "counts": counts.tolist()})
        cstudy.tell(trial, value)
    return True


def _fail_if_running(cstudy, trial, exc: BaseException) -> None:
    """Mark a unit this worker claimed failed ("interrupted", so a resume redoes it) unless it finished."""
    from optuna.trial import TrialState

    storage = cstudy._storage
    if storage.get_trial(trial._trial_id).state != TrialState.RUNNING:
        return
    storage.set_trial_user_attr(trial._trial_id, "fail_reason", INTERRUPTED)
    if not isinstance(exc, KeyboardInterrupt):
        storage.set_trial_user_attr(trial._trial_id, "error", f"{type(exc).__name__}: {exc}"[:500])
    storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)


@dataclass
class Collected:
    """The finished units read back: run records, each unit's IoU, seconds and per-tile counts, tile rows."""

    records: list[dict]
    iou: dict[Unit, float]
    seconds: dict[Unit, float]
    counts: dict[Unit, np.ndarray]
    collapsed: dict[Unit, bool]
    failed: dict[Unit, bool]
    tiles: list[dict]

    def finalist_runs(self, finalists: Sequence[Finalist], level_of: dict[str, int]) -> list[FinalistRuns]:
        """Each finalist's runs at its level in ``level_of`` (keyed ``(rep, fold)``), for the ranking."""
        out = []
        for f in finalists:
            lv = level_of.get(f.entry)
            mine = [u for u in self.counts if u.entry == f.entry and u.level == lv]
            out.append(
                FinalistRuns(
                    entry=f.entry, loss=f.config.loss, label=f.label,
                    runs={(u.rep, u.fold): self.counts[u] for u in mine},
                    collapsed={(u.rep, u.fold): self.collapsed[u] for u in mine},
                    failed={(u.rep, u.fold): self.failed[u] for u in mine},
                    search_value=f.search_value,
                )
            )  # fmt: skip
        return out


def collect(cstudy, finalists: Sequence[Finalist], *, metric: str = DEFAULT_METRIC) -> Collected:
    """Read the finished units of the finalists back (a unit two workers both finished: the first); each
    unit's score (``Collected.iou``) is the scored metric (``--objective``, IoU by default)."""
    wanted = {f.entry for f in finalists}
    out = Collected([], {}, {}, {}, {}, {}, [])
    for t in cstudy.get_trials(deepcopy=False):
        if not _finished(t) or t.user_attrs[RECORD_ATTR]["entry"] not in wanted:
            continue
        rec = t.user_attrs[RECORD_ATTR]
        if "level" not in rec:
            continue  # a run of the confirmation before the race (fold x seed units): not comparable
        unit = Unit(int(rec["level"]), int(rec["rep"]), int(rec["fold"]), rec["entry"])
        if unit in out.counts:
            continue
        stored = t.user_attrs[COUNTS_ATTR]
        counts = np.asarray(stored["counts"], dtype=np.int64)
        out.counts[unit] = counts
        out.iou[unit] = float(foreground_score(counts.sum(axis=0), metric))
        out.seconds[unit] = float(rec.get("duration_s") or 0.0)
        out.collapsed[unit] = bool(rec["failed"] or is_collapse(rec.get(COLLAPSE)))
        out.failed[unit] = bool(rec["failed"])
        out.records.append(rec)
        for name, c in zip(stored["tiles"], counts, strict=True):
            union = c[1, 1:] + c[2, 1:] - c[0, 1:]
            out.tiles.append(
                {
                    "config_id": rec["entry"], "loss": rec["loss"], "level": unit.level, "rep": unit.rep,
                    "fold": unit.fold, "tile": name, "intersection": int(c[0, 1:].sum()),
                    "union": int(union.sum()), "iou": float(foreground_iou(c)) if union.sum() > 0 else None,
                }
            )  # fmt: skip
    out.records.sort(key=lambda r: (r["level"], r["rep"], r["fold"], r["entry"]))
    return out


def race_alone(
    cstudy, finalists: Sequence[Finalist], context_for: Callable[[Unit], RunContext], cfg, *, base_seed: int
):
    """The race run by one process on its own study (benchmarks, tests): replay, enqueue the next repetition,
    train it, until the race stops. Returns ``(race state, collected runs)``; the tuner's phase does the same
    with workers sharing the study (:func:`lossadvisor.tune._phases.confirmation.confirm`)."""
    from lossadvisor.tune.confirm._race import race_state

    entries = {f.entry: f.config.loss for f in finalists}
    while True:
        got = collect(cstudy, finalists)
        state = race_state(entries, got.iou, got.seconds, cfg)
        if state.finished:
            return state, got
        enqueue_units(cstudy, finalists, state.pending)
        if not run_units(cstudy, finalists, context_for, base_seed=base_seed):
            raise RuntimeError(f"The race cannot finish: {state.pending[0].key()} failed and is not redone.")
