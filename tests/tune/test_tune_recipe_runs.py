"""The recipe in a run: the averaged model is the one validated, validation is deterministic, a study keeps
the recipe it was made with, and the outputs say which recipe was validated."""

from __future__ import annotations

import contextlib
import copy
import logging

import numpy as np
import pytest
import torch

from lossadvisor._run_records import TrainingSetup, describe_recipe
from lossadvisor.io import read_mask
from lossadvisor.report._context import _validated_sentence
from lossadvisor.tune import build_train_data, pair_files, resolve_device, train_trial
from lossadvisor.tune._phases.plan import RECIPE_KEY, study_recipe
from lossadvisor.tune.outputs._outputs import validated_setup
from lossadvisor.tune.study import open_storage
from lossadvisor.tune.study._study import FINGERPRINT_ATTR, SETTINGS_ATTR
from lossadvisor.tune.training import DEFAULT_RECIPE, LEGACY_RECIPE, TrainingRecipe, TrialConfig
from lossadvisor.tune.training._batches import BatchSource
from lossadvisor.tune.training._train import evaluate
from lossadvisor.tune.training._unet import CompactUNet

CPU = resolve_device("cpu", threads=1)


@pytest.fixture
def data(tiny_dataset, tmp_path):
    pairs = pair_files(tiny_dataset / "images", tiny_dataset / "masks").pairs
    return build_train_data(
        pairs, read_mask=lambda p: read_mask(p).labels, cache_dir=tmp_path / "c", fingerprint="f", size=32
    )


def bce(name, params):
    class BCE(torch.nn.Module):
        def forward(self, logits, target):
            return torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], target.float())

    return BCE()


def run(data, recipe: TrainingRecipe):
    """A short run; returns the outcome (its scored model kept) and the live model it trained."""
    live = []

    def factory(c, k):
        live.append(CompactUNet(c, k, channels=(8, 16)))
        return live[-1]

    config = TrialConfig("bce", {}, 3e-3, epochs=2, steps_per_epoch=3, batch_size=4, seed=5, recipe=recipe)
    outcome = train_trial(
        config, data, num_classes=2, loss_factory=bce, device=CPU, model_factory=factory, keep_model=True
    )
    return outcome, live[0]


def iou_of(model, data) -> float:
    source = BatchSource(data, batch_size=4, device="cpu", rng=np.random.default_rng(0))
    tally = evaluate(model, source, num_classes=2, ignore_index=None, autocast=contextlib.nullcontext)
    return tally.scores()[0]


