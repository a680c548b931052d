"""The phases of ``tune``, one module each, in the order :func:`lossadvisor.tune.tune` calls them.

Each phase takes the frozen :class:`TuneContext` (settings, paths, prepared data) and, once the study is
open, the :class:`Live` run (session, studies, training context, run.json), reads what earlier phases left in
the run folder or the study, and writes its own files through :mod:`lossadvisor.runfolder`; so a phase can be
re-run or replaced alone (``docs/ARCHITECTURE.md``, "Phases of tune").

- ``plan``: read data and settings, refuse a mismatching study; writes nothing.
- ``profile``: profile.json, per_image.csv.  ``advise``: recommendation.json.
- ``start``: run.json, cache/, the study opened or joined.
- ``search``: lr_range_test.json, the search trials, trials.csv, epochs.csv, the diagnostic runs.
- ``confirmation``: the finalists and their paired k-fold runs (the ``<name>:confirm`` study).
- ``result``: the verdict: result.json, samples.npz, confirmation*.csv, diagnostics.csv, run.json.
- ``report``: report.html.
"""

from lossadvisor.tune._phases._context import Live, TuneContext

__all__ = ["Live", "TuneContext"]
