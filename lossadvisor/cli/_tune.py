"""``lossadvisor tune``: profile, advise, Optuna search, paired cross-validated confirmation, report."""

from __future__ import annotations

import click

from lossadvisor.cli._common import (
    configure_logging,
    given_command,
    max_pixels_option,
    out_option,
    quiet_option,
)

EXIT_INTERRUPTED = 130  # the shell convention for a command stopped by Ctrl-C (128 + SIGINT); 143 for SIGTERM


def _format_table(result) -> str:
    """The final summary: finalists with their confirmation IoU, the verdict with intervals, diagnostics."""
    header = f"{'finalist':<48} {'search':>7} {'confirm':>8} {'std':>6} {'collapse':>8} {'runs':>5}"
    lines = [header, "-" * len(header)]
    verdict = result.verdict
    recommended = verdict.recommended if verdict else None
    for r in result.ranking:
        mark = "*" if r.config_id == recommended else " "
        label = (r.label[:44] + "...") if len(r.label) > 47 else r.label
        search = f"{r.search_iou:.3f}" if r.search_iou is not None else "-"
        mean = f"{r.mean_iou:.3f}" if r.mean_iou is not None else "-"
        std = f"{r.std_iou:.3f}" if r.std_iou is not None else "-"
        collapse = f"{r.collapse_rate:.0%}" if r.collapse_rate is not None else "-"
        runs = r.runs if r.runs is not None else "-"
        lines.append(f"{mark}{label:<47} {search:>7} {mean:>8} {std:>6} {collapse:>8} {runs:>5}")
    labels = {r.config_id: r.loss for r in result.ranking}
    if verdict is not None and verdict.comparisons:
        lines += ["", f"Paired against the winner ({labels.get(verdict.winner, verdict.winner)}):"]
        for c in verdict.comparisons:
            if c.mean_diff is None:
                continue
            lines.append(
                f"  vs {c.against_loss:<14} {c.mean_diff:+.3f} IoU, 95% CI [{c.ci_low:+.3f}, "
                f"{c.ci_high:+.3f}], won {c.runs_won}/{c.runs} runs: " + ("clear" if c.clear else "tie")
            )
    order = verdict.order if verdict else None
    if order is not None and order.search:
        if order.held:
            lines.append("Search order held after the longer confirmation runs.")
        else:
            moves = ", ".join(
                f"{labels.get(o.entry, o.entry)} overtook {labels.get(o.overtook, o.overtook)}"
                for o in order.overtook
            )
            lines.append(f"Search order did not hold: {moves}.")
    if result.diagnostics:
        lines += ["", "Diagnostics, not ranked (what a finder-picked learning rate would have given you):"]
        for d in result.diagnostics:
            lines.append(
                f"  {d.label:<46} IoU {d.mean_iou:.3f} (std {d.std_iou:.3f}, "
                f"collapse {d.collapse_rate:.0%}, {d.runs} runs)"
            )
    if result.size_switch:
        lines += ["", result.size_switch["message"]]
    rec, conf = result.recommended, result.confidence
    if rec is not None and rec.loss:
        lines += [
            "",
            f"Recommended: {rec.loss} {rec.params} at lr={rec.lr:.3g} (verdict: {conf.level})",
            f"  {conf.explanation}",
        ]
    if result.model is not None and result.model.name:
        count = result.model.parameters
        size = f", {count:,} parameters" if count is not None else ""
        lines.append(f"Confirmed on {result.model.name}{size}.")
    return "\n".join(lines)


# The presets of lossadvisor.tune.training._models, repeated so completion and --help need no torch (a test
# keeps them equal).
MODEL_PRESETS = ("compact", "monai-unet", "monai-segresnet")


def _complete_model(ctx, param, incomplete: str) -> list:
    """Shell completion of --model: the presets (a MODULE:CALLABLE is the user's own)."""
    return [name for name in MODEL_PRESETS if name.startswith(incomplete)]


