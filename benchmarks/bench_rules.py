"""Do the rules' rungs earn their place? Ground truth for every candidate loss, and the rules' regret.

Every candidate loss (``ce``; ``weighted_ce`` with the inverse-frequency weights the rules gave before
issue 21, and ``weighted_ce_sqrt`` with square-root weights; ``dice``, ``dice_ce``, ``focal``, ``tversky``)
is trained with the tool's own recipe (:func:`lossadvisor.tune.training.train_trial`: the compact U-Net,
AdamW, batch 8) for 720 steps (6 epochs x 120 steps: 3x a default confirmation run's 240), on a fixed split,
at each learning rate of ``--lrs`` with seed 0; each loss's best learning rate is then run with the other
seeds. The sets are the real sets and controlled variants of ``benchmarks/_rules_data.py`` (64-px tiles);
the nuclei and hippocampus sets are read from the folder named by LOSSADVISOR_DATA (or ``--data DIR``).

Every finished run is appended to ``benchmarks/_out/rules.jsonl`` and skipped when met again, so the
benchmark resumes where it stopped and can be run in pieces (``--sets``, ``--losses``, ``--deadline``).
From the cache it prints, and writes with ``--write-docs``, the evidence table (``docs/EVIDENCE.md`` and
``docs/evidence_rules.csv``) and, per set and objective, the regret of the rules' first choice against the
best measured loss, for the rules in this checkout and for rankings saved with ``--save-rankings`` from
another version of them (``benchmarks/rules_rankings_before.json``: the rules before issue 21).

Usage: ``python -m benchmarks rules [--quick] [--sets IDS] [--losses NAMES] [--lrs LRS] [--seeds N]
[--steps-per-epoch N] [--deadline HH:MM] [--report-only] [--write-docs] [--save-rankings FILE]
[--before FILE] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks._data_root import add_data_option
from benchmarks._rules_data import ROOT, SET_IDS, BenchSet, build_set, unavailable_note

OUT = ROOT / "benchmarks" / "_out"
CACHE = OUT / "rules.jsonl"
DOCS_CSV = ROOT / "docs" / "evidence_rules.csv"
DOCS_MD = ROOT / "docs" / "EVIDENCE.md"
BEFORE = ROOT / "benchmarks" / "rules_rankings_before.json"
ARMS = ("ce", "weighted_ce", "weighted_ce_sqrt", "dice", "dice_ce", "focal", "tversky", "lovasz")
LRS = (3e-3, 1e-2, 1e-3)  # the order they run in: the likeliest best first
OBJECTIVES = ("iou", "dice", "recall")
# "recipe": "default" trains with the tool's recipe (the weights' moving average validated); rows without it
# were made with the last step's weights (LEGACY_RECIPE), and the table never mixes the two.
FULL = {"size": 64, "tiles": 48, "epochs": 6, "steps_per_epoch": 120, "seeds": 3, "recipe": "default"}
QUICK = {"size": 32, "tiles": 16, "epochs": 2, "steps_per_epoch": 5, "seeds": 2}
VAL_FRACTION = 0.25


def arm_params(arm: str, profile) -> tuple[str, dict]:
    """(registry loss, parameters) of one arm: fixed by the profile, never by the rules under test."""
    from lossadvisor.losses import class_weights_from_profile, pos_weight_from_frequency
    from lossadvisor.rules._imbalance import measure_imbalance
    from lossadvisor.rules._params import FOCAL_GAMMA, tversky_beta

    if arm in ("weighted_ce", "weighted_ce_sqrt"):
        binary_method, multi_method = ("inverse", "median") if arm == "weighted_ce" else ("sqrt_inverse",) * 2
        clip = (1 / 20.0, 20.0)
        if profile.task == "binary":
            freq = profile.foreground_classes[0].pixel_frequency
            return "weighted_ce", {
                "pos_weight": round(pos_weight_from_frequency(freq, method=binary_method, clip=clip), 4)
            }
        weights = class_weights_from_profile(profile, method=multi_method, clip=clip)
        order = sorted(profile.classes, key=lambda c: c.index)
        weights = [
            min(float(w), 1.0) if c.is_background else float(w) for c, w in zip(order, weights, strict=True)
        ]
        return "weighted_ce", {"class_weights": tuple(round(w, 4) for w in weights)}
    if arm == "dice_ce":
        return "dice_ce", {"mix": 0.5}
    if arm == "focal":
        return "focal", {"gamma": FOCAL_GAMMA}
    if arm == "tversky":
        return "tversky", {"beta": tversky_beta(measure_imbalance(profile).ratio)}
    return arm, {}


def profile_of(bench: BenchSet):
    from lossadvisor.profile import profile_arrays

    profile, _ = profile_arrays(bench.masks, dataset_name=bench.set_id, train_sizes=(len(bench.masks[0]),))
    return profile


def profile_figures(profile) -> dict:
    """The figures the rules read, as the evidence table shows them."""
    from lossadvisor.rules._imbalance import measure_imbalance

    measure = measure_imbalance(profile)
    objects = [c.objects for c in profile.foreground_classes if c.objects is not None]
    total = sum(o.count for o in objects)
    tiny = sum(o.size_buckets.get("tiny", 0) for o in objects) / total if total else 0.0
    return {
        "classes": profile.num_classes,
        "minority_share": round(measure.minority_share, 4),
        "imbalance_ratio": round(measure.ratio, 2),
        "empty_share": round(profile.empty_mask_share, 4),
        "tiny_share": round(tiny, 4),
        "boundary_share": round(profile.boundary_share, 4),
    }


def split(bench: BenchSet):
    """The fixed training/validation split (seed 0) as TrainData, the way tune builds it."""
    from lossadvisor.tune.data import stratified_split
    from lossadvisor.tune.data._cache import assemble

    frac = np.array([float((m > 0).mean()) for m in bench.masks])
    train_idx, val_idx = stratified_split(frac, val_fraction=VAL_FRACTION, seed=0)
    names = [f"{bench.set_id}[{i}]" for i in range(len(bench.masks))]
    return assemble(
        bench.images, bench.masks, names, train_idx=list(train_idx), val_idx=list(val_idx),
        mode="resize", side=len(bench.masks[0]), skipped=[],
    )  # fmt: skip


def run_key(set_id: str, arm: str, lr: float, seed: int, settings: dict) -> str:
    recipe = "|ema" if settings.get("recipe") == "default" else ""
    return (
        f"{set_id}|{arm}|{lr:g}|{seed}|{settings['size']}|{settings['tiles']}|"
        f"{settings['epochs']}x{settings['steps_per_epoch']}{recipe}"
    )


def train_once(data, num_classes: int, loss: str, params: dict, lr: float, seed: int, settings: dict) -> dict:
    """One run with the tool's training function; the final model's IoU, Dice, pixel recall and precision."""
    from lossadvisor.tune._phases.plan import loss_factory
    from lossadvisor.tune.training import (
        DEFAULT_RECIPE,
        LEGACY_RECIPE,
        TrialConfig,
        resolve_device,
        train_trial,
    )

    # The last step's weights of a 720-step AdamW run can land anywhere along the trajectory's noise (a
    # seed of Dice + CE on nuclei scored 0.55 against 0.81 for the two others): the evidence validates the
    # weights' moving average, as tune does, so a row's spread is the loss's and not the last step's.
    recipe = DEFAULT_RECIPE if settings.get("recipe") == "default" else LEGACY_RECIPE
    config = TrialConfig(
        loss, dict(params), lr, epochs=settings["epochs"], steps_per_epoch=settings["steps_per_epoch"],
        batch_size=8, seed=seed, recipe=recipe,
    )  # fmt: skip
    start = time.perf_counter()
    outcome = train_trial(
        config, data, num_classes=num_classes, loss_factory=loss_factory(None),
        device=resolve_device("cpu", threads=1),
    )  # fmt: skip
    row = {"seconds": round(time.perf_counter() - start, 1), "failed": outcome.failed}
    if outcome.failed or outcome.final is None:
        return row | {"iou": 0.0, "dice": 0.0, "recall": 0.0, "precision": 0.0, "reason": outcome.fail_reason}
    counts = outcome.image_counts.sum(axis=0)  # (3, C): intersection, predicted, labelled
    inter, pred, label = (counts[i, 1:].astype(float) for i in range(3))
    present = label > 0
    recall = float(np.mean(inter[present] / label[present])) if present.any() else 1.0
    precision = float(
        np.mean(np.where(pred[present] > 0, inter[present] / np.maximum(pred[present], 1), 0.0))
    )
    return row | {
        "iou": round(outcome.final.val_iou, 5), "dice": round(outcome.final.val_dice, 5),
        "recall": round(recall, 5), "precision": round(precision, 5),
    }  # fmt: skip


def same_recipe(a: dict, b: dict) -> bool:
    """Runs made with the same recipe (the number of seeds asked for is a plan, not a recipe)."""
    return {k: v for k, v in a.items() if k != "seeds"} == {k: v for k, v in b.items() if k != "seeds"}


def load_cache(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    rows = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["key"]] = row
    return rows


def best_lr(rows: list[dict], arm: str, lrs) -> float | None:
    """The LR whose seed-0 run scored the best IoU (the sweep); None before any run of the arm."""
    swept = [r for r in rows if r["arm"] == arm and r["seed"] == 0 and r["lr"] in lrs]
    return max(swept, key=lambda r: r["iou"])["lr"] if swept else None


def base_lrs(done: dict[str, dict], set_id: str, arms, lrs, settings: dict) -> dict[str, float] | None:
    """For a variant, each arm's best LR on its base set (the sweep is not repeated); None when the base set
    has no sweep of every arm yet, or ``set_id`` is a base set."""
    base, _, variant = set_id.partition("-")
    if not variant:
        return None
    rows = [
        r
        for r in done.values()
        if r["set"] == base and same_recipe(r["settings"], settings) and r["seed"] == 0
    ]
    if any(sum(r["arm"] == arm and r["lr"] in lrs for r in rows) < len(lrs) for arm in arms):
        return None
    found = {arm: best_lr(rows, arm, lrs) for arm in arms}
    return None if any(lr is None for lr in found.values()) else found


def plan(
    set_id: str, done: dict[str, dict], arms, lrs, settings: dict
) -> list[tuple[str, float | None, int]]:
    """(arm, lr, seed) in the order they run: seed by seed over the arms, so a stopped set still compares
    every arm. A base set sweeps the LRs with seed 0 and runs the other seeds at each arm's best (``None``:
    decided when reached); a variant runs every seed at its base set's best LR once that is known."""
    inherited = base_lrs(done, set_id, arms, lrs, settings)
    if inherited is not None:
        return [(arm, inherited[arm], seed) for seed in range(settings["seeds"]) for arm in arms]
    stages: list[tuple[str, float | None, int]] = [(arm, lr, 0) for lr in lrs for arm in arms]
    return stages + [(arm, None, seed) for seed in range(1, settings["seeds"]) for arm in arms]


