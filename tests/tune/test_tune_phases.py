"""The phases of tune read and write the run folder, so a later phase re-runs alone on a finished folder."""

from __future__ import annotations

import json

import numpy as np

from lossadvisor.tune import TuneOptions, tune
from lossadvisor.tune._phases import confirmation, plan, report, result, search, start
from lossadvisor.tune.study._lock import releases_folder_locks
from lossadvisor.tune.training._models import resolve_model


def _plan(images, masks, **settings):
    """The run's TuneContext, from tune's own defaults updated with ``settings`` (reads only)."""
    progress = settings.pop("progress", True)
    options = TuneOptions(images=images, masks=masks, **settings)
    spec = resolve_model(options.model)
    return plan.plan(options, train=None, val=None, spec=spec, progress=progress, command=None)


@releases_folder_locks  # a phase re-run holds the folder like tune does: no other process writes meanwhile
def _rerun_result(dataset, settings):
    """Re-run the result phase alone on the finished folder; return result.json's path."""
    tc = _plan(dataset / "images", dataset / "masks", **settings)
    plan.refuse_mismatch(tc)  # the same data and settings: the stored study is accepted
    live = start.reopen(tc)
    searched = search.restore(tc, live)
    search.diagnostics(live, searched)  # read back from the study
    confirmed = confirmation.confirm(tc, live, searched)  # every unit done: nothing left to train
    assert live.run.timings["runs"] == 0  # no search, diagnostic or confirmation run trained again
    return result.write_outcome(tc, live, searched, confirmed)


@releases_folder_locks
def _report(dataset, settings):
    return report.build(_plan(dataset / "images", dataset / "masks", **settings))


def test_result_and_report_phases_rerun_alone_on_a_finished_folder(tiny_dataset, tmp_path, tiny):
    out = tmp_path / "run"
    settings = dict(out=out, n_trials=3, folds=2, report=False, **tiny)
    tune(tiny_dataset / "images", tiny_dataset / "masks", **settings)
    before = json.loads((out / "result.json").read_text())
    with np.load(out / "samples.npz") as f:
        samples_before = {k: f[k] for k in f.files}
    profile_before = (out / "profile.json").read_bytes()
    (out / "result.json").unlink()
    (out / "samples.npz").unlink()

    path = _rerun_result(tiny_dataset, settings)
    after = json.loads(path.read_text())
    # fANOVA importances are fitted by a randomised forest: the same parameters, not the same figures
    assert sorted(after.pop("param_importances")) == sorted(before.pop("param_importances"))
    # the job's time: the re-run counts the stored work and its own wall time, not the first run's overhead
    for key in ("spent_s", "bought", "kept", "over_s"):
        assert key in after["budget"]
        after["budget"].pop(key), before["budget"].pop(key)
    assert after == before
    with np.load(out / "samples.npz") as f:
        assert sorted(f.files) == sorted(samples_before)
        for key in f.files:
            np.testing.assert_array_equal(f[key], samples_before[key])
    assert (out / "profile.json").read_bytes() == profile_before  # an earlier phase's file is untouched
    assert json.loads((out / "run.json").read_text())["status"] == "complete"

    assert _report(tiny_dataset, settings) is None  # report=False: the report phase does nothing
    report_path = _report(tiny_dataset, {**settings, "report": True})
    assert report_path == out / "report.html" and report_path.stat().st_size > 0
