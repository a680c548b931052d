"""Can the verdict be trusted? The A/A false-winner rate, the power on a planted difference, and the regret.

- **A/A**: plain CE entered twice as two finalists whose runs use independent random streams (initialisation,
  batch order), raced on examples/buildings with the sequential
  rule (a look after every repetition, from 5 paired runs on) and judged by the correlated t-test. A
  "clear" verdict is a false winner; target: at most 5 % of repetitions.
- **Power**: CE against itself with a lower learning rate (a planted handicap, ``--handicap`` times lower, 3
  by default), on examples/buildings or ``--power-set dsb2018-nuclei``. The gap is measured by longer
  independent runs (3x the race's first-level steps, 3 seeds, on one stratified split); the race is repeated
  and counted as clear for the right side, equivalent, undecided, or clear for the wrong side.
- **Streams**: would common random numbers (one seed per unit, shared by the finalists) steady the paired
  differences? A pair trained on the same units twice, with the tuner's seeds (each finalist its own stream)
  and with shared seeds: the standard deviations of the paired differences, and each configuration's
  within-unit seed spread.
- **Regret**: the main job (``tune``) on examples/buildings and dsb2018-nuclei (in the folder named by
  LOSSADVISOR_DATA, or ``--data DIR``; skipped without it) against ground truth from longer independent
  runs on the same tiles at the same size (3x the race's second-level steps; every finalist of the main job,
  the rules' first three and CE, each with the parameters the run gave it; learning rate swept over 3e-3 and
  1e-2 with one seed, then 3 seeds at the best): the recommended loss's true IoU against the best one's, and
  the noise of the two means.

Every figure is printed with the settings that produced it. ``--quick`` uses small settings (64 px, short
runs, fewer repetitions) that fit a shared 2-core machine; its figures check the machinery and give a first
reading, not the defaults' final word. Usage: ``python -m benchmarks verdict [--quick] [--threads N]
[--repeats N] [--only aa,power,regret] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from benchmarks._data_root import add_data_option, missing_note, real_set

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "buildings"
TARGET_FALSE_WINNER_RATE = 0.05
TARGET_POWER = 0.80
LR = 3e-3
# size, epochs and steps per epoch of a first-level run (level L: 2**L times the steps), race budget in runs
QUICK = {"size": 64, "epochs": 3, "steps": 10, "budget": "30", "repeats": 20, "power_repeats": 10, "folds": 3}
FULL = {"size": 128, "epochs": 6, "steps": 20, "budget": "5m", "repeats": 20, "power_repeats": 20, "folds": 3}
QUICK_MAIN = {"size": 64, "epochs": 3, "steps_per_epoch": 10, "n_trials": 5, "confirm_budget": "30"}
SWEEP = (3e-3, 1e-2)  # as the rules evidence: where every loss did best on these sets at this budget
TRUTH_SEEDS = 3
TRUTH_FACTOR = 3
# the ground truth's losses: every finalist of the main job, the rules' first three and CE
RULES_TOP = 3


def _datasets(data: Path | None = None) -> list[tuple[str, Path]]:
    """The regret's sets: the bundled buildings, and dsb2018-nuclei when the data folder has it."""
    out = [("buildings", EXAMPLE)]
    nuclei = real_set("dsb2018-nuclei", data)
    if nuclei is not None:
        out.append(("dsb2018-nuclei", nuclei))
    else:
        print(missing_note("dsb2018-nuclei", data))
    return out