def execute(
    settings: dict, sets, arms, lrs, deadline: dt.datetime | None, cache: Path, data: Path | None = None
) -> None:
    """Run what is missing of the grid, set by set (see :func:`plan`); the cache is re-read before every run,
    so several processes can share it (each appends whole lines). ``data``: the ``--data`` folder."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    for set_id in sets:
        bench = build_set(set_id, size=settings["size"], tiles=settings["tiles"], data=data)
        if bench is None:
            print(unavailable_note(set_id, data), flush=True)
            continue
        profile = profile_of(bench)
        data = split(bench)
        print(
            f"  {set_id}: {len(data.train_images)} training / {len(data.val_images)} validation tiles, "
            f"{profile_figures(profile)}",
            flush=True,
        )
        for arm, lr, seed in plan(set_id, load_cache(cache), arms, lrs, settings):
            if deadline is not None and dt.datetime.now() >= deadline:
                print(f"  deadline {deadline:%H:%M} reached: stopping", flush=True)
                return
            done = load_cache(cache)
            if lr is None:
                rows = [
                    r for r in done.values() if r["set"] == set_id and same_recipe(r["settings"], settings)
                ]
                lr = best_lr(rows, arm, lrs)
                if lr is None:
                    continue
            key = run_key(set_id, arm, lr, seed, settings)
            if key in done:
                continue
            loss, params = arm_params(arm, profile)
            result = train_once(data, profile.num_classes, loss, params, lr, seed, settings)
            row = {"key": key, "set": set_id, "arm": arm, "loss": loss, "params": params, "lr": lr}
            row |= {"seed": seed, "settings": settings, **result}
            with cache.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(
                f"    {arm:<17} lr {lr:<6g} seed {seed}: IoU {row['iou']:.3f} Dice {row['dice']:.3f} "
                f"recall {row['recall']:.3f} ({row['seconds']:.0f} s)",
                flush=True,
            )


def summarise(done: dict[str, dict], settings: dict, lrs) -> dict[str, dict[str, dict]]:
    """Per set and arm: the best LR (seed-0 sweep) and the mean, SD and n of each metric at that LR."""
    table: dict[str, dict[str, dict]] = {}
    rows = [r for r in done.values() if same_recipe(r["settings"], settings)]
    for set_id in dict.fromkeys(r["set"] for r in rows):
        set_rows = [r for r in rows if r["set"] == set_id]
        for arm in dict.fromkeys(r["arm"] for r in set_rows):
            lr = best_lr(set_rows, arm, lrs)
            if lr is None:
                continue
            at = [r for r in set_rows if r["arm"] == arm and r["lr"] == lr]
            entry = {"lr": lr, "n": len(at), "params": at[0]["params"]}
            for metric in ("iou", "dice", "recall", "precision"):
                values = [r[metric] for r in at]
                entry[metric] = statistics.fmean(values)
                entry[f"{metric}_sd"] = statistics.stdev(values) if len(values) > 1 else math.nan
            table.setdefault(set_id, {})[arm] = entry
    return table


def rules_rankings(profiles: dict) -> dict[str, dict[str, list[dict]]]:
    """Per set and objective, the rules' candidates in order (loss and parameters) from the code in use."""
    import inspect

    from lossadvisor.rules import recommend

    takes_objective = "objective" in inspect.signature(recommend).parameters
    out: dict[str, dict[str, list[dict]]] = {}
    for set_id, profile in profiles.items():
        out[set_id] = {}
        for objective in OBJECTIVES:
            rec = recommend(profile, objective=objective) if takes_objective else recommend(profile)
            out[set_id][objective] = [{"loss": c.loss, "params": dict(c.params)} for c in rec.candidates]
    return out


