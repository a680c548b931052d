"""Where does a confirmation run's noise come from, and how much of it does the training recipe remove?

Confirmation-like runs (the compact U-Net, AdamW, batch 8, 6 validations x 40 steps = 240 optimiser steps,
the default confirmation run's budget; scored on the fold's pooled validation tiles) of two losses, CE and
Dice+CE (mix 0.5), both at lr 2e-3 (the rate the search picked for both on the bundled example), at
``--size`` px (default 64: a quarter of a 128-px run's pixels, so the benchmark fits a shared 2-core
machine), on three sets:

- ``buildings``: examples/buildings (31 tiles, resized);
- ``nuclei``: dsb2018-nuclei (the 2018 Data Science Bowl nuclei set, 170 tiles, resized) from the folder
  named by LOSSADVISOR_DATA (or ``--data DIR``), skipped without it;
- ``outlines``: a thin, rare-foreground set built on the fly (in a temporary folder, never committed) from
  the nuclei masks: the 2-px inner outline of every nucleus, on the 84 tiles of 256 px, trained on
  native-resolution crops (validated on the grid of windows, as ``--crop`` does). ``--quick``, or a run
  without the nuclei set, builds it from the buildings masks instead.

Design, per set, recipe and loss: 3 stratified folds (as the confirmation's) x 3 runs per fold in an "L":
initialisation seed and data-stream seed (batch order, crops, flips) crossed as (0, 0), (0, 1), (1, 0).
Every seed is a hash of (loss, fold, index), so the two losses' runs are independent streams paired by fold
and cell, as in the confirmation. Estimators (method of moments, pooled over folds, 3 degrees of freedom):

- seed variance: the mean of ``(y01 - y10)^2 / 2`` (the two runs share nothing but the fold);
- data-stream part: the mean of ``(y00 - y01)^2 / 2`` (same initialisation), initialisation part: the mean
  of ``(y00 - y10)^2 / 2`` (same data stream); each includes their interaction;
- fold variance: the variance of the fold means less what the seeds put into an L's mean (with
  ``y = fold + init_i + data_j + e``: 5/9 of the init and data variances and 1/3 of e's, i.e.
  ``7/9 seed - 2/9 (data + init)`` in the estimates above), floored at 0;
- tile part: the bootstrap variance of a run's pooled IoU when its fold's validation tiles are resampled
  (2000 draws, the same draw for both losses for the difference), averaged over runs; the evaluation set's
  share of the fold component, not part of the seed spread;
- the SD of the per-run paired differences (Dice+CE - CE, 9 per set and recipe) is the figure the verdict
  lives on (issue 17: 0.106 on a real thin-crack set).

Every run is scored four ways at no extra training: the last step's weights (what the confirmation scored
before), the mean of the last 3 validations (steps 160, 200, 240), the recipe's moving average of the
weights (decay ``min(0.99, (1 + t) / (10 + t))``), and a plain moving average (decay 0.98 from the first
step). Training-side causes are tested one at a time against the same seeds and tiles: GroupNorm for
BatchNorm, a cosine decay of the learning rate, and (crop mode only) a third of each batch's crops centred
on foreground. The independent reference is a plain MONAI ``UNet`` (16-32-64-128, 2 residual units,
instance norm) with Adam at lr 1e-3 on the same batch stream (fold 0, 3 seeds per loss, 240 steps).

Usage: ``python -m benchmarks noise [--quick] [--sets buildings,nuclei,outlines] [--recipes base,gn,...]
[--size 64] [--threads 1] [--data DIR]``. Raw scores are written to ``benchmarks/_out/noise-<set>.json``
(runs already there are kept, so recipes can be run one at a time), and ``--summary`` prints the tables from
those files without training.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks._data_root import add_data_option, missing_note, real_set

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "buildings"
OUT = ROOT / "benchmarks" / "_out"
LOSSES = (("ce", {}, 2e-3), ("dice_ce", {"mix": 0.5}, 2e-3))
CELLS = ((0, 0), (0, 1), (1, 0))  # (initialisation seed, data-stream seed) per fold: the "L" design
FOLDS = 3
EMA_DECAY = 0.99  # with the recipe's warm-up: min(0.99, (1 + t) / (10 + t)), 0.964 at step 240
EMA_PLAIN = 0.98  # a plain EMA from the first step: about the last 50 steps
AVERAGED_EVALS = 3
BOOTSTRAPS = 2000
MAX_OUTLINE_SIDE = 256  # outline set: tiles up to this side (keeps the validation grid small)
MONAI_SEEDS = 3
DEFAULT_SIZE = 64  # a quarter of a 128-px run's pixels: the whole benchmark fits a shared 2-core machine
TARGET_RATIO = 0.5


@dataclass(frozen=True)
class Recipe:
    """One training recipe: what differs from the current defaults of a confirmation run."""

    name: str
    norm: str = "batch"
    schedule: str = "constant"
    foreground_share: float = 0.0
    crop_only: bool = False  # the recipe changes nothing in resize mode (skipped there)


RECIPES = {
    "base": Recipe("base"),
    "gn": Recipe("gn", norm="group"),
    "cosine": Recipe("cosine", schedule="cosine"),
    "fg": Recipe("fg", foreground_share=1 / 3, crop_only=True),
}


@dataclass
class SetSpec:
    name: str
    images: Path
    masks: Path
    size: int
    crop: int | None
    note: str
    runs: dict = field(default_factory=dict)


def _seed(*parts) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16) % (2**31 - 1)


def build_outlines(src: Path, dst: Path, *, width: int = 2, max_side: int | None = None) -> int:
    """Write the ``width``-px inner outlines of ``src``'s mask foreground to ``dst/masks`` (images linked);
    return the number of tiles. The outline is the foreground less its erosion by ``width`` 3x3 steps."""
    from PIL import Image
    from scipy import ndimage

    (dst / "images").mkdir(parents=True, exist_ok=True)
    (dst / "masks").mkdir(parents=True, exist_ok=True)
    images = {p.stem: p for p in (src / "images").iterdir()}
    n = 0
    for mask_path in sorted((src / "masks").iterdir()):
        image = images.get(mask_path.stem)
        if image is None:
            continue
        fg = np.asarray(Image.open(mask_path)) > 0
        if fg.ndim == 3:
            fg = fg.any(axis=-1)
        if max_side is not None and max(fg.shape) > max_side:
            continue
        inner = ndimage.binary_erosion(fg, structure=np.ones((3, 3)), iterations=width, border_value=0)
        Image.fromarray(((fg & ~inner) * 255).astype(np.uint8)).save(dst / "masks" / f"{mask_path.stem}.png")
        link = dst / "images" / image.name
        if not link.exists():
            link.symlink_to(image.resolve())
        n += 1
    return n


def _sets(size: int, quick: bool, workdir: Path, names: list[str], data: Path | None = None) -> list[SetSpec]:
    out = []
    nuclei = real_set("dsb2018-nuclei", data)
    for name in names:
        if name == "buildings":
            out.append(
                SetSpec(name, EXAMPLE / "images", EXAMPLE / "masks", size, None, f"31 tiles, {size} px")
            )
        elif name == "nuclei":
            if nuclei is None:
                print(missing_note("dsb2018-nuclei", data))
                continue
            out.append(
                SetSpec(name, nuclei / "images", nuclei / "masks", size, None, f"170 tiles, {size} px")
            )
        elif name == "outlines":
            src = EXAMPLE if quick or nuclei is None else nuclei
            dst = workdir / f"outlines-of-{src.name}"
            n = build_outlines(src, dst, max_side=None if quick else MAX_OUTLINE_SIDE)
            out.append(
                SetSpec(
                    name,
                    dst / "images",
                    dst / "masks",
                    size,
                    size,
                    f"{n} tiles of {src.name}, {size}-px crops",
                )
            )
    return out


@contextlib.contextmanager
def _data_stream(seed: int):
    """Give the run's data stream (order, crops, flips) its own seed, apart from the initialisation's."""
    from lossadvisor.tune.training import _train

    original = _train.seed_everything

    def seeded(init_seed: int):
        original(init_seed)
        return np.random.default_rng(seed)

    _train.seed_everything = seeded
    try:
        yield
    finally:
        _train.seed_everything = original


def _iou(counts: np.ndarray) -> float:
    from lossadvisor.tune.confirm._verdict import run_iou

    return run_iou(counts)


def train_run(
    data, recipe: Recipe, loss: tuple, *, init_seed: int, data_seed: int, steps: tuple, device
) -> dict:
    """One run; returns the per-tile counts of the last step, of the last validations and of the EMA model."""
    from lossadvisor.losses import build_loss
    from lossadvisor.tune.training._batches import BatchSource
    from lossadvisor.tune.training._recipe import TrainingRecipe, WeightAverage
    from lossadvisor.tune.training._train import TrialConfig, evaluate, train_trial
    from lossadvisor.tune.training._unet import CompactUNet

    name, params, lr = loss
    epochs, steps_per_epoch = steps
    live: list = []
    evals: list[np.ndarray] = []
    ema_plain: list[np.ndarray] = []
    source = BatchSource(data, batch_size=8, device=device.name, rng=np.random.default_rng(0))

    plain: list = []  # a second average, plain EMA_PLAIN from the start, updated before each training forward

    def factory(c, k):
        live.append(CompactUNet(c, k, norm=recipe.norm))

        def hook(module, _):
            if module.training:
                if not plain:
                    plain.append(WeightAverage(module, decay=EMA_PLAIN, warmup=0))
                plain[0].update(module)

        live[-1].register_forward_pre_hook(hook)
        return live[-1]

    def on_epoch(record) -> bool:
        if record.epoch == epochs:
            plain[0].update(live[-1])  # the last step's weights
            per_image: list = []
            evaluate(
                plain[0].model, source, num_classes=2, ignore_index=None, autocast=contextlib.nullcontext,
                per_image=per_image,
            )  # fmt: skip
            ema_plain.append(np.stack(per_image))
        if record.epoch > epochs - AVERAGED_EVALS:
            per_image: list = []
            evaluate(live[-1], source, num_classes=2, ignore_index=None, autocast=contextlib.nullcontext,
                     per_image=per_image)  # fmt: skip
            evals.append(np.stack(per_image))
        return False

    config = TrialConfig(
        name, dict(params), lr, epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=8, seed=init_seed,
        recipe=TrainingRecipe(
            ema_decay=EMA_DECAY, foreground_share=recipe.foreground_share, schedule=recipe.schedule
        ),
    )  # fmt: skip
    with _data_stream(data_seed):
        outcome = train_trial(
            config, data, num_classes=2, loss_factory=lambda n, p: build_loss(n, **p), device=device,
            model_factory=factory, on_epoch=on_epoch,
        )  # fmt: skip
    if outcome.failed:
        raise RuntimeError(f"run failed: {outcome.fail_reason}")
    return {
        "last": evals[-1], "evals": np.stack(evals), "ema": outcome.image_counts, "ema_plain": ema_plain[-1],
        "s": outcome.duration_s,
    }  # fmt: skip


def monai_run(data, loss: tuple, *, seed: int, steps: int, device) -> np.ndarray:
    """The independent reference: MONAI UNet + Adam on the same batch stream; the final model's per-tile
    counts."""
    import torch
    from monai.networks.nets import UNet

    from lossadvisor.losses import build_loss
    from lossadvisor.tune.training._batches import BatchSource
    from lossadvisor.tune.training._device import seed_everything
    from lossadvisor.tune.training._train import evaluate

    rng = seed_everything(seed)
    model = UNet(spatial_dims=2, in_channels=data.channels, out_channels=1, channels=(16, 32, 64, 128),
                 strides=(2, 2, 2), num_res_units=2)  # fmt: skip
    loss_fn = build_loss(loss[0], **loss[1])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    source = BatchSource(data, batch_size=8, device=device.name, rng=rng)
    model.train()
    for _ in range(steps):
        x, y = source.train_batch()
        optimiser.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimiser.step()
    per_image: list = []
    evaluate(
        model, source, num_classes=2, ignore_index=None, autocast=contextlib.nullcontext, per_image=per_image
    )
    return np.stack(per_image)


def save(raw: dict, name: str, quick: bool) -> None:
    """Merge ``raw`` into ``benchmarks/_out/noise-<name>.json`` (runs already there are kept)."""
    path = OUT / f"noise-{name}{'-quick' if quick else ''}.json"
    old = json.loads(path.read_text()) if path.is_file() else {"runs": {}, "monai": {}}
    merged = {**raw, "runs": {**old["runs"], **raw["runs"]}, "monai": {**old["monai"], **raw["monai"]}}
    path.write_text(json.dumps(merged))


def run_set(
    spec: SetSpec, recipes: list[Recipe], *, quick: bool, threads: int, workdir: Path, monai: bool
) -> dict:
    """Train every (recipe, loss, fold, cell) run of one set (and the MONAI reference); return raw scores."""
    from lossadvisor.io import read_mask
    from lossadvisor.tune import pair_files, resolve_device
    from lossadvisor.tune.data._cache import build_fold_data

    device = resolve_device("cpu", threads=threads)
    pairs = pair_files(spec.images, spec.masks).pairs
    if quick:
        pairs = pairs[:12]
    folds = build_fold_data(
        pairs, read_mask=lambda p: read_mask(p).labels, cache_dir=workdir / "cache", fingerprint=spec.name,
        size=spec.size, crop=spec.crop, folds=FOLDS, seed=0,
    )  # fmt: skip
    steps = (2, 5) if quick else (6, 40)
    raw: dict = {"set": spec.name, "note": spec.note, "steps": steps[0] * steps[1], "runs": {}, "monai": {}}
    start = time.perf_counter()
    for recipe in recipes:
        if recipe.crop_only and spec.crop is None:
            continue
        # Fold by fold, both losses per cell, each run saved as it ends: an interrupted benchmark leaves
        # complete folds (the summary uses the folds that have all their runs).
        for f, data in enumerate(folds):
            for i, j in CELLS:
                for loss in LOSSES:
                    key = f"{recipe.name}/{loss[0]}/{f}/{i}{j}"
                    r = train_run(
                        data, recipe, loss, init_seed=_seed("init", loss[0], f, i),
                        data_seed=_seed("data", loss[0], f, j), steps=steps, device=device,
                    )  # fmt: skip
                    raw["runs"][key] = {k: v.tolist() for k, v in r.items() if k != "s"}
                    save(raw, spec.name, quick)
                    print(
                        f"    {spec.name} {key}: last {_iou(r['last']):.3f}  ema {_iou(r['ema']):.3f}  "
                        f"({r['s']:.0f} s; {time.perf_counter() - start:.0f} s so far)",
                        flush=True,
                    )
    if monai:
        for s in range(2 if quick else MONAI_SEEDS):
            for loss in LOSSES:
                counts = monai_run(folds[0], loss, seed=_seed("monai", loss[0], s), steps=steps[0] * steps[1],
                                   device=device)  # fmt: skip
                raw["monai"][f"{loss[0]}/{s}"] = counts.tolist()
                save(raw, spec.name, quick)
                print(f"    {spec.name} monai {loss[0]} seed {s}: {_iou(counts):.3f}", flush=True)
    return raw


# ---- estimators -------------------------------------------------------------------------------------------


def _bootstrap_var(a: np.ndarray, b: np.ndarray | None, rng: np.random.Generator) -> float:
    """Variance of a run's pooled IoU (or of the difference ``a - b`` of two runs on the same tiles) when the
    validation tiles are resampled with replacement."""
    from lossadvisor.tune.confirm._verdict import foreground_iou

    idx = rng.integers(0, len(a), size=(BOOTSTRAPS, len(a)))
    va = foreground_iou(a[idx].sum(axis=1))
    if b is not None:
        va = va - foreground_iou(b[idx].sum(axis=1))
    return float(np.var(va, ddof=1))


def decompose(y: dict, counts: dict | None = None, other: dict | None = None) -> dict:
    """Variance components from ``y[(fold, cell)]`` (see the module docstring); ``counts`` (and ``other``
    for a difference) give the tile part."""
    folds = sorted({f for f, _ in y})
    d01_10 = [(y[(f, "01")] - y[(f, "10")]) ** 2 / 2 for f in folds]
    d00_01 = [(y[(f, "00")] - y[(f, "01")]) ** 2 / 2 for f in folds]
    d00_10 = [(y[(f, "00")] - y[(f, "10")]) ** 2 / 2 for f in folds]
    seed, data, init = float(np.mean(d01_10)), float(np.mean(d00_01)), float(np.mean(d00_10))
    means = [np.mean([y[(f, c)] for c in ("00", "01", "10")]) for f in folds]
    # An L's mean holds 5/9 of the init and data variances and 1/3 of the rest (see the module docstring).
    within = 7 / 9 * seed - 2 / 9 * (data + init)
    fold = max(0.0, float(np.var(means, ddof=1)) - within) if len(folds) > 1 else float("nan")
    out = {
        "mean": float(np.mean(list(y.values()))),
        "sd_runs": float(np.std(list(y.values()), ddof=1)),
        "seed": seed, "data": data, "init": init, "fold": fold, "folds": len(folds),
    }  # fmt: skip
    if counts is not None:
        rng = np.random.default_rng(0)
        out["tile"] = float(
            np.mean([_bootstrap_var(counts[k], other[k] if other else None, rng) for k in sorted(counts)])
        )
    return out


def _scores(raw: dict, recipe: str, loss: str, how: str) -> tuple[dict, dict]:
    y, c = {}, {}
    for key, r in raw["runs"].items():
        rname, lname, f, cell = key.split("/")
        if rname != recipe or lname != loss:
            continue
        if how == "avg":
            value = float(np.mean([_iou(np.asarray(e)) for e in r["evals"]]))
            counts = np.asarray(r["last"])
        else:
            counts = np.asarray(r[how])
            value = _iou(counts)
        y[(int(f), cell)], c[(int(f), cell)] = value, counts
    return y, c


def summarise(raw: dict) -> dict:
    """Per (recipe, scoring): both losses' components, the paired difference's components, the SD of the
    paired differences."""
    rows = {}
    recipes = list(dict.fromkeys(k.split("/")[0] for k in raw["runs"]))
    for recipe in recipes:
        for how in ("last", "avg", "ema", "ema_plain"):
            (ya, ca), (yb, cb) = (_scores(raw, recipe, name, how) for name, _, _ in LOSSES)
            complete = {f for f, _ in ya if all((f, c) in ya and (f, c) in yb for c in ("00", "01", "10"))}
            if len(complete) < 2:
                continue
            ya, ca, yb, cb = ({k: v for k, v in d.items() if k[0] in complete} for d in (ya, ca, yb, cb))
            diff = {k: yb[k] - ya[k] for k in ya}
            rows[f"{recipe}/{how}"] = {
                LOSSES[0][0]: decompose(ya, ca),
                LOSSES[1][0]: decompose(yb, cb),
                "diff": decompose(diff, cb, ca),
            }
    monai = {}
    seeds = sorted({k.split("/")[1] for k in raw["monai"]})
    seeds = [s for s in seeds if all(f"{name}/{s}" in raw["monai"] for name, _, _ in LOSSES)]
    for name, _, _ in LOSSES:
        vals = [_iou(np.asarray(raw["monai"][f"{name}/{s}"])) for s in seeds]
        if len(vals) > 1:
            monai[name] = {"mean": float(np.mean(vals)), "sd": float(np.std(vals, ddof=1)), "n": len(vals)}
    if len(monai) == len(LOSSES):
        a = [_iou(np.asarray(raw["monai"][f"{LOSSES[0][0]}/{s}"])) for s in seeds]
        b = [_iou(np.asarray(raw["monai"][f"{LOSSES[1][0]}/{s}"])) for s in seeds]
        monai["diff_sd"] = float(np.std(np.subtract(b, a), ddof=1))
    return {"rows": rows, "monai": monai}


LABELS = {
    "last": "last step", "avg": f"mean of last {AVERAGED_EVALS} evals", "ema": f"EMA {EMA_DECAY} warm-up",
    "ema_plain": f"EMA {EMA_PLAIN} plain",
}  # fmt: skip


def _seed_sd(row: dict) -> float:
    """Within-fold seed SD, the root of the two losses' mean seed variance."""
    return float(np.sqrt(np.mean([row[name]["seed"] for name, _, _ in LOSSES])))


