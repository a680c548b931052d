"""--model: presets, MODULE:CALLABLE specs from a temporary folder, and every refusal before the study."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import torch
from click.testing import CliRunner

from lossadvisor.cli import cli
from lossadvisor.cli._tune import MODEL_PRESETS
from lossadvisor.errors import ConfigError, StudyMismatchError
from lossadvisor.tune import CompactUNet, count_parameters, tune
from lossadvisor.tune.training._models import PRESETS, ModelError, check_model, resolve_model

HAS_MONAI = importlib.util.find_spec("monai") is not None
needs_monai = pytest.mark.skipif(
    not HAS_MONAI, reason="MONAI is not installed (pip install 'lossadvisor[monai]')"
)

# A 3x3 convolution from 3 channels to 1: 3 * 1 * 9 weights + 1 bias = 28 parameters (by hand).
TINY_NET = """
from torch import nn

def build(in_channels, num_classes):
    return nn.Conv2d(in_channels, num_classes, 3, padding=1)

class Factory:
    @staticmethod
    def create(in_channels, num_classes):
        return nn.Conv2d(in_channels, num_classes, 1)
"""
TINY_NET_PARAMETERS = 3 * 1 * 9 + 1


@pytest.fixture
def net_folder(tmp_path, monkeypatch):
    """A folder with user model modules, as the current folder (where `lossadvisor tune` is run)."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "tinynet.py").write_text(TINY_NET)
    (folder / "wrongshape.py").write_text(
        "from torch import nn\n"
        "def build(in_channels, num_classes):\n"
        "    return nn.Conv2d(in_channels, num_classes, 3, stride=2, padding=1)  # halves H and W\n"
    )
    (folder / "raises.py").write_text(
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def forward(self, x):\n"
        "        raise RuntimeError('mat1 and mat2 shapes cannot be multiplied')\n"
        "def build(in_channels, num_classes):\n"
        "    return Net()\n"
    )
    (folder / "brokenimport.py").write_text("import a_package_that_does_not_exist_here\n")
    (folder / "tupleout.py").write_text(
        "import torch\nfrom torch import nn\n"
        "class Net(nn.Conv2d):\n"
        "    def forward(self, x):\n"
        "        return super().forward(x), 0\n"
        "def build(in_channels, num_classes):\n"
        "    return Net(in_channels, num_classes, 1)\n"
    )
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("tinynet", "wrongshape", "raises", "brokenimport", "tupleout"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return folder


def _check(spec, *, side=32, out_channels=1):
    return check_model(resolve_model(spec), in_channels=3, out_channels=out_channels, side=side, device="cpu")


def test_cli_completion_lists_the_library_presets():
    assert tuple(PRESETS) == MODEL_PRESETS


def test_default_is_the_compact_unet():
    info = _check(None)
    assert info.name == "compact"
    assert info.parameters == count_parameters(CompactUNet(3, 1))


@pytest.mark.parametrize("spec", ["tinynet:build", "./tinynet.py:build", "tinynet:Factory.create"])
def test_module_callable_specs_from_the_current_folder(net_folder, spec):
    info = _check(spec)
    assert info.name == spec
    expected = TINY_NET_PARAMETERS if spec.endswith("build") else 3 * 1 + 1
    assert info.parameters == expected


def test_a_callable_is_named_by_module_and_qualname():
    def build(c, k):
        return torch.nn.Conv2d(c, k, 1)

    info = _check(build)
    assert info.name.endswith(":test_a_callable_is_named_by_module_and_qualname.<locals>.build")
    assert info.parameters == 4


def test_unknown_preset_suggests_the_close_one():
    with pytest.raises(ModelError, match=r"Unknown model 'monai-unt'\. Did you mean 'monai-unet'\?"):
        resolve_model("monai-unt")


def test_import_failure_is_refused_with_the_module_and_the_cause(net_folder):
    with pytest.raises(
        ModelError,
        match=r"Model 'brokenimport:build': importing 'brokenimport' failed: "
        r"ModuleNotFoundError: No module named 'a_package_that_does_not_exist_here'",
    ):
        resolve_model("brokenimport:build")
    with pytest.raises(ModelError, match=r"module 'tinynet' has no attribute 'nope'"):
        resolve_model("tinynet:nope")
    with pytest.raises(ModelError, match=r"the file ./missing\.py does not exist"):
        resolve_model("./missing.py:build")


def test_wrong_output_shape_is_refused_with_input_and_output_shapes(net_folder):
    with pytest.raises(
        ModelError,
        match=r"Model 'wrongshape:build': on input \(2, 3, 32, 32\) it returned shape \(2, 1, 16, 16\); "
        r"expected logits \(2, 1, 32, 32\)",
    ):
        _check("wrongshape:build")


def test_wrong_channel_count_names_the_classes():
    with pytest.raises(
        ModelError, match=r"returned shape \(2, 1, 32, 32\); expected logits \(2, 3, 32, 32\)"
    ):
        check_model(
            resolve_model(lambda c, k: torch.nn.Conv2d(c, 1, 1)),
            in_channels=3,
            out_channels=3,
            side=32,
            device="cpu",
        )


def test_forward_that_raises_is_refused_with_the_input_shape(net_folder):
    with pytest.raises(
        ModelError,
        match=r"Model 'raises:build': the forward pass on input \(2, 3, 32, 32\) raised RuntimeError: mat1",
    ):
        _check("raises:build")


def test_non_tensor_output_and_non_module_are_refused(net_folder):
    with pytest.raises(ModelError, match=r"returned a tuple; expected one tensor of logits"):
        _check("tupleout:build")
    with pytest.raises(ModelError, match=r"returned a str, not a torch\.nn\.Module"):
        _check(lambda c, k: "not a model")


@needs_monai
@pytest.mark.parametrize("preset", ["monai-unet", "monai-segresnet"])
def test_monai_presets_give_logits_of_the_input_size(preset):
    info = _check(preset, out_channels=3)
    fresh = PRESETS[preset][0](3, 3)
    assert info.parameters == sum(p.numel() for p in fresh.parameters() if p.requires_grad) > 0


@pytest.mark.parametrize(
    "preset",
    [
        "compact",
        pytest.param("monai-unet", marks=needs_monai),
        pytest.param("monai-segresnet", marks=needs_monai),
    ],
)
def test_each_preset_runs_a_tiny_study(preset, tiny_dataset, tmp_path, tiny):
    out = tmp_path / preset
    result = tune(
        tiny_dataset / "images",
        tiny_dataset / "masks",
        out=out,
        n_trials=1,
        report=False,
        model=preset,
        **tiny,
    )
    expected = count_parameters(PRESETS[preset][0](3, 1))
    assert (result.model.name, result.model.parameters) == (preset, expected)
    run = json.loads((out / "run.json").read_text())
    res = json.loads((out / "result.json").read_text())
    assert run["model"] == res["model"] == {"name": preset, "parameters": expected}
    assert run["status"] == "complete"


def test_cli_model_from_a_temporary_folder_reaches_every_record(net_folder, tiny_dataset, tmp_path):
    out = tmp_path / "run"
    args = [
        "tune",
        "--images",
        str(tiny_dataset / "images"),
        "--masks",
        str(tiny_dataset / "masks"),
        "--out",
        str(out),
        "--size",
        "32",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "4",
        "--seeds",
        "1",
        "--confirm-budget",
        "18",
        "--threads",
        "1",
        "--n-trials",
        "1",
        "-q",
        "--model",
        "tinynet:build",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    res = json.loads((out / "result.json").read_text())
    assert run["model"] == res["model"] == {"name": "tinynet:build", "parameters": TINY_NET_PARAMETERS}
    assert "--model tinynet:build" in run["command"]
    html = (out / "report.html").read_text()
    assert f"Confirmed on tinynet:build, {TINY_NET_PARAMETERS} parameters" in html
    # resuming the study with another model is refused: its trials are not comparable
    with pytest.raises(StudyMismatchError, match=r"model: 'tinynet:build' -> 'compact'"):
        tune(
            tiny_dataset / "images",
            tiny_dataset / "masks",
            out=out,
            size=32,
            epochs=1,
            steps_per_epoch=2,
            batch_size=4,
            seeds=1,
            threads=1,
            n_trials=1,
            progress=False,
            report=False,
        )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("brokenimport:build", "importing 'brokenimport' failed"),
        ("wrongshape:build", "on input (2, 3, 32, 32) it returned shape (2, 1, 16, 16)"),
        ("raises:build", "the forward pass on input (2, 3, 32, 32) raised RuntimeError"),
    ],
)
def test_cli_refuses_a_bad_model_before_writing_anything(net_folder, tiny_dataset, tmp_path, spec, message):
    out = tmp_path / "never"
    args = [
        "tune",
        "--images",
        str(tiny_dataset / "images"),
        "--masks",
        str(tiny_dataset / "masks"),
        "--out",
        str(out),
        "--size",
        "32",
        "--threads",
        "1",
        "-q",
        "--model",
        spec,
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: Model {spec!r}") and message in result.output
    assert not out.exists()


def test_side_must_suit_the_preset(tiny_dataset, tmp_path):
    with pytest.raises(ConfigError, match=r"multiple of 8 for the model 'monai-segresnet'; got 36"):
        tune(
            tiny_dataset / "images",
            tiny_dataset / "masks",
            out=tmp_path / "x",
            size=36,
            model="monai-segresnet",
            progress=False,
        )


def test_model_and_model_factory_are_one_option(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="'model' and 'model_factory' are the same option"):
        tune(
            tiny_dataset / "images",
            tiny_dataset / "masks",
            out=tmp_path / "x",
            model="compact",
            model_factory="compact",
            progress=False,
        )


def test_model_option_is_explained_in_help():
    result = CliRunner().invoke(cli, ["tune", "--help"])
    assert "MODULE:CALLABLE" in result.output and "monai-segresnet" in result.output


def test_typed_records_read_the_model(tiny_dataset, tmp_path, tiny):
    from lossadvisor.runfolder import RunSummary, TuneOutcome

    out = tmp_path / "run"
    tune(tiny_dataset / "images", tiny_dataset / "masks", out=out, n_trials=1, report=False, **tiny)
    expected = count_parameters(CompactUNet(3, 1))
    outcome, run = TuneOutcome.load(out / "result.json"), RunSummary.load(out / "run.json")
    assert (outcome.model.name, outcome.model.parameters) == ("compact", expected)
    assert (run.model.name, run.model.parameters) == ("compact", expected)
    assert outcome.training.model == "compact U-Net" and outcome.training.parameters == expected