def set_profiles(set_ids, settings: dict, data: Path | None = None) -> dict:
    """The profile of every set that can be built (each set built once)."""
    profiles = {}
    for set_id in set_ids:
        bench = build_set(set_id, size=settings["size"], tiles=settings["tiles"], data=data)
        if bench is not None:
            profiles[set_id] = profile_of(bench)
    return profiles


def arm_of(candidate: dict, arms: dict[str, dict]) -> str | None:
    """The measured arm a rules candidate corresponds to (weighted CE by the nearer weights); None if none."""
    loss = candidate["loss"]
    if loss != "weighted_ce":
        return loss if loss in arms else None
    options = [a for a in ("weighted_ce", "weighted_ce_sqrt") if a in arms]
    if not options:
        return None

    def gap(arm: str) -> float:
        mine = candidate["params"].get("pos_weight", candidate["params"].get("class_weights"))
        theirs = arms[arm]["params"].get("pos_weight", arms[arm]["params"].get("class_weights"))
        return float(np.abs(np.atleast_1d(mine) - np.atleast_1d(theirs)).sum())

    return min(options, key=gap)


def regret_rows(table, rankings) -> list[dict]:
    """Per set and objective: the rules' first choice, its regret, the noise, and whether their top 3 holds
    the best."""
    out = []
    for set_id, arms in table.items():
        for objective in OBJECTIVES:
            ranked = rankings.get(set_id, {}).get(objective)
            if not ranked:
                continue
            best = max(arms, key=lambda a: arms[a][objective])
            first = arm_of(ranked[0], arms)
            row = {"set": set_id, "objective": objective, "first": first or ranked[0]["loss"], "best": best}
            row |= {"regret": None, "noise": None, "vs_ce": None}
            row["top3_has_best"] = best in [arm_of(c, arms) for c in ranked[:3]]
            if first is not None:
                sds = [arms[a].get(f"{objective}_sd", math.nan) for a in (best, first)]
                row["regret"] = arms[best][objective] - arms[first][objective]
                row["noise"] = math.sqrt(sum(s * s for s in sds) / 2)  # NaN while a loss has one run
                row["vs_ce"] = arms[first][objective] - arms["ce"][objective] if "ce" in arms else None
            out.append(row)
    return out


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _within(row: dict) -> str:
    if row["regret"] is None or row["noise"] is None or math.isnan(row["noise"]):
        return "noise unknown"
    return "within noise" if row["regret"] <= row["noise"] else "OUTSIDE noise"