def print_table(raw: dict, after: str | None) -> None:
    s = summarise(raw)
    a, b = LOSSES[0][0], LOSSES[1][0]
    print(
        f"  {raw['set']} ({raw['note']}; {raw['steps']} steps; up to {FOLDS} folds x {len(CELLS)} runs x "
        "2 losses):"
    )
    print(
        f"    {'recipe / scoring':<30} {a:>6} {b:>7}  {'SD(diff)':>8}  {'seed SD':>7}  "
        f"{'data':>5} {'init':>5} {'fold':>5} {'tile':>5}  folds (data..tile: the difference's parts, as SDs)"
    )
    for key, row in s["rows"].items():
        recipe, how = key.split("/")
        d = row["diff"]
        comps = "  ".join(f"{np.sqrt(d[c]):.3f}" for c in ("data", "init", "fold", "tile"))
        print(
            f"    {recipe + ', ' + LABELS[how]:<30} {row[a]['mean']:.3f}  {row[b]['mean']:.3f}  "
            f"{d['sd_runs']:>8.3f}  {_seed_sd(row):>7.3f}  {comps}  {d['folds']:>5}"
        )
    m = s["monai"]
    if "diff_sd" in m:
        print(
            f"    {'MONAI UNet + Adam (fold 0)':<30} {m[a]['mean']:.3f}  {m[b]['mean']:.3f}  "
            f"{m['diff_sd']:>8.3f}  "
            f"{np.sqrt((m[a]['sd'] ** 2 + m[b]['sd'] ** 2) / 2):>7.3f}  ({m[a]['n']} seeds per loss)"
        )
    before = s["rows"].get("base/last")
    if after == "auto":  # the default recipe: foreground crops where they apply, the weight average scored
        after = next((k for k in ("fg/ema", "base/ema") if k in s["rows"]), None)
    chosen = s["rows"].get(after) if after else None
    if before and chosen:
        r_diff = chosen["diff"]["sd_runs"] / before["diff"]["sd_runs"]
        r_seed = _seed_sd(chosen) / _seed_sd(before)
        ok = r_diff <= TARGET_RATIO
        ref = ""
        if "diff_sd" in m:
            ref_sd = float(np.sqrt((m[a]["sd"] ** 2 + m[b]["sd"] ** 2) / 2))
            ref = f"; MONAI seed SD {ref_sd:.3f}: " + ("not above" if _seed_sd(chosen) <= ref_sd else "ABOVE")
        print(
            f"    BEFORE (base, last step) -> AFTER ({after}): SD(diff) {before['diff']['sd_runs']:.3f} -> "
            f"{chosen['diff']['sd_runs']:.3f} (x{r_diff:.2f}, target <= x{TARGET_RATIO}: "
            f"{'OK' if ok else 'NOT MET'}); seed SD {_seed_sd(before):.3f} -> {_seed_sd(chosen):.3f} "
            f"(x{r_seed:.2f}{ref})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks noise")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--size", type=int, default=DEFAULT_SIZE, help="tile side (resize) and crop side (px)"
    )
    parser.add_argument("--sets", default="buildings,nuclei,outlines")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--no-monai", action="store_true", help="skip the independent MONAI reference runs")
    parser.add_argument(
        "--after", default="auto", help="recipe/scoring compared with base/last (auto: the default recipe)"
    )
    parser.add_argument("--summary", action="store_true", help="print the tables from benchmarks/_out only")
    add_data_option(parser)
    args = parser.parse_args(argv)
    names = [n for n in args.sets.split(",") if n]
    OUT.mkdir(parents=True, exist_ok=True)
    tag = "-quick" if args.quick else ""
    if not args.summary:
        import tempfile

        import torch

        torch.set_num_threads(args.threads)
        recipes = [RECIPES[r] for r in args.recipes.split(",") if r]
        with tempfile.TemporaryDirectory(prefix="bench-noise-") as tmp:
            for spec in _sets(32 if args.quick else args.size, args.quick, Path(tmp), names, args.data):
                print(f"{spec.name}: {spec.note}", flush=True)
                run_set(spec, recipes, quick=args.quick, threads=args.threads, workdir=Path(tmp),
                        monai=not args.no_monai)  # fmt: skip
    for name in names:
        path = OUT / f"noise-{name}{tag}.json"
        if path.is_file():
            print_table(json.loads(path.read_text()), args.after)
    return 0
