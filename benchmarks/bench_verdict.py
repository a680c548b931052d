"""Can the verdict be trusted? The A/A false-winner rate, the power on a planted difference, and the regret.

- **A/A**: plain CE entered twice as two finalists whose runs use independent random streams (initialisation,
  batch order), raced on examples/buildings with the sequential rule (a look after every repetition, from 5
  paired runs on) and judged by the correlated t-test. A "clear" verdict is a false winner; target: at most
  5 % of repetitions.
- **Power**: CE against itself with a 3x lower learning rate (a planted handicap). The gap is measured by
  longer independent runs (3x the race's first-level steps, 3 seeds, on one stratified split); the race is
  repeated and counted as clear for the right side, equivalent, undecided, or clear for the wrong side.
- **Regret**: the main job (``tune``) on examples/buildings and ../shared/data/dsb2018-nuclei against ground
  truth from longer independent runs (3x the confirmation's first-level steps, 3 seeds, learning rate swept
  per loss over 1e-3, 3e-3 and 1e-2): the recommended loss's true IoU against the best one's, and the seeds'
  noise (standard error of the best).

Every figure is printed with the settings that produced it. ``--quick`` uses small settings (64 px, short
runs, fewer repetitions) that fit a shared 2-core machine; its figures check the machinery and give a first
reading, not the defaults' final word. Usage: ``python -m benchmarks verdict [--quick] [--threads N]
[--repeats N] [--only aa,power,regret]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "buildings"
NUCLEI = ROOT.parent / "shared" / "data" / "dsb2018-nuclei"
SHARED_NUCLEI = Path("/work/shared/data/dsb2018-nuclei")
TARGET_FALSE_WINNER_RATE = 0.05
TARGET_POWER = 0.80
LR = 3e-3
# size, epochs and steps per epoch of a first-level run (level L: 2**L times the steps), race budget in runs
QUICK = {"size": 64, "epochs": 3, "steps": 10, "budget": "30", "repeats": 20, "power_repeats": 10}
FULL = {"size": 128, "epochs": 6, "steps": 20, "budget": "5m", "repeats": 20, "power_repeats": 20}
QUICK_MAIN = {"size": 64, "epochs": 3, "steps_per_epoch": 10, "n_trials": 5, "confirm_budget": "30"}
SWEEP = (1e-3, 3e-3, 1e-2)
TRUTH_SEEDS = 3
TRUTH_FACTOR = 3
TRUTH_LOSSES = ("ce", "weighted_ce", "dice_ce")


def _datasets() -> list[tuple[str, Path]]:
    nuclei = NUCLEI if NUCLEI.is_dir() else SHARED_NUCLEI
    out = [("buildings", EXAMPLE)]
    if (nuclei / "images").is_dir():
        out.append(("dsb2018-nuclei", nuclei))
    else:
        print(f"  (dsb2018-nuclei not found at {NUCLEI} or {SHARED_NUCLEI}: skipped)")
    return out


def _context_for(root: Path, s: dict, threads: int, workdir: Path, partition_seed: int):
    """``unit -> RunContext`` on ``root``: repetition r folds with seed ``partition_seed + r``."""
    from dataclasses import replace

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
                fingerprint=root.name, size=s["size"], folds=3, seed=partition_seed + unit.rep,
            )  # fmt: skip
        ctx = RunContext(
            data=built[unit.rep][unit.fold], num_classes=2, loss_factory=lambda n, p: build_loss(n, **p),
            device=device, epochs=s["epochs"], steps_per_epoch=s["steps"], batch_size=8, warmup_steps=0,
            seed=0, preds_dir=workdir / "preds", sample_indices=[],
        )  # fmt: skip
        return replace(ctx, steps_per_epoch=s["steps"] * 2**unit.level)

    return context_for


def race(finalists, s: dict, threads: int, workdir: Path, rep: int, root: Path = EXAMPLE):
    """One race of ``finalists`` on ``root``; returns (outcome, decision, stop reason, runs, seconds)."""
    import optuna

    from lossadvisor.tune.confirm import RaceConfig, final_decision, parse_budget, race_alone

    cfg = RaceConfig(folds=3, margin=0.01, budget=parse_budget(s["budget"]))
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


def aa_simulated(n: int = 2000, folds: int = 3, max_reps: int = 10, seed: int = 0) -> dict:
    """The sequential rule's false-clear rate (either side), every look taken (no futility stop), margin 0,
    no training, so it isolates what repeated looks do:

    - *twins*: one loss under two names: the per-run differences are independent N(0, 1) (the twins are
      exchangeable, nothing about the data set favours one);
    - *test's model*: the differences share a correlation of 1/k (Nadeau & Bengio's model of k-fold runs on
      one data set: a data-set draw common to every run), the worst case the correlated t-test is built for.
    """
    import numpy as np

    from lossadvisor.tune.confirm._posterior import comparison_state, correlated_posterior

    rng = np.random.default_rng(seed)
    rho = 1.0 / folds
    out = {}
    for model, shared_var in (("twins", 0.0), ("test's model", rho)):
        clear = 0
        for _ in range(n):
            shared = rng.normal(0, np.sqrt(shared_var)) if shared_var else 0.0
            runs = shared + rng.normal(0, np.sqrt(1 - shared_var), size=max_reps * folds)
            for reps in range(2, max_reps + 1):
                p = correlated_posterior(runs[: reps * folds], rho=rho, margin=0.0)
                if comparison_state(p) in ("better", "worse"):
                    clear += 1
                    break
        print(
            f"  simulated A/A, {model} ({n} races, {folds} folds, a look after each of 2..{max_reps} "
            f"repetitions, margin 0): false clear (either side) {clear}/{n} = {clear / n:.1%}",
            flush=True,
        )
        out[model] = clear / n
    return out


def truth(root: Path, configs: dict, s: dict, threads: int, workdir: Path) -> dict:
    """Mean and standard error of the final IoU of longer independent runs (TRUTH_FACTOR x a first-level run,
    TRUTH_SEEDS seeds, one stratified split) of each named configuration."""
    from lossadvisor.io import read_mask
    from lossadvisor.losses import build_loss
    from lossadvisor.tune import pair_files, resolve_device
    from lossadvisor.tune.data import build_train_data
    from lossadvisor.tune.training import RunContext, outcome_summary

    pairs = pair_files(root / "images", root / "masks").pairs
    data = build_train_data(
        pairs, read_mask=lambda p: read_mask(p).labels, cache_dir=workdir / "cache", fingerprint=root.name,
        size=s["size"], seed=0,
    )  # fmt: skip
    ctx = RunContext(
        data=data, num_classes=2, loss_factory=lambda n, p: build_loss(n, **p),
        device=resolve_device("cpu", threads=threads), epochs=s["epochs"],
        steps_per_epoch=s["steps"] * TRUTH_FACTOR, batch_size=8, warmup_steps=0, seed=0,
        preds_dir=workdir / "preds", sample_indices=[],
    )  # fmt: skip
    out = {}
    for name, config in configs.items():
        ious = [
            outcome_summary(ctx.train(config, seed=100 + k))["val_iou"] or 0.0 for k in range(TRUTH_SEEDS)
        ]
        out[name] = (statistics.mean(ious), statistics.stdev(ious) / TRUTH_SEEDS**0.5)
    return out


def power(s: dict, threads: int, workdir: Path) -> dict:
    """CE against CE at a 3x lower learning rate: the gap by longer runs, then the race's outcomes."""
    from lossadvisor.tune.training import Configuration

    gap = truth(
        EXAMPLE, {"full": Configuration("ce", {}, LR), "slow": Configuration("ce", {}, LR / 3)}, s, threads,
        workdir,
    )  # fmt: skip
    print(
        f"  gap by longer runs ({s['epochs'] * s['steps'] * TRUTH_FACTOR} steps, {TRUTH_SEEDS} seeds): CE lr "
        f"{LR:g} {gap['full'][0]:.3f} +- {gap['full'][1]:.3f}, lr {LR / 3:.0e} {gap['slow'][0]:.3f} +- "
        f"{gap['slow'][1]:.3f}: gap {gap['full'][0] - gap['slow'][0]:+.3f}",
        flush=True,
    )
    pair = [_finalist("ce-full", LR), _finalist("ce-slow", LR / 3)]
    right = "ce-full" if gap["full"][0] >= gap["slow"][0] else "ce-slow"
    tally = Counter()
    start = time.perf_counter()
    for rep in range(s["power_repeats"]):
        outcome, decision, stop, runs, _ = race(pair, s, threads, workdir, 500 + rep)
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