def print_regret(title: str, rows: list[dict]) -> None:
    print(title)
    for r in rows:
        print(
            f"  {r['set']:<20} {r['objective']:<6} first {r['first']:<17} best {r['best']:<17} "
            f"regret {_fmt(r['regret'])} (noise {_fmt(r['noise'])}, {_within(r)}); "
            f"first - CE {_fmt(r['vs_ce'])}; top 3 holds the best: {r['top3_has_best']}"
        )


METRIC_FIELDS = ("iou", "iou_sd", "dice", "dice_sd", "recall", "recall_sd", "precision")


def write_csv(table, figures: dict[str, dict]) -> None:
    """docs/evidence_rules.csv: one row per set and loss, with the set's profile figures."""
    figure_names = list(next(iter(figures.values()), {}))
    fields = ["set_id", "arm", "loss", "params", "lr", "runs", *METRIC_FIELDS, *figure_names]
    DOCS_CSV.parent.mkdir(parents=True, exist_ok=True)
    with DOCS_CSV.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for set_id, arms in table.items():
            for arm, e in arms.items():
                row = {"set_id": set_id, "arm": arm, "loss": arm.removesuffix("_sqrt"), "runs": e["n"]}
                row |= {"params": json.dumps(e["params"], sort_keys=True), "lr": f"{e['lr']:g}"}
                row |= {k: _fmt(e[k], 4) for k in METRIC_FIELDS}
                writer.writerow(row | figures.get(set_id, {}))


