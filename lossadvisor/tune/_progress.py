"""Progress bars over search trials, diagnostic and confirmation runs (tqdm), silenced by ``progress=False``.

Log records are routed through ``tqdm.write`` while a bar is open, so a warning never tears a bar apart.
"""

from __future__ import annotations

import contextlib


class Progress:
    """One bar at a time: the search, the diagnostics, then the confirmation."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None
        self._redirect: contextlib.AbstractContextManager | None = None
        self._best: float | None = None

    def _open(self, **kwargs) -> None:
        from tqdm.auto import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        self.close()
        if not self.enabled:
            return
        self._redirect = logging_redirect_tqdm()
        self._redirect.__enter__()
        self._bar = tqdm(**kwargs, leave=True, dynamic_ncols=True)

    def start_search(self, *, total: int, done: int) -> None:
        self._open(total=total, initial=min(done, total), desc="search trials", unit="trial")

    def trial_done(self, trial) -> None:
        """Advance the search bar with a finished ``FrozenTrial``; show its loss, state and the best IoU."""
        if self._bar is None:
            return
        if trial.value is not None and trial.state.name == "COMPLETE":
            self._best = trial.value if self._best is None else max(self._best, trial.value)
        loss = trial.params.get("loss", "?")
        best = f"{self._best:.3f}" if self._best is not None else "-"
        self._bar.set_postfix_str(f"last={loss} {trial.state.name.lower()}, best IoU={best}")
        self._bar.update(1)

    def start_runs(self, *, total: int, desc: str) -> None:
        self._open(total=total, desc=desc, unit="run")

    def advance(self, n: int) -> None:
        """Count ``n`` runs an earlier process already finished (on resume)."""
        if self._bar is not None and n:
            self._bar.update(n)

    def run_done(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._redirect is not None:
            self._redirect.__exit__(None, None, None)
            self._redirect = None
