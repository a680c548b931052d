"""Issue 20 at the tuner: nothing lost, nothing wrong in silence (1-bit masks, NaN tiles, reserved names,
impossible settings refused in the plan phase, memory, full disks, re-queued trials)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from lossadvisor.tune import tune


def _one_bit_masks(data: Path) -> None:
    for path in (data / "masks").glob("*.png"):
        Image.fromarray(np.asarray(Image.open(path)) > 0).convert("1").save(path)


# --- point 1: 1-bit PNG masks, and a size switch bounded on a CPU ----------------------------------------


def test_one_bit_png_masks_train(tiny_dataset, tmp_path, tiny):
    _one_bit_masks(tiny_dataset)
    assert Image.open(next((tiny_dataset / "masks").glob("*.png"))).mode == "1"
    result = tune(
        tiny_dataset / "images",
        tiny_dataset / "masks",
        out=tmp_path / "run",
        n_trials=1,
        report=False,
        **tiny,
    )
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "complete" and result.recommended is not None


def test_the_size_switch_is_capped_on_a_cpu(monkeypatch):
    import lossadvisor.rules as rules
    from lossadvisor.tune._phases.advise import CPU_MAX_SWITCH_SIZE, follow_size_advice

    asked = SimpleNamespace(size=600, measured_share=0.4, profiled_size=128, text="")
    monkeypatch.setattr(rules, "training_size_advice", lambda profile, thresholds: asked)
    rec = SimpleNamespace(thresholds={})
    free = follow_size_advice(None, rec)
    assert free["size"] == 608  # 600 rounded up to a multiple of 16
    capped = follow_size_advice(None, rec, max_size=CPU_MAX_SWITCH_SIZE)
    assert capped["size"] == CPU_MAX_SWITCH_SIZE == 256
    assert "asks for 608 px, capped at 256 px on a CPU" in capped["message"]
    assert "--size 608" in capped["message"]
