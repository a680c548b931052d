"""Open (or resume) the Optuna study of a run, refuse one made from other data, and never leak a password.

The study's user attributes hold what makes trials comparable: the dataset fingerprint and the settings that
change the objective (image size, crop, epochs, steps, split). Resuming with a different value would mix two
experiments in one ranking, so it is refused with :class:`StudyMismatchError` and a way out.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lossadvisor._redact import REDACTED, redact, url_password
from lossadvisor.errors import ConfigError, StudyMismatchError

logger = logging.getLogger(__name__)

DEFAULT_STUDY_NAME = "lossadvisor"
STUDY_DB = "study.db"
FINGERPRINT_ATTR = "fingerprint"
SETTINGS_ATTR = "objective_settings"
STALE_REASON = "stale: the process running it ended before it finished"

def redact_url(url: str) -> str:
    """Hide the password of a storage URL.

    Example:
        >>> redact_url("postgresql://user:secret@db.example:5432/optuna")
        'postgresql://user:***@db.example:5432/optuna'
    """
    return redact(url)


def scrub(text: str, url: str | None) -> str:
    """Remove the password of ``url`` from any text (an error message from a database driver)."""
    if not url:
        return text
    password = url_password(url)
    text = text.replace(url, redact_url(url))
    if password:
        text = text.replace(password, REDACTED)
    return text


def default_storage_url(run_dir: Path) -> str:
    return f"sqlite:///{(Path(run_dir) / STUDY_DB).resolve()}"


def driver_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; lossadvisor's ``postgres`` extra installs
    psycopg2, so a bare URL is pointed at psycopg2 when psycopg 3 is absent. Explicit drivers are kept.

    Example:
        >>> driver_url("sqlite:///study.db")
        'sqlite:///study.db'
    """
    import importlib.util

    scheme, sep, rest = url.partition("://")
    bare_postgres = sep and scheme in ("postgresql", "postgres")
    if bare_postgres and importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
        return f"postgresql+psycopg2://{rest}"
    return url


def open_storage(url: str):
    """An Optuna RDB storage for ``url``; connection errors become a ConfigError without the password."""
    import optuna

    try:
        return optuna.storages.RDBStorage(driver_url(url))
    except Exception as exc:  # SQLAlchemy / driver errors have many types
        raise ConfigError(
            f"Cannot open the Optuna storage {redact_url(url)}: {scrub(str(exc), url).splitlines()[0]}. "
            f"Check the URL, that the server is reachable and that its driver is installed (psycopg2 for "
            f"PostgreSQL)."
        ) from None


def open_study(
    storage,
    *,
    study_name: str,
    fingerprint: str,
    objective_settings: dict,
    sampler,
    pruner,
    storage_label: str,
):
    """Create the study or load it, checking it was made from the same data and objective.

    Raises:
        StudyMismatchError: The stored fingerprint or objective settings differ.
    """
    import optuna

    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction="maximize",
        load_if_exists=True,
    )
    stored = study.user_attrs.get(FINGERPRINT_ATTR)
    if stored is None:
        study.set_user_attr(FINGERPRINT_ATTR, fingerprint)
        study.set_user_attr(SETTINGS_ATTR, objective_settings)
        return study
    if stored != fingerprint:
        raise StudyMismatchError(
            f"Study {study_name!r} in {storage_label} was made from other data "
            f"(fingerprint {stored[:12]}..., these masks give {fingerprint[:12]}...). Resuming would mix two "
            f"datasets in one ranking. Use another --out folder or --study name, or delete the old study to "
            f"start over."
        )
    old = study.user_attrs.get(SETTINGS_ATTR, {})
    changed = {k: (old.get(k), v) for k, v in objective_settings.items() if old.get(k) != v}
    if changed:
        diff = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(changed.items()))
        raise StudyMismatchError(
            f"Study {study_name!r} in {storage_label} was run with other training settings ({diff}); its "
            f"trials are not comparable with new ones. Re-run with the old settings to resume, or use "
            f"another --out folder or --study name."
        )
    return study


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