@click.command("tune")
@click.option(
    "--images",
    default=None,
    type=click.Path(file_okay=False),
    help="Folder of images (grey or RGB PNG, JPEG, TIFF), paired with masks by file stem "
    "[default: images].",
)
@click.option(
    "--masks",
    default=None,
    type=click.Path(file_okay=False),
    help="Folder of masks (PNG, TIFF, NPY; 0/1, 0/255, class indices, or colours with --class-map) "
    "[default: masks].",
)
@out_option(" Re-running with the same folder resumes the study.")
@click.option(
    "--size",
    type=click.IntRange(min=16),
    default=None,
    help="Side the tiles are resized to for training (a multiple of 16; 256+ on a GPU) [default: 128, or "
    "native-resolution crops / a larger size when the lost-objects rule fires].",
)
@click.option(
    "--crop",
    type=click.IntRange(min=16),
    default=None,
    help="Train on random NxN crops at native resolution instead of resizing (large aerial tiles "
    "whose small objects vanish when resized).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Validations per run; each epoch is --steps-per-epoch optimiser steps (twice as many in the "
    "confirmation runs).",
)
@click.option(
    "--steps-per-epoch",
    type=click.IntRange(min=1),
    default=None,
    help="Optimiser steps between validations [default: one pass over the tiles, at least 20].",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Batch size.")
@click.option(
    "--warmup-steps",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Linear learning-rate warm-up steps.",
)
@click.option(
    "--n-trials",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Search trials in the study (trials from an earlier run of the same study count).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds after which no new search trial starts; the confirmation still runs.",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Seeds per fold in the confirmation (each finalist gets folds x seeds paired runs).",
)
@click.option(
    "--folds",
    type=click.IntRange(min=2),
    default=3,
    show_default=True,
    help="Folds of the confirmation's stratified cross-validation; every tile is validated once.",
)
@click.option(
    "--finalists",
    type=click.IntRange(min=2),
    default=3,
    show_default=True,
    help="Losses confirmed: the best configuration of each top loss of the search, CE always among them.",
)
@click.option(
    "--margin",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=0.01,
    show_default=True,
    help="Practical margin in IoU: a smaller mean paired gain is a tie, whatever its interval.",
)
@click.option(
    "--storage",
    default=None,
    metavar="URL",
    help="Optuna storage shared by every worker of the study: postgresql://user:pw@host/db for many "
    "machines, journal:FILE for a few processes on one machine [default: SQLite <out>/study.db, one "
    "process]. The password is never written to files or logs.",
)
@click.option("--study", "study_name", default=None, help="Study name in the storage [default: lossadvisor].")
@click.option(
    "--model",
    default=None,
    metavar="NAME|MODULE:CALLABLE",
    shell_complete=_complete_model,
    help="Network the trials train: compact (default; the package's compact U-Net), monai-unet, "
    "monai-segresnet (pip install 'lossadvisor[monai]'), or your own as MODULE:CALLABLE (mynet:build, "
    "./mynet.py:build), called as CALLABLE(in_channels, num_classes) and returning an nn.Module whose "
    "output is logits (N, C, H, W). Checked on one batch before the study starts.",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (CUDA with bfloat16, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Torch CPU threads [default: all cores when the machine is idle, else the free ones].",
)
@click.option(
    "--class-map",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="JSON or CSV class map for colour-coded masks.",
)
@click.option("--ignore-index", type=int, default=None, help="Mask value to ignore, e.g. 255 on boundaries.")
@click.option(
    "--rules-config",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TOML file overriding rule thresholds (as for `lossadvisor advise`).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split, sampler and runs.")
@max_pixels_option
@click.option(
    "--heartbeat",
    type=click.IntRange(min=1),
    default=15,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between a worker's heartbeats on shared storage; a trial silent for 4 heartbeats is "
    "taken for a dead worker's and re-run by a live one.",
)
@click.option("--no-report", is_flag=True, help="Do not build report.html at the end.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print result.json on stdout at the end, and nothing else on stdout (progress stays on stderr).",
)
@quiet_option
@click.pass_context
def tune_command(
    click_ctx,
    images,
    masks,
    out,
    size,
    crop,
    epochs,
    steps_per_epoch,
    batch_size,
    warmup_steps,
    n_trials,
    timeout,
    seeds,
    folds,
    finalists,
    margin,
    storage,
    study_name,
    model,
    device,
    threads,
    class_map,
    ignore_index,
    rules_config,
    seed,
    max_pixels,
    heartbeat,
    no_report,
    as_json,
    quiet,
) -> None:
    """Profile the masks, advise, and confirm the advice with short U-Net trials on your own data.

    Runs an Optuna study over the recommended losses (plain CE always included as the baseline), all over
    the same learning-rate range, with their parameters and pruning; then re-trains the finalists (the best
    configuration of each top loss, CE always among them) on the same folds and seeds at twice a trial's
    steps, and compares them pairwise: the winner's mean gain in IoU with a 95% bootstrap interval. A gain
    whose interval includes 0, or under --margin, is a tie, and the simplest tied loss is recommended. Plain
    CE and plain Dice at an LR range test's rate are shown apart, as diagnostics. Writes run.json, study.db,
    trials.csv, epochs.csv, confirmation.csv, confirmation_tiles.csv, diagnostics.csv, lr_range_test.json,
    result.json, samples.npz and report.html to --out.

    Ctrl-C or SIGTERM stops cleanly; run the same command again to resume where it stopped. Everything is
    checked before anything is written, so a refused run never touches a finished run folder.

    \b
    Examples:
      lossadvisor tune --images examples/buildings/images --masks examples/buildings/masks \\
          --out reports/buildings
      lossadvisor tune --images tiles/ --masks labels/ --crop 256 --device cuda --n-trials 60
      lossadvisor tune --images tiles/ --masks labels/ --model ./mynet.py:build --json > result.json
      lossadvisor tune --storage postgresql://me@db-host/optuna --study roads-v2   # on each machine
      lossadvisor tune --storage journal:runs/roads.journal --study roads --out reports/roads-w1
    """
    from lossadvisor._text import display_path, safe_text
    from lossadvisor.tune import tune
    from lossadvisor.tune._signals import exit_code
    from lossadvisor.tune.study import redact_url

    configure_logging(quiet)
    try:
        result = tune(
            images,
            masks,
            out=out,
            size=size,
            crop=crop,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            batch_size=batch_size,
            warmup_steps=warmup_steps,
            n_trials=n_trials,
            timeout=timeout,
            seeds=seeds,
            folds=folds,
            finalists=finalists,
            margin=margin,
            storage=storage,
            study_name=study_name,
            model=model,
            device=device,
            threads=threads,
            class_map=class_map,
            ignore_index=ignore_index,
            rules_config=rules_config,
            seed=seed,
            heartbeat=heartbeat,
            progress=not quiet,
            report=not no_report,
            max_pixels=max_pixels,
            command=given_command(click_ctx),
        )
    except KeyboardInterrupt as exc:
        where = f"--storage {safe_text(redact_url(storage))}" if storage else "the same --out folder"
        click.echo(
            "\nInterrupted. Completed trials and confirmation runs are kept in the study; the running run is "
            f"marked failed (interrupted). Run the same command again (with {where}) to resume.",
            err=True,
        )
        raise SystemExit(exit_code(exc)) from None
    if as_json:
        click.echo(result.result_path.read_text(encoding="utf-8"), nl=False)
    elif not quiet:
        click.echo(_format_table(result))
    if not quiet:
        click.echo(
            f"\nWrote {display_path(result.result_path)}"
            + (f" and {display_path(result.report_path)}" if result.report_path else ""),
            err=True,
        )