def _context_for(root: Path, s: dict, threads: int, workdir: Path, partition_seed: int):
    """``unit -> RunContext`` on ``root``: repetition r folds with seed ``partition_seed + r``."""
    from lossadvisor.io import read_mask
    from lossadvisor.losses import build_loss
    from lossadvisor.tune import pair_files, resolve_device
    from lossadvisor.tune.data import build_fold_data
    from lossadvisor.tune.training import RunContext

    pairs = pair_files(root / "images", root / "masks").pairs
    device = resolve_device("cpu", threads=threads)
    built: dict[int, list] = {}

    def context_for(unit):
        if unit.rep not in built:
            built[unit.rep] = build_fold_data(
                pairs, read_mask=lambda p: read_mask(p).labels, cache_dir=workdir / "cache",
                fingerprint=root.name, size=s["size"], folds=s["folds"],
                seed=partition_seed + unit.rep,
            )  # fmt: skip
        ctx = RunContext(
            data=built[unit.rep][unit.fold], num_classes=2, loss_factory=lambda n, p: build_loss(n, **p),
            device=device, epochs=s["epochs"], steps_per_epoch=s["steps"], batch_size=8, warmup_steps=0,
            seed=0, preds_dir=workdir / "preds", sample_indices=[],
        )  # fmt: skip
        ctx = replace(ctx, steps_per_epoch=s["steps"] * 2**unit.level)
        if s.get("ema_warmup") is not None:  # streams: the weight average's warm-up, to compare recipes
            ctx = replace(ctx, recipe=replace(ctx.recipe, ema_warmup=s["ema_warmup"]))
        return ctx

    return context_for


def race(finalists, s: dict, threads: int, workdir: Path, rep: int, root: Path = EXAMPLE):
    """One race of ``finalists`` on ``root``; returns (outcome, decision, stop reason, runs, seconds)."""
    import optuna

    from lossadvisor.tune.confirm import RaceConfig, final_decision, parse_budget, race_alone

    cfg = RaceConfig(folds=s["folds"], margin=0.01, budget=parse_budget(s["budget"]))
    study = optuna.create_study(direction="maximize")
    start = time.perf_counter()
    context_for = _context_for(root, s, threads, workdir, partition_seed=1000 * rep)
    state, got = race_alone(study, finalists, context_for, cfg, base_seed=rep)
    entries = {f.entry: f.config.loss for f in finalists}
    decision = final_decision(entries, got.iou, state, cfg)[0]
    outcome = decision.outcome if decision else "none"
    return outcome, decision, state.stop_reason, len(got.iou), time.perf_counter() - start


def _finalist(entry: str, lr: float, loss: str = "ce"):
    from lossadvisor.tune.confirm import Finalist
    from lossadvisor.tune.training import Configuration

    return Finalist(entry, f"{entry}: {loss} lr={lr:g}", Configuration(loss, {}, lr), None, None)


def _probs(decision, other: str) -> str:
    p = decision.posteriors.get(other) if decision else None
    if p is None:
        return ""
    return f"P(better/equivalent/worse) {p.p_better:.2f}/{p.p_equivalent:.2f}/{p.p_worse:.2f}, {p.runs} runs"


def aa(s: dict, threads: int, workdir: Path) -> dict:
    """False "clear" verdicts of CE against itself, sequential rule."""
    twins = [_finalist("ce-twin-a", LR), _finalist("ce-twin-b", LR)]
    outcomes = Counter()
    start = time.perf_counter()
    for rep in range(s["repeats"]):
        outcome, decision, stop, runs, _ = race(twins, s, threads, workdir, rep)
        outcomes[outcome] += 1
        other = next((e for e in ("ce-twin-a", "ce-twin-b") if decision and e != decision.leader), "")
        print(
            f"  A/A {rep + 1:>2}: {outcome:<10} (stop: {stop}; {runs} runs; {_probs(decision, other)}) "
            f"{time.perf_counter() - start:.0f} s so far",
            flush=True,
        )
    n = s["repeats"]
    rate = outcomes["clear"] / n
    print(
        f"  A/A: false clear {outcomes['clear']}/{n} = {rate:.0%} (target <= {TARGET_FALSE_WINNER_RATE:.0%}: "
        + ("OK" if rate <= TARGET_FALSE_WINNER_RATE else "ABOVE TARGET")
        + f"); equivalent {outcomes['equivalent']}, undecided {outcomes['undecided']}",
        flush=True,
    )
    return {"false_clear": outcomes["clear"], "repeats": n, **dict(outcomes)}


