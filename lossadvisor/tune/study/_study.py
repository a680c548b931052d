"""Open (or resume) the Optuna study of a run, refuse one made from other data, and never leak a password.

The study's user attributes hold what makes trials comparable: the dataset fingerprint and the settings that
change the objective (image size, crop, epochs, steps, split). Resuming with a different value would mix two
experiments in one ranking, so it is refused with :class:`StudyMismatchError` and a way out.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from lossadvisor import runfolder
from lossadvisor.errors import StudyMismatchError
from lossadvisor.tune.study._storage import with_retries

logger = logging.getLogger(__name__)

DEFAULT_STUDY_NAME = "lossadvisor"
STUDY_DB = runfolder.STUDY_DB
FINGERPRINT_ATTR = "fingerprint"
SETTINGS_ATTR = "objective_settings"
DEFINITION_ATTR = "recommendation"  # what the first worker advised; every later worker searches that space
STALE_REASON = "stale: the process running it ended before it finished"
INTERRUPTED = "interrupted"
NOT_COUNTED = (INTERRUPTED, STALE_REASON)  # failures that do not use up the trial budget (they are redone)
# The companion studies a study keeps in the same storage, each named "<study>:<kind>": the confirmation's
# units, the once-per-study work queue, and the run files shared between workers.
COMPANIONS = ("confirm", "tasks", "files")


_COMPANION_ROLE = {"confirm": "confirmation runs", "tasks": "work queue", "files": "shared run files"}


def check_study_name(name: str | None) -> None:
    """Refuse a study name that is empty or names a companion study, before anything is read or written.

    Raises:
        ConfigError: The name is empty, or a ``:``-separated part after the first is one of
            :data:`COMPANIONS`.
    """
    from lossadvisor._text import safe_text
    from lossadvisor.errors import ConfigError

    if name is None:
        return
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"The study name (--study) must be a non-empty text; got {name!r}.")
    reserved = [part for part in name.split(":")[1:] if part in COMPANIONS]
    if reserved:
        raise ConfigError(
            f"The study name {safe_text(name)!r} (--study) has the part ':{reserved[0]}', which names the "
            f"companion study where lossadvisor keeps a study's {_COMPANION_ROLE[reserved[0]]}; choose a "
            f"name without ':confirm', ':tasks' or ':files' parts, e.g. {safe_text(name.split(':')[0])!r}. "
            f"Nothing was written."
        )


def companion_name(study_name: str, kind: str) -> str:
    """The name of the companion study ``kind`` (one of :data:`COMPANIONS`) of ``study_name``.

    Example:
        >>> companion_name("lossadvisor", "confirm")
        'lossadvisor:confirm'
    """
    if kind not in COMPANIONS:
        raise ValueError(f"Unknown companion study {kind!r}; expected one of {COMPANIONS}.")
    return f"{study_name}:{kind}"


def redone(t) -> bool:
    """A failure that does not use up the budget: interrupted, or its worker died (re-queued, redone).

    A trial failed by Optuna's heartbeat check has no ``fail_reason``: the tuner records one for every
    failure it sees itself.
    """
    from optuna.trial import TrialState

    if t.state != TrialState.FAIL:
        return False
    reason = t.user_attrs.get("fail_reason")
    return reason is None or reason in NOT_COUNTED


def counted_trials(study) -> int:
    """Trials that use up the budget: finished, running (maybe on other machines), failed but not redone."""
    from optuna.trial import TrialState

    counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.FAIL)
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state in counted and not redone(t))
def open_study(
    storage,
    *,
    study_name: str,
    fingerprint: str,
    objective_settings: dict,
    sampler,
    pruner,
    storage_label: str,
    lock: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    definition: dict | None = None,
):
    """Create the study or join it, checking it was made from the same data and objective.

    The first worker stores what defines the study (fingerprint, objective settings, and ``definition``,
    the recommendation whose search space every worker explores); a later worker is checked against it.
    All of it happens under ``lock``, so workers starting in the same second agree on one definition.

    Returns:
        ``(study, stored_definition)``: the definition the study holds (this worker's, if it created it).

    Raises:
        StudyMismatchError: The stored fingerprint or objective settings differ.
    """
    import optuna

    with lock():
        study = with_retries(
            lambda: optuna.create_study(
                study_name=study_name,
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                direction="maximize",
                load_if_exists=True,
            ),
            what="Creating the study",
        )
        attrs = study.user_attrs
        if attrs.get(FINGERPRINT_ATTR) is None:
            study.set_user_attr(FINGERPRINT_ATTR, fingerprint)
            study.set_user_attr(SETTINGS_ATTR, objective_settings)
            if definition is not None:
                study.set_user_attr(DEFINITION_ATTR, definition)
            return study, definition
    _compare(attrs, study_name, fingerprint, objective_settings, storage_label)
    return study, attrs.get(DEFINITION_ATTR, definition)


def check_study(
    storage, *, study_name: str, fingerprint: str, objective_settings: dict, storage_label: str
) -> None:
    """Refuse, before anything is written, a study made from other data or objective settings.

    Reads only: a study that does not exist yet passes (it will be created).

    Raises:
        StudyMismatchError: The stored fingerprint or objective settings differ.
    """
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return
    attrs = storage.get_study_user_attrs(study_id)
    if attrs.get(FINGERPRINT_ATTR) is not None:
        _compare(attrs, study_name, fingerprint, objective_settings, storage_label)


def stored_settings(storage, *, study_name: str) -> dict | None:
    """The objective settings a study was made with (``None`` when there is no such study yet, or it holds
    none); reads only."""
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return None
    attrs = storage.get_study_user_attrs(study_id)
    return attrs.get(SETTINGS_ATTR) if attrs.get(FINGERPRINT_ATTR) is not None else None


def _compare(attrs: dict, study_name: str, fingerprint: str, objective_settings: dict, label: str) -> None:
    stored = attrs.get(FINGERPRINT_ATTR)
    if stored != fingerprint:
        raise StudyMismatchError(
            f"Study {study_name!r} in {label} was made from other data "
            f"(fingerprint {stored[:12]}..., these masks give {fingerprint[:12]}...). Resuming or joining it "
            f"would mix two datasets in one ranking. Nothing was changed. Point this worker at the same "
            f"images and masks as the study's other workers, use another --out folder or --study name, or "
            f"delete the old study to start over."
        )
    old = attrs.get(SETTINGS_ATTR, {})
    changed = {k: (old.get(k), v) for k, v in objective_settings.items() if old.get(k) != v}
    if changed:
        diff = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(changed.items()))
        raise StudyMismatchError(
            f"Study {study_name!r} in {label} was run with other training settings ({diff}); its "
            f"trials are not comparable with new ones. Nothing was changed. Re-run with the old settings to "
            f"resume, or use another --out folder or --study name."
        )


def fail_stale_trials(study, storage) -> int:
    """Mark trials left RUNNING by a process that died as FAIL (only for the run folder's own SQLite file).

    With shared storage (PostgreSQL) a RUNNING trial may belong to another machine, so it is left alone.
    """
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        storage.set_trial_user_attr(t._trial_id, "fail_reason", STALE_REASON)
        study.tell(t.number, state=TrialState.FAIL)
    if stale:
        logger.warning("Marked %d trial(s) left running by an earlier process as failed.", len(stale))
    return len(stale)