def _header(settings: dict, lrs) -> list[str]:
    steps = settings["epochs"] * settings["steps_per_epoch"]
    return [
        "# Evidence for the rules",
        "",
        "Written by `python -m benchmarks rules --write-docs` (`benchmarks/bench_rules.py`); do not edit by",
        "hand. Recipe: the tool's `train_trial` (compact U-Net, AdamW, batch 8), "
        f"{settings['size']}-px tiles, {settings['epochs']} x {settings['steps_per_epoch']} = {steps} steps,",
        f"learning rate swept over {', '.join(f'{lr:g}' for lr in lrs)} with seed 0, then up to "
        f"{settings['seeds']} seeds at each loss's best; a fixed split (75 / 25 %) of up to "
        f"{settings['tiles']} tiles. Scores: the final model's foreground IoU / Dice / pixel recall on the",
        "validation tiles, mean +- SD over seeds (`n` runs). The model scored: "
        + (
            "the weights' moving average (the tool's recipe)."
            if settings.get("recipe") == "default"
            else "the last step's weights (the recipe before issue 17; `--recipe legacy`), so a seed whose "
            "last step landed badly counts in full: the SDs are wider than the tool's own runs'."
        ),
        "The row ids (the `set_id` column of",
        "`docs/evidence_rules.csv`) are what the rules' rationales cite.",
        "",
        "## Profiles (what the rules read)",
        "",
        "| row id | classes | minority share | imbalance ratio | empty share | tiny share | boundary share |",
        "|---|---|---|---|---|---|---|",
    ]


def _metric_section(table, metric: str) -> list[str]:
    arms_seen = [a for a in ARMS if any(a in arms for arms in table.values())]
    title = "IoU" if metric == "iou" else metric
    lines = ["", f"## {title} of each loss at its best learning rate (best in bold)", ""]
    lines += ["| row id | " + " | ".join(arms_seen) + " |", "|---|" + "---|" * len(arms_seen)]
    for set_id, arms in table.items():
        best = max(arms, key=lambda a: arms[a][metric])
        cells = []
        for a in arms_seen:
            e = arms.get(a)
            cell = (
                "-"
                if e is None
                else f"{e[metric]:.3f} +- {_fmt(e[f'{metric}_sd'])} (n {e['n']}, {e['lr']:g})"
            )
            cells.append(f"**{cell}**" if a == best else cell)
        lines.append(f"| `{set_id}` | " + " | ".join(cells) + " |")
    return lines