def simulated_race(
    sd: float, gap: float, *, level: float, races: int, budget_runs: int = 40, folds: int = 3, seed: int = 0,
    final_level: float | None = None,
) -> dict:  # fmt: skip
    """The race itself (:func:`~lossadvisor.tune.confirm.race_state`, every look, futility stop and
    promotion as in ``tune``) on simulated runs: two finalists, ``a`` (true mean ``gap`` above ``b``) and
    ``b``; a run's score is its finalist's mean + a data-set offset shared by all its runs + independent
    run noise, sized so that the per-run paired differences have SD ``sd`` and correlation 1/k (the
    correlated t-test's own model of k-fold runs on one data set, Nadeau & Bengio 2003). Returns the share
    of races that ended clear for ``a`` ("right"), clear for ``b`` ("wrong") and the mean runs spent.
    ``final_level``: decide a race that stopped undecided (budget or futility) at this level instead of
    ``level`` (a group-sequential design's gentler last look)."""
    import numpy as np

    from lossadvisor.tune.confirm import _race as race_module

    rng = np.random.default_rng(seed)
    rho = 1.0 / folds
    tally, spent = Counter(), []
    for _ in range(races):
        entries, mean = {"a": "ce", "b": "ce"}, {"a": gap, "b": 0.0}
        offset = {e: rng.normal(0.0, np.sqrt(rho / 2) * sd) for e in entries}
        budget = race_module.Budget(runs=budget_runs)
        cfg = race_module.RaceConfig(folds=folds, margin=0.01, budget=budget, decision_level=level)
        results: dict = {}
        while not (state := race_module.race_state(entries, results, {}, cfg)).finished:
            for u in state.pending:
                noise = rng.normal(0.0, np.sqrt((1 - rho) / 2) * sd)
                results[u] = 0.5 + mean[u.entry] + offset[u.entry] + noise
        last = cfg if final_level is None else replace(cfg, decision_level=final_level)
        decision = race_module.final_decision(entries, results, state, last)[0]
        if decision is not None and decision.outcome == "clear":
            tally["right" if decision.leader == "a" or gap == 0 else "wrong"] += 1
        spent.append(state.spent_runs)
    return {"right": tally["right"] / races, "wrong": tally["wrong"] / races, "runs": float(np.mean(spent))}


SIM_NOISE = (0.01, 0.015, 0.02, 0.04, 1.0)  # SD of paired differences; 1.0: noise far above the margin
SIM_GAPS = (0.03, 0.05)