def regret(main_settings: dict, s: dict, threads: int, workdir: Path) -> list[dict]:
    """The main job's recommended loss against the best loss by longer, LR-swept runs."""
    from lossadvisor.tune import tune
    from lossadvisor.tune.training import Configuration

    rows = []
    for name, root in _datasets():
        out = workdir / f"main-{name}"
        start = time.perf_counter()
        result = tune(
            root / "images", root / "masks", out=out, threads=threads, progress=False, report=False,
            **main_settings,
        )  # fmt: skip
        wall = time.perf_counter() - start
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
        configs = {
            (loss, lr): Configuration(loss, {}, lr) for loss in TRUTH_LOSSES for lr in SWEEP
        }  # defaults of each loss's other parameters
        # 3x the steps of the race's second level (twice a search trial's steps per epoch)
        level1 = {**s, "steps": 2 * main_settings.get("steps_per_epoch", s["steps"])}
        measured = truth(root, configs, level1, threads, workdir / name)
        best_of = {
            loss: max((measured[(loss, lr)] for lr in SWEEP), key=lambda m: m[0]) for loss in TRUTH_LOSSES
        }
        best = max(best_of, key=lambda k: best_of[k][0])
        for loss in TRUTH_LOSSES:
            m = best_of[loss]
            print(f"    truth {loss:<12} {m[0]:.3f} +- {m[1]:.3f} (the sweep's best learning rate)")
        if rec in best_of:
            gap = best_of[best][0] - best_of[rec][0]
            noise = best_of[best][1]
            print(
                f"    regret of {rec}: {gap:.3f} IoU against {best} (seeds' noise {noise:.3f}): "
                + ("within the noise" if gap <= noise else "ABOVE the noise"),
                flush=True,
            )
            rows.append({"dataset": name, "recommended": rec, "best": best, "regret": gap, "noise": noise})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks verdict")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=None, help="A/A and power repetitions")
    parser.add_argument(
        "--only", default="aa-sim,aa,power,regret", help="comma-separated: aa-sim, aa, power, regret"
    )
    args = parser.parse_args(argv)
    import optuna
    import torch

    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = dict(QUICK if args.quick else FULL)
    if args.repeats:
        s["repeats"] = s["power_repeats"] = args.repeats
    only = set(args.only.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="bench-verdict-"))
    summary = {}
    steps = s["epochs"] * s["steps"]
    try:
        if "aa-sim" in only:
            print("A/A, simulated under the test's model (sequential looks, no training):", flush=True)
            summary["aa_simulated"] = aa_simulated()
        if "aa" in only:
            print(
                f"A/A: CE against itself, independent streams, 3 folds per repetition, {s['size']} px, "
                f"{steps} steps at the first level, race budget {s['budget']}, {s['repeats']} races:",
                flush=True,
            )
            summary["aa"] = aa(s, args.threads, workdir)
        if "power" in only:
            print(
                f"Power: CE at lr {LR:g} against CE at {LR / 3:.0e}, {s['power_repeats']} races:", flush=True
            )
            summary["power"] = power(s, args.threads, workdir)
        if "regret" in only:
            main_settings = QUICK_MAIN if args.quick else {}
            print(f"Regret: the main job ({main_settings or 'defaults'}) against longer LR-swept runs:")
            summary["regret"] = regret(main_settings, s, args.threads, workdir)
        print("summary: " + json.dumps(summary))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0