def test_the_validated_model_is_the_weight_average_and_averaging_leaves_training_alone(data):
    averaged, live_a = run(data, TrainingRecipe(ema_decay=0.9))
    plain, live_b = run(data, LEGACY_RECIPE)
    assert averaged.model is not live_a and plain.model is live_b
    # The averaging only watches: the trained weights are bit for bit those of the same run without it.
    for a, b in zip(live_a.state_dict().values(), live_b.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # The last record measures the averaged model, which differs from the last step's weights.
    assert averaged.final.val_iou == iou_of(averaged.model, data)
    assert plain.final.val_iou == iou_of(live_b, data)
    differs = any(
        not torch.equal(a, b)
        for a, b in zip(averaged.model.state_dict().values(), live_a.state_dict().values(), strict=True)
        if a.dtype.is_floating_point
    )
    assert differs


def test_validation_is_deterministic_and_does_not_depend_on_the_run_stream(data):
    model = CompactUNet(3, 1, channels=(8, 16))
    a = BatchSource(data, batch_size=4, device="cpu", rng=np.random.default_rng(1))
    b = BatchSource(data, batch_size=4, device="cpu", rng=np.random.default_rng(2))
    for (xa, ma), (xb, mb) in zip(a.val_batches(), b.val_batches(), strict=True):
        assert torch.equal(xa, xb) and np.array_equal(ma, mb)
    first, second = [], []
    evaluate(model, a, num_classes=2, ignore_index=None, autocast=contextlib.nullcontext, per_image=first)
    a.train_batch()  # the training stream moves on; validation must not
    evaluate(model, a, num_classes=2, ignore_index=None, autocast=contextlib.nullcontext, per_image=second)
    assert np.array_equal(np.stack(first), np.stack(second))


def _study(tmp_path, settings: dict | None):
    import optuna

    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = open_storage(url)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    if settings is not None:
        study.set_user_attr(FINGERPRINT_ATTR, "fp")
        study.set_user_attr(SETTINGS_ATTR, settings)
    return url


def test_a_new_study_gets_the_default_recipe(tmp_path):
    assert (
        study_recipe(None, tmp_path, f"sqlite:///{tmp_path / 'study.db'}", "study.db", "s")
        == (DEFAULT_RECIPE, True)
    )  # recorded in the new study's objective settings


def test_a_study_older_than_the_recipe_keeps_training_the_legacy_way(tmp_path, caplog):
    url = _study(tmp_path, {"size": 128, "epochs": 6})  # objective settings without the recipe
    # not recorded: the resume is checked against the study's own settings, which have no recipe
    with caplog.at_level(logging.WARNING, logger="lossadvisor"):  # a CLI test may have quietened it
        assert study_recipe(None, tmp_path, url, "study.db", "s") == (LEGACY_RECIPE, False)
    assert "made before the training recipe was recorded" in caplog.text


def test_a_study_keeps_the_recipe_it_was_made_with(tmp_path):
    made_with = TrainingRecipe(ema_decay=0.95, foreground_share=0.5)
    url = _study(tmp_path, {"size": 128, RECIPE_KEY: made_with.to_dict()})
    assert study_recipe(None, tmp_path, url, "study.db", "s") == (made_with, True)


def test_the_recipe_is_said_where_the_setup_is_described():
    recipe = {"ema_decay": 0.99, "foreground_share": 1 / 3, "schedule": "constant"}
    crop = describe_recipe(recipe, crop=True)
    assert crop == (
        "a third of each batch's crops centred on foreground, the model scored is the exponential moving "
        "average of its weights (decay 0.99)"
    )
    assert describe_recipe(recipe, crop=False).startswith("the model scored is the exponential")
    assert describe_recipe(LEGACY_RECIPE.to_dict(), crop=True) == ""
    text = validated_setup(
        model="compact U-Net", parameters=431_000, lr=2e-3, steps=240, batch_size=8, side=128, crop=True,
        warmup_steps=0, weight_decay=1e-4, recipe=crop,
    )  # fmt: skip
    assert text.endswith("on random 128-px crops at native resolution; " + crop)
    sentence = _validated_sentence(
        TrainingSetup(model="compact U-Net", parameters=431_000, optimizer="AdamW", weight_decay=1e-4,
                      batch_size=8, tile_px=128, tile_mode="resize", steps_per_run=240, recipe=recipe)
    )  # fmt: skip
    assert "on 128-px tiles (resized); the model scored is the exponential moving average" in sentence


def test_the_pytorch_snippet_keeps_the_same_average_as_the_trials():
    from lossadvisor.tune.outputs._outputs import snippets
    from lossadvisor.tune.training._recipe import WeightAverage

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 1, 1)
    )
    loader = [(torch.randn(2, 3, 8, 8), torch.randint(0, 2, (2, 8, 8))) for _ in range(30)]
    code = snippets("ce", {}, 1e-2, num_classes=2, epochs_hint=1, validated="x", ema_decay=0.99)["pytorch"]
    assert "average.update_parameters(model)" in code
    trained = copy.deepcopy(model)  # the same initial weights, trained below as the trials train
    namespace = {"model": model, "train_loader": loader}
    exec(code, namespace)  # trains `model` and keeps `average`
    # The same training with the trials' WeightAverage:
    from lossadvisor.losses import build_loss

    loss_fn = build_loss("ce")
    optimiser = torch.optim.AdamW(trained.parameters(), lr=1e-2, weight_decay=1e-4)
    average = WeightAverage(trained, decay=0.99)
    for images, masks in loader:
        optimiser.zero_grad()
        loss_fn(trained(images), masks).backward()
        optimiser.step()
        average.update(trained)
    snippet_avg = namespace["average"].module.state_dict()
    for name, value in average.model.state_dict().items():
        # The first update differs (the snippet copies, the trials keep 2/11 of the initial weights), but that
        # share has decayed below 1e-9 after 30 steps.
        if value.dtype.is_floating_point:
            assert torch.allclose(snippet_avg[name], value, atol=1e-6), name