def _regret_section(title: str, rows: list[dict]) -> list[str]:
    lines = ["", f"## Regret of the first choice: {title}", ""]
    lines.append(
        "| row id | objective | first choice | best | regret | noise | first - CE | top 3 has best |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = (r["objective"], r["first"], r["best"], _fmt(r["regret"]), _fmt(r["noise"]), _fmt(r["vs_ce"]))
        lines.append(f"| `{r['set']}` | " + " | ".join(cells) + f" | {r['top3_has_best']} |")
    return lines


def _coverage(table, runs: list[dict], lrs) -> list[str]:
    """What was measured and what was not: runs and seeds per set, losses missing, sets never run."""
    lines = ["", "## What was measured", ""]
    total_s = sum(r.get("seconds", 0.0) for r in runs)
    lines.append(f"{len(runs)} runs ({total_s / 3600:.1f} h of wall time on a shared CPU, one thread each).")
    lines.append("")
    for set_id, arms in table.items():
        n = [e["n"] for e in arms.values()]
        missing = [a for a in ARMS if a not in arms]
        base, _, variant = set_id.partition("-")
        swept = sorted({r["lr"] for r in runs if r["set"] == set_id and r["seed"] == 0})
        how = (
            f"each loss at `{base}`'s best learning rate (not swept)"
            if variant
            and all(
                len({r["lr"] for r in runs if r["set"] == set_id and r["arm"] == a and r["seed"] == 0}) == 1
                for a in arms
            )
            else f"learning rates {', '.join(f'{lr:g}' for lr in swept)} swept at seed 0"
        )
        seeds = f"{min(n)} seed(s)" if min(n) == max(n) else f"{min(n)} to {max(n)} seeds"
        lines.append(
            f"- `{set_id}`: {sum(r['set'] == set_id for r in runs)} runs; {how}; {seeds} at each loss's "
            f"learning rate" + (f"; not measured: {', '.join(missing)}" if missing else "") + "."
        )
    never = [s for s in SET_IDS if s not in table]
    if never:
        lines.append(f"- Not measured at all: {', '.join(f'`{s}`' for s in never)}.")
    lines.append(
        "- A loss with one run has no SD (`n/a`); its noise is unknown and its mean is one seed's score."
    )
    return lines


def write_docs(table, figures: dict[str, dict], settings: dict, lrs, before, after, runs) -> None:
    """docs/evidence_rules.csv and docs/EVIDENCE.md (profiles, scores, regret before and after)."""
    write_csv(table, figures)
    lines = _header(settings, lrs)[:-5] + _coverage(table, runs, lrs) + _header(settings, lrs)[-5:]
    for set_id, f in figures.items():
        cells = (f["classes"], f"{f['minority_share']:.3f}", f"{f['imbalance_ratio']:.1f}")
        cells += (f"{f['empty_share']:.2f}", f"{f['tiny_share']:.2f}", f"{f['boundary_share']:.2f}")
        lines.append(f"| `{set_id}` | " + " | ".join(str(c) for c in cells) + " |")
    for metric in ("iou", "dice", "recall"):
        lines += _metric_section(table, metric)
    if before:
        lines += _regret_section("the rules before issue 21", before)
    lines += _regret_section("the rules now", after)
    lines.append("")
    lines.append("Noise: the pooled seed SD of the two losses compared, sqrt((SD_best^2 + SD_first^2) / 2).")
    lines.append(
        "A rules candidate is scored by the measured loss it names; weighted CE by the measured weights "
        "nearest to its own (square-root weights, capped at 5, count as the measured square-root ones, full "
        "weights as the full ones). Dice + CE is "
        "measured with mix 0.5 and without batch Dice whatever the rules set."
    )
    DOCS_MD.write_text("\n".join(lines) + "\n")
    print(f"wrote {DOCS_CSV.relative_to(ROOT)} and {DOCS_MD.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks rules")
    parser.add_argument(
        "--quick", action="store_true", help="2 sets, 2 losses, tiny runs: checks the machinery"
    )
    parser.add_argument(
        "--sets", default=None, help=f"comma-separated set ids (default all: {','.join(SET_IDS)})"
    )
    parser.add_argument("--losses", default=None, help=f"comma-separated arms (default {','.join(ARMS)})")
    parser.add_argument("--lrs", default=None, help="comma-separated learning rates (default 3e-3,1e-2,1e-3)")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument(
        "--recipe",
        choices=("default", "legacy"),
        default="default",
        help="default: the weights' moving average validated (as tune); legacy: the last step's weights",
    )
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--deadline", default=None, help="HH:MM: start no run after this time")
    parser.add_argument("--report-only", action="store_true", help="train nothing; report from the cache")
    parser.add_argument("--write-docs", action="store_true", help="write docs/EVIDENCE.md and its CSV")
    parser.add_argument("--save-rankings", type=Path, default=None, help="save the rules' rankings to FILE")
    parser.add_argument("--before", type=Path, default=BEFORE, help="rankings of the rules to compare with")
    parser.add_argument(
        "--cache", type=Path, default=None, help=f"runs cache (default {CACHE.relative_to(ROOT)})"
    )
    add_data_option(parser)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    settings = dict(QUICK if args.quick else FULL)
    if args.recipe == "legacy":
        settings.pop("recipe", None)
    if args.seeds:
        settings["seeds"] = args.seeds
    if args.steps_per_epoch:
        settings["steps_per_epoch"] = args.steps_per_epoch
    sets = (
        args.sets.split(",") if args.sets else (["buildings", "buildings-outline"] if args.quick else SET_IDS)
    )
    arms = args.losses.split(",") if args.losses else (["ce", "weighted_ce"] if args.quick else ARMS)
    lrs = tuple(float(v) for v in args.lrs.split(",")) if args.lrs else ((3e-3,) if args.quick else LRS)
    cache = args.cache or (OUT / "rules-quick.jsonl" if args.quick else CACHE)
    deadline = None
    if args.deadline:
        hour, minute = (int(v) for v in args.deadline.split(":"))
        deadline = dt.datetime.now().replace(hour=hour, minute=minute, second=0, microsecond=0)
    print(f"Rules benchmark: {settings}, sets {sets}, losses {arms}, LRs {lrs}; cache {cache}", flush=True)
    if not args.report_only:
        execute(settings, sets, arms, lrs, deadline, cache, args.data)
    table = summarise(load_cache(cache), settings, lrs)
    table = {s: table[s] for s in sets if s in table}
    profiles = set_profiles(
        args.sets.split(",") if args.save_rankings and args.sets else list(table), settings, args.data
    )
    rankings = rules_rankings(profiles)
    if args.save_rankings:
        args.save_rankings.write_text(json.dumps(rankings, indent=1) + "\n")
        print(f"saved the rules' rankings to {args.save_rankings}")
    figures = {set_id: profile_figures(profiles[set_id]) for set_id in table}
    print("\nBest learning rate per loss; mean +- SD over seeds (n):")
    for set_id, arms_table in table.items():
        print(f"  {set_id}  {figures[set_id]}")
        for arm, e in arms_table.items():
            print(
                f"    {arm:<17} lr {e['lr']:<6g} IoU {e['iou']:.3f} +- {_fmt(e['iou_sd'])}  "
                f"Dice {e['dice']:.3f}  recall {e['recall']:.3f} +- {_fmt(e['recall_sd'])}  "
                f"precision {e['precision']:.3f}  (n {e['n']})"
            )
    before_rows = []
    if args.before and args.before.is_file():
        before_rows = regret_rows(table, json.loads(args.before.read_text()))
        print_regret(f"\nRegret of the rules' first choice, rankings from {args.before.name}:", before_rows)
    after_rows = regret_rows(table, rankings)
    print_regret("\nRegret of the rules' first choice, the rules in this checkout:", after_rows)
    if args.write_docs and not args.quick:
        runs = [r for r in load_cache(cache).values() if same_recipe(r["settings"], settings)]
        write_docs(
            table, figures, settings, lrs, before_rows, after_rows, [r for r in runs if r["set"] in table]
        )
    return 0
