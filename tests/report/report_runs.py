"""Write realistic run folders (every file of docs/ARCHITECTURE.md's table) for the report tests.

The profile and recommendation go through their records (``DatasetProfile.save``, ``Recommendation.save``) so
they follow the schema exactly; the CSV/JSON/NPZ files follow the documented columns. The numbers are chosen
by hand so tests can check the report against them (e.g. 10 % foreground pixels -> imbalance ratio 9 : 1).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from lossadvisor.profile._schema import (
    ClassStats,
    DatasetProfile,
    Distribution,
    ObjectStats,
    ScaleEffect,
    SkippedFile,
)
from lossadvisor.rules._schema import Candidate, ParamRange, Recommendation, RuleTrace, SearchSpaceEntry
from lossadvisor.runfolder import (
    EPOCH_COLUMNS,
    STABILITY_COLUMNS,
    TRIAL_COLUMNS,
    flat_params,
    with_param_columns,
    write_csv,
    write_json,
)

IMAGES = 20
SIDE = 64
PIXELS = IMAGES * SIDE * SIDE  # 81,920
FG_PIXELS = PIXELS // 10  # 8,192: 10 % foreground -> imbalance ratio 9 : 1
LOSSES = ("ce", "dice", "dice_ce", "focal")
RECOMMENDED = {
    "loss": "dice_ce",
    "params": {"mix": 0.3},
    "lr": 0.002,
    "label": "dice_ce mix=0.3 lr=2.0e-03",
    "config_id": "c1",
}


def dist(values: list[float]) -> Distribution:
    a = np.asarray(values, dtype=float)
    mean = float(a.mean())
    return Distribution(
        count=len(a),
        mean=mean,
        std=float(a.std()),
        cv=float(a.std() / mean) if mean else 0.0,
        min=float(a.min()),
        median=float(np.median(a)),
        max=float(a.max()),
        percentiles={f"p{p}": float(np.percentile(a, p)) for p in (5, 10, 25, 50, 75, 90, 95)},
    )


def make_profile(*, class_name: str = "building", skipped: tuple[SkippedFile, ...] = ()) -> DatasetProfile:
    fractions = [0.0] * 4 + [0.125] * 16  # 4 empty tiles; 16 x 512 px = 8,192 fg pixels
    objects_per_image = [0] * 4 + [2] * 16
    areas = [256.0] * 24 + [40.0] * 4 + [472.0] * 4  # 32 objects, 8,192 px
    hist = [0] * 12
    for a in areas:
        hist[int(math.log2(a))] += 1
    objects = ObjectStats(
        count=32,
        per_image=dist(objects_per_image),
        area_px=dist(areas),
        area_share=dist([a / SIDE**2 for a in areas]),
        equivalent_diameter=dist([math.sqrt(4 * a / math.pi) for a in areas]),
        size_buckets={"tiny": 4, "small": 28, "medium": 0, "large": 0},
        area_log2_histogram=tuple(hist),
    )
    classes = (
        ClassStats(
            index=0,
            name="background",
            pixel_count=PIXELS - FG_PIXELS,
            pixel_frequency=0.9,
            absent_share=0.0,
            is_background=True,
            objects=None,
            boundary_pixels=0,
            boundary_share=0.0,
        ),
        ClassStats(
            index=1,
            name=class_name,
            pixel_count=FG_PIXELS,
            pixel_frequency=0.1,
            absent_share=0.2,
            is_background=False,
            objects=objects,
            boundary_pixels=2048,
            boundary_share=0.25,
        ),
    )
    return DatasetProfile(
        dataset_name="buildings-test",
        source="examples/buildings/masks",
        fingerprint="ab" * 32,
        task="binary",
        mask_encoding="binary 0/255",
        num_classes=2,
        classes=classes,
        ignore_index=None,
        ignored_pixels=0,
        connectivity=8,
        files_found=IMAGES + len(skipped),
        files_read=IMAGES,
        skipped=skipped,
        image_height=dist([SIDE] * IMAGES),
        image_width=dist([SIDE] * IMAGES),
        total_pixels=PIXELS,
        imbalance_ratio=9.0,
        minority_class=class_name,
        minority_share=0.1,
        empty_mask_share=0.2,
        foreground_fraction=dist(fractions),
        boundary_share=0.25,
        scale_effects=(
            ScaleEffect(
                train_size=32,
                scale_factor_median=0.5,
                objects=32,
                share_objects_below={"2px": 0.0, "4px": 0.125},
                share_foreground_pixels_below={"2px": 0.0, "4px": 0.0195},
            ),
        ),
        train_sizes=(32,),
        created_with="0.1.0",
    )


def make_per_image(profile: DatasetProfile, class_name: str = "building") -> pd.DataFrame:
    rows = []
    for i in range(IMAGES):
        fg = 0 if i < 4 else 512
        rows.append(
            {
                "file": f"tile_{i:02d}.png",
                "height": SIDE,
                "width": SIDE,
                "pixels_background": SIDE**2 - fg,
                f"pixels_{class_name}": fg,
                "foreground_fraction": fg / SIDE**2,
                f"objects_{class_name}": 0 if i < 4 else 2,
                "object_area_min": 0 if i < 4 else 256,
                "object_area_median": 0 if i < 4 else 256,
                "object_area_max": 0 if i < 4 else 256,
                "boundary_pixels": 0 if i < 4 else 128,
                "skipped_reason": "",
            }
        )
    for s in profile.skipped:
        rows.append({"file": s.path, "skipped_reason": s.reason})
    return pd.DataFrame(rows)


def make_recommendation(profile: DatasetProfile) -> Recommendation:
    trace = (
        RuleTrace(
            rule="rule_imbalance_level",
            question="How rare is the rarest class?",
            measured_name="minority_share",
            measured=0.1,
            threshold=0.2,
            comparison="<",
            fired=True,
            conclusion="Moderate imbalance: weighted CE first, then Dice mixed with CE.",
            reference="Sudre et al. 2017, Generalised Dice overlap",
        ),
        RuleTrace(
            rule="rule_empty_masks",
            question="How many masks are empty?",
            measured_name="empty_mask_share",
            measured=0.2,
            threshold=0.3,
            comparison=">=",
            fired=False,
            conclusion="Few empty masks.",
            reference="Milletari et al. 2016, V-Net",
        ),
    )
    candidates = (
        Candidate(
            rank=1,
            loss="dice_ce",
            params={"mix": 0.5},
            lr_range=(1e-4, 1e-2),
            rationale="Dice mixed with CE copes with imbalance and keeps CE's stable gradient.",
            lr_note="LR range tests are unreliable for bounded losses.",
        ),
        Candidate(
            rank=2, loss="ce", params={}, lr_range=(1e-4, 1e-2), rationale="The baseline.", is_baseline=True
        ),
    )
    space = tuple(
        SearchSpaceEntry(
            loss=c.loss,
            lr_range=c.lr_range,
            fixed_params={},
            tunable=(ParamRange(name="mix", low=0.1, high=0.9),) if c.loss == "dice_ce" else (),
        )
        for c in candidates
    )
    return Recommendation(
        dataset_name=profile.dataset_name,
        profile_fingerprint=profile.fingerprint,
        task="binary",
        num_classes=2,
        imbalance_level="moderate",
        candidates=candidates,
        search_space=space,
        trace=trace,
        warnings=("4 of 20 masks are empty.",),
        thresholds={"moderate_minority_share": 0.2},
        created_with="0.1.0",
    )


def make_trials(n: int = 16) -> pd.DataFrame:
    """``n`` trials cycling through the losses; the last two are pruned and failed; IoU peaks at lr 3e-3."""
    rows = []
    for i in range(n):
        loss = LOSSES[i % len(LOSSES)]
        lr = 10 ** (-4 + 2.5 * i / max(1, n - 1))
        value = round(max(0.05, 0.8 - 0.25 * abs(math.log10(lr / 3e-3))) - 0.05 * (loss == "ce"), 4)
        state, reason = "COMPLETE", ""
        if i == n - 2:
            state = "PRUNED"
        if i == n - 1:
            state, value, reason = "FAIL", float("nan"), "RuntimeError: loss became NaN at epoch 2"
        rows.append(
            {
                "number": i,
                "state": state,
                "loss": loss,
                "lr": lr,
                **flat_params({"mix": 0.3} if loss == "dice_ce" else {}),  # param_mix, as the tuner writes
                "value": value,
                "best_epoch": {"COMPLETE": 2, "PRUNED": 1}.get(state),  # a failed trial has none
                "best_iou": value,
                "best_dice": value and 2 * value / (1 + value),  # Dice of the same prediction as the IoU
                "val_iou": value and round(value * 0.9, 4),  # the final epoch scored a little lower
                "val_dice": value and 2 * value * 0.9 / (1 + value * 0.9),
                "epochs_run": 1 if state == "PRUNED" else 3,
                "collapse": "background" if i == 3 else "none",
                "grad_norm_max": 1.5,
                "grad_spikes": 0,
                "nonfinite": state == "FAIL",
                "duration_s": 2.5,
                "fail_reason": reason,
            }
        )
    return pd.DataFrame(rows)


def make_epochs(trials: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for t in trials.itertuples():
        for epoch in range(1, int(t.epochs_run) + 1):
            iou = (t.value if not math.isnan(t.value) else 0.0) * epoch / t.epochs_run
            rows.append(
                {
                    "phase": "search",
                    "run_id": f"t{t.number}",
                    "trial": t.number,
                    "loss": t.loss,
                    "epoch": epoch,
                    "train_loss": 1.0 / (epoch + 1),
                    "val_iou": iou,
                    "val_dice": 2 * iou / (1 + iou),
                    "pred_fg_share": 0.1,
                    "true_fg_share": 0.1,
                    "collapse": "none",
                    "grad_norm_mean": 1.0,
                    "grad_norm_max": 1.5,
                    "grad_spikes": 0,
                    "nonfinite": False,
                    "seconds": 0.8,
                }
            )
    return pd.DataFrame(rows)


def make_stability() -> pd.DataFrame:
    configs = [
        ("c1", "dice_ce mix=0.3 lr=2.0e-03", "top", "dice_ce", 0.002, [0.78, 0.8, 0.79]),
        ("c2", "ce lr=3.0e-03", "family_best", "ce", 0.003, [0.74, 0.75, 0.73]),
        ("c3", "dice lr=5.0e-03", "family_best", "dice", 0.005, [0.77, 0.02, 0.76]),
        ("c4", "focal lr=8.0e-03", "family_best", "focal", 0.008, [0.70, None, 0.72]),  # seed 1 failed
    ]
    rows = []
    for config_id, label, source, loss, lr, ious in configs:
        for seed, iou in enumerate(ious):
            rows.append(
                {
                    "config_id": config_id,
                    "label": label,
                    "source": source,
                    "loss": loss,
                    "lr": lr,
                    "seed": seed,
                    "val_iou": iou,
                    "val_dice": None if iou is None else 2 * iou / (1 + iou),
                    "collapse": "background" if iou is not None and iou < 0.1 else "none",
                    "failed": iou is None,
                    "fail_reason": "RuntimeError: loss became NaN at step 7" if iou is None else "",
                    "recall_tiny": 0.5,
                    "recall_small": 0.9,
                    "recall_medium": None,
                    "recall_large": None,
                    "duration_s": 3.0,
                }
            )
    return pd.DataFrame(rows)


# Aggregates over make_stability()'s seeds as a tuner writes them to result.json, worked out by hand: a failed
# run counts as IoU 0 and as collapsed; std is the sample standard deviation (ddof 1).
RANKING = [
    # config_id, label, loss, params, lr, mean_iou, std_iou, collapse_rate, failures, score
    ("c1", RECOMMENDED["label"], "dice_ce", {"mix": 0.3}, 0.002, 0.79, 0.01, 0.0, 0, 0.78),
    ("c2", "ce lr=3.0e-03", "ce", {}, 0.003, 0.74, 0.01, 0.0, 0, 0.73),
    # (0.77 + 0.02 + 0.76) / 3 = 0.5167; std = 0.4301; 1 of 3 collapsed
    ("c3", "dice lr=5.0e-03", "dice", {}, 0.005, 0.5167, 0.4301, 1 / 3, 0, -0.0801),
    # (0.70 + 0 + 0.72) / 3 = 0.4733; std of (0.70, 0, 0.72) = 0.4100; 1 of 3 failed
    ("c4", "focal lr=8.0e-03", "focal", {}, 0.008, 0.4733, 0.41, 1 / 3, 1, -0.1033),
]


def _pairs(other: tuple[float, ...]) -> list[tuple[float, float]]:
    """(winner c1's IoU, the other finalist's IoU) per seed, from make_stability()."""
    return list(zip((0.78, 0.8, 0.79), other, strict=True))


def make_result() -> dict:
    return {
        "recommended": RECOMMENDED,
        "confidence": {
            "level": "medium",
            "margin": 0.02,
            "seed_spread": 0.008,
            "explanation": "dice_ce beat the runner-up (dice) by 0.02 IoU, within two seed spreads.",
        },
        "ranking": [
            {
                "config_id": cid,
                "label": label,
                "loss": loss,
                "params": params,
                "lr": lr,
                "seeds": 3,
                "mean_iou": mean,
                "std_iou": std,
                "collapse_rate": rate,
                "failures": failures,
                "score": score,
            }
            for cid, label, loss, params, lr, mean, std, rate, failures, score in RANKING
        ],
        "param_importances": {"lr": 0.7, "loss": 0.2, "mix": 0.1},
        "snippets": {
            "pytorch": "from lossadvisor.losses import build_loss\nloss_fn = build_loss('dice_ce', mix=0.3)\n"
            "optimizer = torch.optim.AdamW(model.parameters(), lr=2.0e-03)",
            "fastai": "learn = Learner(dls, model, loss_func=build_loss('dice_ce', mix=0.3))\n"
            "learn.fit_one_cycle(40, lr_max=2.0e-03)",
        },
        "verdict": {
            "kind": "clear",
            "winner": "c1",
            "recommended": "c1",
            "tied": ["c1"],
            "margin": 0.01,
            "explanation": "dice_ce beat every other finalist by more than 0.01 IoU.",
            "comparisons": [
                {
                    "against": cid,
                    "against_loss": loss,
                    "runs": 3,
                    # winner minus the finalist, per (fold, seed) run, from make_stability()'s IoUs
                    "per_run": [
                        {"fold": i, "seed": 0, "diff": round(w - o, 4)} for i, (w, o) in enumerate(pairs)
                    ],
                    "mean_diff": round(sum(w - o for w, o in pairs) / 3, 4),
                    "ci_low": ci[0],
                    "ci_high": ci[1],
                    "ci_level": 0.95,
                    "runs_won": sum(w > o for w, o in pairs),
                    "runs_lost": sum(w < o for w, o in pairs),
                    "clear": ci[0] > 0,
                }
                for cid, loss, pairs, ci in (
                    ("c2", "ce", _pairs((0.74, 0.75, 0.73)), (0.04, 0.06)),
                    ("c3", "dice", _pairs((0.77, 0.02, 0.76)), (0.01, 0.78)),
                    ("c4", "focal", _pairs((0.70, 0.0, 0.72)), (-0.2, 0.8)),
                )
            ],
        },
        "object_recall": {
            "c1": {"tiny": 0.5, "small": 0.9, "medium": None, "large": None},
            "c2": {"tiny": 0.25, "small": 0.85, "medium": None, "large": None},
        },
        "validation": {"tiles": 4, "objects": {"tiny": 4, "small": 20, "medium": 0, "large": 0}},
        "budget": {
            "time_budget": "10m",
            "seconds": 600.0,
            "kept": True,
            "bought": "The 10-minute budget bought: 7 search trials (2.1 min), 4 diagnostic runs (36 s), "
            "24 confirmation runs at 2 run lengths (5.8 min). 9.4 min in all: kept.",
        },
        "training": {
            "steps_per_run": 60,
            "objective": "validation foreground IoU (best epoch) in the search",
            "model": "compact U-Net",
            "parameters": 431_000,
            "optimizer": "AdamW",
            "weight_decay": 1e-4,
            "warmup_steps": 0,
            "batch_size": 8,
            "tile_px": 32,
            "tile_mode": "resize",
        },
    }


def make_lr_range_tests() -> list[dict]:
    lrs = list(np.logspace(-6, 0, 30))
    return [
        {
            "loss": "ce",
            "suggested_lr": 3e-3,
            "method": "steepest",
            "lrs": lrs,
            "losses": [0.7 - 0.4 / (1 + math.exp(-(math.log10(x) + 3))) + (x > 0.1) * 2.0 for x in lrs],
            "suspect": False,
            "note": "",
        },
        {
            "loss": "dice",
            "suggested_lr": 0.2,
            "method": "slide",
            "lrs": lrs,
            "losses": [0.9 - 0.01 * i / 30 for i in range(30)],
            "suspect": True,
            "note": "bounded loss: the curve barely moves",
        },
    ]


def make_samples(path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(3, 32, 32, 3), dtype=np.uint8)
    masks = np.zeros((3, 32, 32), dtype=np.int64)
    masks[:, 8:20, 8:20] = 1
    masks[2] = 0  # an empty tile
    preds = {"c1": masks.copy(), "c2": np.roll(masks, 3, axis=2), "c3": np.zeros_like(masks)}
    labels = {"c1": RECOMMENDED["label"], "c2": "ce lr=3.0e-03", "c3": "dice lr=5.0e-03"}
    np.savez(
        path,
        images=images,
        masks=masks,
        labels=np.array(json.dumps(labels)),
        **{f"pred__{k}": v for k, v in preds.items()},
    )


def write_run_folder(
    path: Path,
    *,
    stage: str = "complete",
    class_name: str = "building",
    skipped: tuple[SkippedFile, ...] = (),
    n_trials: int = 16,
    storage: str = "sqlite:///study.db",
    command: str | None = None,
) -> Path:
    """Write a run folder at ``stage``: "profile", "advice", "running" (a study in progress) or "complete"."""
    path.mkdir(parents=True, exist_ok=True)
    profile = make_profile(class_name=class_name, skipped=skipped)
    profile.save(path / "profile.json")
    make_per_image(profile, class_name).to_csv(path / "per_image.csv", index=False)
    if stage == "profile":
        return path
    make_recommendation(profile).save(path / "recommendation.json")
    if stage == "advice":
        return path
    trials = make_trials(n_trials)
    running = stage == "running"
    records = trials.to_dict("records")
    write_csv(path / "trials.csv", with_param_columns(TRIAL_COLUMNS, records), records)
    write_csv(path / "epochs.csv", EPOCH_COLUMNS, make_epochs(trials).to_dict("records"))
    run = {
        "status": "running" if running else "complete",
        "command": command or f"lossadvisor tune --images img --masks masks --out {path}",
        "started": "2026-11-28T20:00:00+00:00",
        "finished": None if running else "2026-11-28T20:12:30+00:00",
        "duration_s": None if running else 750.0,
        "settings": {"n_trials": n_trials, "epochs": 3, "size": 32},
        "environment": {
            "python": "3.11.9",
            "torch": "2.13.0",
            "optuna": "5.0.0",
            "device": "cpu (2 threads)",
        },
        "storage": storage,
        "study_name": "lossadvisor-buildings-test",
        "fingerprint": "ab" * 32,
        "left_out": ["images/tile_99.png: no mask with the stem tile_99"],
    }
    (path / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    (path / "lr_range_test.json").write_text(json.dumps(make_lr_range_tests()), encoding="utf-8")
    if running:
        return path
    write_csv(path / "stability.csv", STABILITY_COLUMNS, make_stability().to_dict("records"))
    write_json(path / "result.json", make_result())
    make_samples(path / "samples.npz")
    return path


def write_multiclass_run_folder(path: Path) -> Path:
    """A complete run whose masks have two foreground classes (building, road): 3 classes in all."""
    import dataclasses

    write_run_folder(path, stage="complete")
    profile = make_profile()
    building = profile.classes[1]
    road = dataclasses.replace(
        building,
        index=2,
        name="road",
        pixel_count=4096,
        pixel_frequency=0.05,
        absent_share=0.5,
        boundary_share=0.6,
    )
    background = dataclasses.replace(
        profile.classes[0], pixel_count=PIXELS - FG_PIXELS - 4096, pixel_frequency=0.85
    )
    profile = dataclasses.replace(
        profile,
        task="multiclass",
        num_classes=3,
        classes=(background, building, road),
        imbalance_ratio=17.0,
        minority_class="road",
        minority_share=0.05,
    )
    profile.save(path / "profile.json")
    per_image = make_per_image(profile)
    per_image["objects_road"] = [i % 3 for i in range(len(per_image))]
    per_image.to_csv(path / "per_image.csv", index=False)
    with np.load(path / "samples.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["masks"][:, 24:28, :] = 2  # a road across every tile
    arrays["pred__c1"][:, 24:28, :16] = 2
    np.savez(path / "samples.npz", **arrays)
    return path
