"""Can the verdict be defended? Run-to-run agreement, the A/A false-winner rate, and where the time goes.

- **Agreement**: the main job (``lossadvisor tune`` with the defaults) on examples/buildings and on
  ../shared/data/dsb2018-nuclei, with ``--seed 0`` and ``--seed 1`` (another split, other folds, other seeds,
  another sampler). The two verdicts agree when they recommend the same loss, or one is a tie that contains
  the other's recommendation. Both verdicts are printed with their intervals.
- **A/A**: plain CE entered twice as two finalists whose runs use independent random streams (different
  initialisation and batch order), confirmed on 3 folds x 2 seeds of examples/buildings and judged by the
  verdict; repeated with other seeds. A "clear" verdict is a false winner; target: at most 5 % of
  repetitions.
- **Wall time** of each main job split into search, confirmation and the rest (from ``run.json``).

``--quick`` uses smaller settings (64 px, short runs, fewer repetitions) so the whole benchmark takes minutes;
its figures check the machinery, not the defaults. Usage:
``python -m benchmarks verdict [--quick] [--threads N] [--repeats N] [--skip-main] [--skip-aa]``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "buildings"
NUCLEI = ROOT.parent / "shared" / "data" / "dsb2018-nuclei"
SHARED_NUCLEI = Path("/work/shared/data/dsb2018-nuclei")
TARGET_FALSE_WINNER_RATE = 0.05
QUICK_MAIN = {"size": 64, "epochs": 3, "steps_per_epoch": 10, "n_trials": 5, "seeds": 1}
QUICK_AA = {"size": 64, "epochs": 3, "steps": 10, "repeats": 10}
FULL_AA = {"size": 128, "epochs": 6, "steps": 40, "repeats": 20}  # 240 steps, as a confirmation run


def _datasets() -> list[tuple[str, Path]]:
    nuclei = NUCLEI if NUCLEI.is_dir() else SHARED_NUCLEI
    out = [("buildings", EXAMPLE)]
    if (nuclei / "images").is_dir():
        out.append(("dsb2018-nuclei", nuclei))
    else:
        print(f"  (dsb2018-nuclei not found at {NUCLEI} or {SHARED_NUCLEI}: skipped)")
    return out


def _verdict_lines(result) -> list[str]:
    verdict = result.verdict
    names = {r.config_id: r.label for r in result.ranking}
    winner = verdict.winner if verdict else None
    lines = [
        f"    verdict {verdict.kind if verdict else None}: recommended "
        f"{result.recommended.loss if result.recommended else None} (winner {names.get(winner, winner)})"
    ]
    for r in result.ranking:
        search = r.search_iou if r.search_iou is not None else float("nan")
        lines.append(
            f"      {r.label:<46} search {search:.3f}"
            f"  confirmation {r.mean_iou:.3f} +- {r.std_iou:.3f} ({r.runs} runs)"
        )
    for c in verdict.comparisons if verdict else ():
        if c.mean_diff is not None:
            lines.append(
                f"      winner vs {c.against_loss:<12} {c.mean_diff:+.3f} IoU, 95% CI "
                f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}], won {c.runs_won}/{c.runs}: "
                + ("clear" if c.clear else "tie")
            )
    order = verdict.order if verdict else None
    losses = {r.config_id: r.loss for r in result.ranking}
    held = (
        "held"
        if order is not None and order.held
        else "did not hold: "
        + ", ".join(
            f"{losses.get(o.entry, o.entry)} overtook {losses.get(o.overtook, o.overtook)}"
            for o in (order.overtook if order else ())
        )
    )
    lines.append(f"      search order {held}")
    return lines


def _tied_losses(result) -> set[str]:
    by_id = {r.config_id: r.loss for r in result.ranking}
    return {by_id[e] for e in (result.verdict.tied if result.verdict else ()) if e in by_id}


def main_jobs(settings: dict, threads: int, workdir: Path) -> list[dict]:
    """Two main jobs (seed 0 and 1) per dataset; print verdicts, agreement and the time split."""
    from lossadvisor._run_records import RunSummary
    from lossadvisor.tune import tune

    rows = []
    for name, root in _datasets():
        results = []
        for seed in (0, 1):
            out = workdir / f"{name}-seed{seed}"
            start = time.perf_counter()
            result = tune(
                root / "images", root / "masks", out=out, seed=seed, threads=threads, progress=False,
                report=False, **settings,
            )  # fmt: skip
            wall = time.perf_counter() - start
            timings = RunSummary.load(out / "run.json").timings
            phases, runs = timings.phases, timings.runs
            search = (phases.get("search_s") or 0.0) + (phases.get("lr_range_test_s") or 0.0)
            confirm = phases.get("confirmation_s") or 0.0
            print(f"  {name}, --seed {seed}: {wall:.0f} s, {runs} training runs")
            print(
                f"    time: search {search:.0f} s ({search / wall:.0%}), confirmation {confirm:.0f} s "
                f"({confirm / wall:.0%}), other {wall - search - confirm:.0f} s "
                f"({(wall - search - confirm) / wall:.0%}; "
                f"diagnostics {phases.get('diagnostics_s') or 0:.0f} s)"
            )
            print("\n".join(_verdict_lines(result)), flush=True)
            results.append(result)
            rows.append(
                {"dataset": name, "seed": seed, "wall_s": wall, "search_s": search, "confirm_s": confirm}
            )
        a, b = results
        ra, rb = (r.recommended.loss if r.recommended else None for r in (a, b))
        agree = ra == rb or ra in _tied_losses(b) or rb in _tied_losses(a)
        print(
            f"  {name}: seed 0 recommends {ra}, seed 1 recommends {rb}: "
            + ("AGREE (same loss, or a tie containing it)" if agree else "DISAGREE")
            + "\n",
            flush=True,
        )
    return rows


def aa_rate(settings: dict, threads: int, workdir: Path) -> tuple[int, int]:
    """(false winners, repetitions) of CE against itself on examples/buildings."""
    import optuna

    from lossadvisor.io import read_mask
    from lossadvisor.losses import build_loss
    from lossadvisor.tune import pair_files, resolve_device
    from lossadvisor.tune.confirm._confirm import Finalist, collect, enqueue_units, run_units
    from lossadvisor.tune.confirm._verdict import decide
    from lossadvisor.tune.data._cache import build_fold_data
    from lossadvisor.tune.training._run import Configuration, RunContext

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pairs = pair_files(EXAMPLE / "images", EXAMPLE / "masks").pairs
    device = resolve_device("cpu", threads=threads)
    config = Configuration("ce", {}, 3e-3)
    false_winners = 0
    start = time.perf_counter()
    for rep in range(settings["repeats"]):
        datas = build_fold_data(
            pairs, read_mask=lambda p: read_mask(p).labels, cache_dir=workdir / "aa-cache", fingerprint="aa",
            size=settings["size"], folds=3, seed=rep,
        )  # fmt: skip
        contexts = [
            RunContext(
                data=d,
                num_classes=2,
                loss_factory=lambda n, p: build_loss(n, **p),
                device=device,
                epochs=settings["epochs"],
                steps_per_epoch=settings["steps"],
                batch_size=8,
                warmup_steps=0,
                seed=rep,
                preds_dir=workdir / "aa-preds",
                sample_indices=[],
            )  # fmt: skip
            for d in datas
        ]
        twins = [Finalist(e, e, config, None, None) for e in ("ce-twin-a", "ce-twin-b")]
        study = optuna.create_study(direction="maximize")
        enqueue_units(study, twins, folds=3, seeds=2)
        run_units(study, twins, contexts, base_seed=rep)
        _, runs, _ = collect(study, twins)
        verdict = decide(runs, seed=rep)
        c = verdict.comparisons[0]
        false_winners += verdict.kind == "clear"
        print(
            f"  A/A {rep + 1:>2}: {c.mean_diff:+.4f} IoU, "
            f"95% CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}] "
            f"-> {verdict['kind']}  ({time.perf_counter() - start:.0f} s so far)",
            flush=True,
        )
    return false_winners, settings["repeats"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks verdict")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=None, help="A/A repetitions")
    parser.add_argument("--skip-main", action="store_true", help="skip the four main jobs")
    parser.add_argument("--skip-aa", action="store_true", help="skip the A/A repetitions")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    main_settings = QUICK_MAIN if args.quick else {}
    aa = dict(QUICK_AA if args.quick else FULL_AA)
    if args.repeats:
        aa["repeats"] = args.repeats
    workdir = Path(tempfile.mkdtemp(prefix="bench-verdict-"))
    try:
        if not args.skip_main:
            shown = main_settings or "the defaults"
            print(f"Main job, --seed 0 and --seed 1 ({shown}; {args.threads} thread(s)):", flush=True)
            main_jobs(main_settings, args.threads, workdir)
        if not args.skip_aa:
            print(
                f"A/A: CE against itself, independent streams, 3 folds x 2 seeds, {aa['size']} px, "
                f"{aa['epochs'] * aa['steps']} steps per run, {aa['repeats']} repetitions:",
                flush=True,
            )
            false, reps = aa_rate(aa, args.threads, workdir)
            rate = false / reps
            print(
                f"  false-winner rate {false}/{reps} = {rate:.0%} "
                f"(target <= {TARGET_FALSE_WINNER_RATE:.0%}): "
                + ("OK" if rate <= TARGET_FALSE_WINNER_RATE else "ABOVE TARGET"),
                flush=True,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0