def simulated(races: int = 1000) -> dict:
    """A/A and power of the sequential race at the decision level in use and at a single look's 0.95, on
    simulated runs (no training: isolates what the repeated looks and the level do)."""
    from lossadvisor.tune.confirm._posterior import DECISION_LEVEL

    out = {}
    for level in dict.fromkeys((0.95, DECISION_LEVEL)):
        tag = f"level {level:g}" + (" (in use)" if level == DECISION_LEVEL else "")
        for sd in SIM_NOISE:
            r = simulated_race(sd, 0.0, level=level, races=races)
            print(
                f"  {tag}: A/A at SD {sd:g}: false clear {r['right']:.1%} "
                f"(target <= {TARGET_FALSE_WINNER_RATE:.0%}), {r['runs']:.0f} runs on average",
                flush=True,
            )
            out[f"aa level={level:g} sd={sd:g}"] = r["right"]
        for sd in SIM_NOISE[:4]:
            for gap in SIM_GAPS:
                r = simulated_race(sd, gap, level=level, races=races // 2, seed=1)
                print(
                    f"  {tag}: gap {gap:g} at SD {sd:g}: right side clear {r['right']:.1%}, wrong side clear "
                    f"{r['wrong']:.1%}, {r['runs']:.0f} runs on average",
                    flush=True,
                )
                out[f"power level={level:g} sd={sd:g} gap={gap:g}"] = r["right"]
    for looks, final in ((DECISION_LEVEL, 0.95), (0.99, 0.95)):
        tag = f"looks at {looks:g}, a race that ran out decided at {final:g}"
        for sd in (0.02, 0.04, 1.0):
            r = simulated_race(sd, 0.0, level=looks, final_level=final, races=races)
            print(f"  {tag}: A/A at SD {sd:g}: false clear {r['right']:.1%}", flush=True)
            out[f"aa looks={looks:g} final={final:g} sd={sd:g}"] = r["right"]
        r = simulated_race(0.02, 0.05, level=looks, final_level=final, races=races // 2, seed=1)
        print(f"  {tag}: gap 0.05 at SD 0.02: right side clear {r['right']:.1%}", flush=True)
        out[f"power looks={looks:g} final={final:g} sd=0.02 gap=0.05"] = r["right"]
    return out


def truth(
    root: Path, configs: dict, s: dict, threads: int, workdir: Path, *, crop: int | None = None
) -> dict:
    """Mean and standard error of the final IoU of longer independent runs (TRUTH_FACTOR x ``s``'s run,
    TRUTH_SEEDS seeds, one stratified split) of each named configuration."""
    ctx = _truth_context(root, s, threads, workdir, crop=crop)
    out = {}
    for name, config in configs.items():
        ious = [_final_iou(ctx, config, 100 + k) for k in range(TRUTH_SEEDS)]
        out[name] = (statistics.mean(ious), statistics.stdev(ious) / TRUTH_SEEDS**0.5)
    return out


def _truth_context(root: Path, s: dict, threads: int, workdir: Path, *, crop: int | None = None):
    from lossadvisor.io import read_mask
    from lossadvisor.losses import build_loss
    from lossadvisor.tune import pair_files, resolve_device
    from lossadvisor.tune.data import build_train_data
    from lossadvisor.tune.training import RunContext

    pairs = pair_files(root / "images", root / "masks").pairs
    data = build_train_data(
        pairs, read_mask=lambda p: read_mask(p).labels, cache_dir=workdir / "cache", fingerprint=root.name,
        size=s["size"], crop=crop, seed=0,
    )  # fmt: skip
    return RunContext(
        data=data, num_classes=2, loss_factory=lambda n, p: build_loss(n, **p),
        device=resolve_device("cpu", threads=threads), epochs=s["epochs"],
        steps_per_epoch=s["steps"] * TRUTH_FACTOR, batch_size=s.get("batch_size", 8), warmup_steps=0, seed=0,
        preds_dir=workdir / "preds", sample_indices=[],
    )  # fmt: skip


def _final_iou(ctx, config, seed: int) -> float:
    from lossadvisor.tune.training import outcome_summary

    return outcome_summary(ctx.train(config, seed=seed))["val_iou"] or 0.0


def truth_swept(ctx, params: dict[str, dict]) -> dict[str, tuple[float, float, float]]:
    """Per loss (with its parameters): the learning rate of SWEEP whose seed-0 run scored best, then
    TRUTH_SEEDS - 1 more seeds there; ``loss -> (lr, mean IoU, standard error)``."""
    from lossadvisor.tune.training import Configuration

    out = {}
    for loss, p in params.items():
        swept = {lr: _final_iou(ctx, Configuration(loss, dict(p), lr), 100) for lr in SWEEP}
        lr = max(swept, key=swept.get)
        ious = [swept[lr]] + [
            _final_iou(ctx, Configuration(loss, dict(p), lr), 100 + k) for k in range(1, TRUTH_SEEDS)
        ]
        out[loss] = (lr, statistics.mean(ious), statistics.stdev(ious) / TRUTH_SEEDS**0.5)
        print(
            f"    truth {loss:<12} {p or ''} sweep {', '.join(f'{k:g}: {v:.3f}' for k, v in swept.items())}; "
            f"{TRUTH_SEEDS} seeds at {lr:g}: {out[loss][1]:.3f} +- {out[loss][2]:.3f}",
            flush=True,
        )
    return out


def power(s: dict, threads: int, workdir: Path, handicap: float = 3.0, root: Path = EXAMPLE) -> dict:
    """CE against CE at a ``handicap`` times lower learning rate on ``root``: the gap by longer runs, then the
    race's outcomes."""
    from lossadvisor.tune.training import Configuration

    gap = truth(
        root,
        {"full": Configuration("ce", {}, LR), "slow": Configuration("ce", {}, LR / handicap)},
        s,
        threads,
        workdir,
    )
    print(
        f"  gap by longer runs ({s['epochs'] * s['steps'] * TRUTH_FACTOR} steps, {TRUTH_SEEDS} seeds): CE lr "
        f"{LR:g} {gap['full'][0]:.3f} +- {gap['full'][1]:.3f}, lr {LR / handicap:.0e} "
        f"{gap['slow'][0]:.3f} +- {gap['slow'][1]:.3f}: gap {gap['full'][0] - gap['slow'][0]:+.3f}",
        flush=True,
    )
    pair = [_finalist("ce-full", LR), _finalist("ce-slow", LR / handicap)]
    right = "ce-full" if gap["full"][0] >= gap["slow"][0] else "ce-slow"
    tally = Counter()
    start = time.perf_counter()
    for rep in range(s["power_repeats"]):
        outcome, decision, stop, runs, _ = race(pair, s, threads, workdir, 500 + rep, root)
        if outcome == "clear":
            outcome = "right clear" if decision.recommended == right else "WRONG clear"
        tally[outcome] += 1
        other = next((e for e in ("ce-full", "ce-slow") if decision and e != decision.leader), "")
        print(
            f"  power {rep + 1:>2}: {outcome:<11} (leader {decision.leader if decision else None}; "
            f"stop: {stop}; {runs} runs; {_probs(decision, other)}) "
            f"{time.perf_counter() - start:.0f} s so far",
            flush=True,
        )
    n = s["power_repeats"]
    print(
        f"  power: right side clear {tally['right clear']}/{n} = {tally['right clear'] / n:.0%} (target >= "
        f"{TARGET_POWER:.0%} at a 0.05 gap), undecided {tally['undecided']}, equivalent "
        f"{tally['equivalent']}, wrong side clear {tally['WRONG clear']}",
        flush=True,
    )
    return {"gap": gap["full"][0] - gap["slow"][0], "repeats": n, **dict(tally)}


def streams(
    s: dict, threads: int, workdir: Path, handicap: float, root: Path = EXAMPLE, levels=(0, 1), reps: int = 4,
    pair: str = "power",
) -> dict:  # fmt: skip
    """A pair trained on the same units twice: with the tuner's seeds (each finalist its own stream) and with
    one seed per level, repetition and fold shared by both (common random numbers). ``pair``: "power" (CE
    against CE at a ``handicap`` times lower rate) or "losses" (CE against Dice + CE, mix 0.5, both at LR).
    Returns, per level, the SD of the paired differences both ways and each configuration's within-unit seed
    spread."""
    from lossadvisor.tune.confirm import Unit
    from lossadvisor.tune.confirm._confirm import run_seed
    from lossadvisor.tune.training import Configuration, outcome_summary

    slow = Configuration("ce", {}, LR / handicap)
    rival = Configuration("dice_ce", {"mix": 0.5}, LR) if pair == "losses" else slow
    configs = {"ce": Configuration("ce", {}, LR), "rival": rival}
    context_for = _context_for(root, s, threads, workdir, partition_seed=7000)
    iou: dict[tuple, float] = {}
    start = time.perf_counter()
    out = {}
    for level in levels:
        for rep in range(reps):
            for fold in range(s["folds"]):
                for entry, config in configs.items():
                    unit = Unit(level, rep, fold, entry)
                    shared = Unit(level, rep, fold, "shared")  # the same key, so the same seed, for both
                    for mode, seed_unit in (("shared", shared), ("own", unit)):
                        run = context_for(unit).train(config, seed=run_seed(0, seed_unit))
                        iou[(level, rep, fold, entry, mode)] = outcome_summary(run)["val_score"] or 0.0
        row = {}
        for mode in ("shared", "own"):
            d = [
                iou[(level, r, f, "ce", mode)] - iou[(level, r, f, "rival", mode)]
                for r in range(reps)
                for f in range(s["folds"])
            ]
            row[mode] = (statistics.mean(d), statistics.stdev(d))
        spread = {
            e: statistics.stdev(
                [iou[(level, r, f, e, "shared")] - iou[(level, r, f, e, "own")] for r in range(reps)
                 for f in range(s["folds"])]
            ) / 2**0.5
            for e in configs
        }  # fmt: skip
        n = reps * s["folds"]
        print(
            f"  level {level} ({s['epochs'] * s['steps'] * 2**level} steps, {n} paired runs): mean gap "
            f"{row['shared'][0]:+.3f} shared / {row['own'][0]:+.3f} own; SD of paired differences "
            f"{row['shared'][1]:.3f} with shared seeds, {row['own'][1]:.3f} with the tuner's own streams "
            f"(x{row['shared'][1] / row['own'][1]:.2f}); seed spread within a unit: "
            f"{spread['ce']:.3f} and {spread['rival']:.3f}; "
            f"{time.perf_counter() - start:.0f} s so far",
            flush=True,
        )
        out[f"level {level}"] = {
            "sd_shared": row["shared"][1], "sd_own": row["own"][1], "gap": row["shared"][0], "runs": n,
        }  # fmt: skip
    return out


def regret(
    main_settings: dict,
    s: dict,
    threads: int,
    workdir: Path,
    *,
    names: set[str] | None = None,
    main_out: Path | None = None,
    data: Path | None = None,
) -> list[dict]:
    """The main job's recommended loss against the best loss by longer, LR-swept runs on the same tiles at the
    same size, each loss with the parameters the main job gave it (a finalist's, else the rules')."""
    from lossadvisor._run_records import TuneOutcome
    from lossadvisor.tune import tune

    rows = []
    for name, root in _datasets(data):
        if names and name not in names:
            continue
        out = (main_out or workdir) / f"main-{name}"
        start = time.perf_counter()
        tune(
            root / "images", root / "masks", out=out, threads=threads, progress=False, report=False,
            **main_settings,
        )  # fmt: skip
        wall = time.perf_counter() - start
        result = TuneOutcome.load(out / "result.json")
        v = result.verdict
        rec = result.recommended.loss if result.recommended else None
        print(f"  {name}: main job {wall:.0f} s, verdict {v.kind if v else None}, recommends {rec}")
        for c in v.comparisons if v else ():
            if c.p_better is not None:
                print(
                    f"    vs {c.against_loss:<12} {c.mean_diff:+.3f} IoU, P(better/equivalent/worse) "
                    f"{c.p_better:.2f}/{c.p_equivalent:.2f}/{c.p_worse:.2f} over {c.runs} runs at {c.steps} "
                    f"steps: {c.state}"
                )
        if v is not None and v.race.get("bought"):
            print(f"    {v.race['bought']}")
        training = result.training
        crop = training.tile_px if training.tile_mode == "crop" else None
        size = training.tile_px or s["size"]
        # 3x the steps of the race's second level (twice a search trial's steps per epoch)
        search_steps = training.extra.get("steps_per_search_trial") or s["epochs"] * s["steps"]
        level1 = {**s, "size": size, "steps": 2 * search_steps // s["epochs"]}
        level1["batch_size"] = training.batch_size or 8
        # each loss with the parameters the rules gave it in this run, a finalist's where it was one
        advice = json.loads((out / "recommendation.json").read_text())
        ranked = sorted(advice["candidates"], key=lambda c: c["rank"])
        params = {"ce": {}} | {c["loss"]: dict(c["params"]) for c in ranked[:RULES_TOP]}
        params |= {r.loss: dict(r.params) for r in result.ranking}
        print(
            f"    ground truth: {TRUTH_FACTOR * 2 * search_steps} steps, {size} px "
            f"{'crops' if crop else 'resized'}, lr swept over {SWEEP} with seed 0, "
            f"{TRUTH_SEEDS} seeds at the best",
            flush=True,
        )
        ctx = _truth_context(root, level1, threads, workdir / name, crop=crop)
        measured = truth_swept(ctx, params)
        best = max(measured, key=lambda k: measured[k][1])
        if rec in measured:
            gap = measured[best][1] - measured[rec][1]
            noise = (measured[best][2] ** 2 + measured[rec][2] ** 2) ** 0.5
            print(
                f"    regret of {rec}: {gap:.3f} IoU against {best} (noise: the two means' standard errors "
                f"combined, {noise:.3f}): " + ("within the noise" if gap <= noise else "ABOVE the noise"),
                flush=True,
            )
            rows.append(
                {"dataset": name, "recommended": rec, "best": best, "regret": gap, "noise": noise,
                 "main_job_s": round(wall), "verdict": v.kind if v else None}
            )  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks verdict")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=None, help="A/A and power repetitions")
    parser.add_argument(
        "--budget",
        default=None,
        help="the race's --confirm-budget (runs or a time; default 5m, --quick 30): "
        "a number of runs keeps the races alike whatever the machine's load",
    )
    parser.add_argument(
        "--size", type=int, default=None, help="A/A and power: tile size (default 128, --quick 64)"
    )
    parser.add_argument("--datasets", default=None, help="regret: buildings, dsb2018-nuclei (default both)")
    parser.add_argument(
        "--main-out",
        type=Path,
        default=None,
        help="regret: keep the main jobs' run folders under this folder",
    )
    parser.add_argument(
        "--handicap",
        type=float,
        default=3.0,
        help="power: the handicapped CE's learning rate is this many "
        "times lower (3: a gap of about 0.03 IoU on the example; 10: larger)",
    )
    parser.add_argument(
        "--only",
        default="sim,aa,power,regret",
        help="comma-separated: sim, aa, power, regret, streams (not in the default set)",
    )
    parser.add_argument(
        "--ema-warmup",
        type=int,
        default=None,
        help="streams: train with this warm-up of the weight average instead of the recipe's (10)",
    )
    parser.add_argument(
        "--pair",
        default="power",
        help="streams: power (CE against CE at a --handicap times lower rate) or losses (CE, Dice + CE)",
    )
    parser.add_argument(
        "--power-set",
        default="buildings",
        help="power and streams: buildings (the bundled example) or dsb2018-nuclei (in the data folder)",
    )
    parser.add_argument(
        "--folds", type=int, default=3, help="A/A and power: folds per repetition of the race (default 3)"
    )
    add_data_option(parser)
    args = parser.parse_args(argv)
    import optuna
    import torch

    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = dict(QUICK if args.quick else FULL)
    if args.budget:
        s["budget"] = args.budget
    if args.size:
        s["size"] = args.size
    s["folds"] = args.folds
    s["ema_warmup"] = args.ema_warmup
    if args.repeats:
        s["repeats"] = s["power_repeats"] = args.repeats
    only = set(args.only.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="bench-verdict-"))
    summary = {}
    steps = s["epochs"] * s["steps"]
    try:
        if "sim" in only:
            print(
                "The race on simulated runs (3 folds, margin 0.01, a 40-run budget; paired differences "
                "correlated 1/k, the test's own model):",
                flush=True,
            )
            summary["simulated"] = simulated()
        if "aa" in only:
            print(
                f"A/A: CE against itself, independent streams, 3 folds per repetition, {s['size']} px, "
                f"{steps} steps at the first level, race budget {s['budget']}, {s['repeats']} races:",
                flush=True,
            )
            summary["aa"] = aa(s, args.threads, workdir)
        power_root = EXAMPLE
        if args.power_set != "buildings" and only & {"power", "streams"}:
            power_root = real_set(args.power_set, args.data)
            if power_root is None:
                print(missing_note(args.power_set, args.data))
                return 1
        if "power" in only:
            print(
                f"Power on {power_root.name}: CE at lr {LR:g} against CE at {LR / args.handicap:.0e}, "
                f"{s['folds']} folds per repetition, {s['size']} px, {steps} steps at the first level, race "
                f"budget {s['budget']}, {s['power_repeats']} races:",
                flush=True,
            )
            summary["power"] = power(s, args.threads, workdir, args.handicap, power_root)
        if "streams" in only:
            print(
                f"Streams on {power_root.name}: CE at lr {LR:g} against "
                + ("Dice + CE (mix 0.5), " if args.pair == "losses" else f"CE at {LR / args.handicap:.0e}, ")
                + f"{s['folds']} folds, {s['size']} px, shared seeds against the tuner's own streams:",
                flush=True,
            )
            summary["streams"] = streams(s, args.threads, workdir, args.handicap, power_root, pair=args.pair)
        if "regret" in only:
            main_settings = QUICK_MAIN if args.quick else {}
            print(f"Regret: the main job ({main_settings or 'defaults'}) against longer LR-swept runs:")
            names = set(args.datasets.split(",")) if args.datasets else None
            summary["regret"] = regret(
                main_settings, s, args.threads, workdir, names=names, main_out=args.main_out, data=args.data
            )
        print("summary: " + json.dumps(summary))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0
