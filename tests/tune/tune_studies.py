"""Reading a finished run folder's two Optuna studies back, for the tests that check what a run trained."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState


def open_studies(out):
    """The search study and its ``:confirm`` companion in ``out/study.db``."""
    url = f"sqlite:///{out / 'study.db'}"
    return optuna.load_study(study_name="lossadvisor", storage=url), optuna.load_study(
        study_name="lossadvisor:confirm", storage=url
    )


def finished_units(cstudy) -> dict[str, int]:
    """Finished confirmation units: key -> trial number (which trial trained it)."""
    return {
        t.user_attrs["unit"]: t.number
        for t in cstudy.get_trials(states=(TrialState.COMPLETE,))
        if "unit" in t.user_attrs
    }
