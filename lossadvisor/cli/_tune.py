"""``lossadvisor tune``: profile, advise, Optuna search, paired cross-validated confirmation, report."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import click

from lossadvisor.cli._common import configure_logging, given_command, quiet_option
from lossadvisor.tune import TuneOptions

EXIT_INTERRUPTED = 130  # the shell convention for a command stopped by Ctrl-C (128 + SIGINT); 143 for SIGTERM


def _format_table(result) -> str:
    """The final summary: finalists with their confirmation IoU, the verdict with its probabilities, what
    the confirmation budget bought, what to do next when undecided, the diagnostics, and what the time budget
    bought."""
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
        lines += ["", f"Paired against the leader ({labels.get(verdict.winner, verdict.winner)}):"]
        lines += [_comparison_line(c) for c in verdict.comparisons if c.mean_diff is not None]
        if verdict.race.get("bought"):
            lines.append(verdict.race["bought"])
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
        if verdict is not None and verdict.next_steps:
            lines.append(f"  {verdict.next_steps}")
    budget = result.outcome.budget if result.outcome is not None else {}
    if budget.get("bought"):
        lines += ["", budget["bought"]]
    if result.model is not None and result.model.name:
        count = result.model.parameters
        size = f", {count:,} parameters" if count is not None else ""
        lines.append(f"Confirmed on {result.model.name}{size}.")
    return "\n".join(lines)


def _comparison_line(c) -> str:
    """One comparison: the mean difference and the correlated t-test's three probabilities (older result.json
    files: the bootstrap interval)."""
    head = f"  vs {c.against_loss:<14} {c.mean_diff:+.3f} IoU over {c.runs} paired runs"
    if c.p_better is None:
        return head + f", 95% CI [{c.ci_low:+.3f}, {c.ci_high:+.3f}]: " + ("clear" if c.clear else "tie")
    steps = f" at {c.steps} steps" if c.steps else ""
    more = f", ~{c.runs_to_decide} more runs would likely decide" if c.runs_to_decide else ""
    if c.state == "open" and not c.runs_to_decide and c.resolvable_diff is not None:
        more = f" (more runs at this spread resolve only differences over {c.resolvable_diff:.3f} IoU)"
    return (
        f"{head}{steps}: P(better) {c.p_better:.0%}, P(equivalent) {c.p_equivalent:.0%}, "
        f"P(worse) {c.p_worse:.0%} -> {c.state}{more}"
    )


# The presets of lossadvisor.tune.training._models, repeated so completion and --help need no torch (a test
# keeps them equal).
MODEL_PRESETS = ("compact", "monai-unet", "monai-segresnet")


def _complete_model(ctx, param, incomplete: str) -> list:
    """Shell completion of --model: the presets (a MODULE:CALLABLE is the user's own)."""
    return [name for name in MODEL_PRESETS if name.startswith(incomplete)]


def tune_option(name: str, **extra) -> Callable:
    """The click option of :class:`TuneOptions` field ``name``: its flag, default, help and accepted values
    all come from the record (``extra``: click-only settings such as shell completion)."""
    f = next(f for f in dataclasses.fields(TuneOptions) if f.name == name)
    flag, accepts = f.metadata["flag"], f.metadata["accepts"]
    if accepts.kind is bool:  # an off-switch: the flag given means the opposite of the default
        return click.option(flag, is_flag=True, help=f.metadata["help"], **extra)
    if accepts.choices is not None:
        kind = click.Choice(accepts.choices)
    elif accepts.path is not None:
        kind = click.Path(
            exists=accepts.path == "file",
            dir_okay=accepts.path != "file",
            file_okay=accepts.path != "dir",
            writable=accepts.writable,
        )
    elif accepts.kind in (int, float) and (accepts.low is not None or accepts.high is not None):
        kind = (click.IntRange if accepts.kind is int else click.FloatRange)(
            min=accepts.low, max=accepts.high, min_open=accepts.low_open, max_open=accepts.high_open
        )
    else:
        kind = {int: int, float: float}.get(accepts.kind, str)
    return click.option(
        flag,
        name,
        type=kind,
        default=f.default,
        show_default=f.default is not None,
        metavar=f.metadata["metavar"],
        help=f.metadata["help"],
        **extra,
    )


def options_from_params(params: dict) -> TuneOptions:
    """The :class:`TuneOptions` of click's parsed parameters (off-switch flags turned into their field)."""
    values = {}
    for f in TuneOptions.cli_fields():
        if f.metadata["accepts"].kind is bool:
            values[f.name] = (not f.default) if params[_param_name(f.metadata["flag"])] else f.default
        else:
            values[f.name] = params[f.name]
    return TuneOptions(**values)


def _param_name(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


@click.command("tune")
@tune_option("images")
@tune_option("masks")
@tune_option("out")
@tune_option("size")
@tune_option("crop")
@tune_option("epochs")
@tune_option("steps_per_epoch")
@tune_option("batch_size")
@tune_option("warmup_steps")
@tune_option("n_trials")
@tune_option("timeout")
@tune_option("seeds")
@tune_option("folds")
@tune_option("finalists")
@tune_option("margin")
@tune_option("confirm_budget")
@tune_option("time_budget")
@tune_option("storage")
@tune_option("study_name")
@tune_option("model", shell_complete=_complete_model)
@tune_option("device")
@tune_option("threads")
@tune_option("class_map")
@tune_option("ignore_index")
@tune_option("rules_config")
@tune_option("objective")
@tune_option("seed")
@tune_option("max_pixels")
@tune_option("heartbeat")
@tune_option("report")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print result.json on stdout at the end, and nothing else on stdout (progress stays on stderr).",
)
@quiet_option
@click.pass_context
def tune_command(click_ctx, as_json, quiet, **params) -> None:
    """Profile the masks, advise, and confirm the advice with short U-Net trials on your own data.

    Runs an Optuna study over the recommended losses (plain CE always included as the baseline), all over the
    same learning-rate range, with their parameters and pruning; then races the finalists (the best
    configuration of each top loss, CE and the rules' first choice always among them): repetitions of k-fold
    on fresh partitions, paired, with the clearly worse dropped and the rest promoted to runs twice as long,
    within --confirm-budget. The Bayesian correlated t-test gives P(better), P(equivalent within --margin) and
    P(worse) for the leader against each finalist: "clear" (better than all at 97.5%), "equivalent" (the
    simplest is recommended) or "undecided" (the leader is recommended, with what would decide it). Plain CE
    and plain Dice at an LR range test's rate are shown apart, as diagnostics. Writes run.json, study.db,
    trials.csv, epochs.csv, confirmation.csv, confirmation_tiles.csv, diagnostics.csv, lr_range_test.json,
    result.json, samples.npz and report.html to --out. The whole job keeps --time-budget (10 minutes on a CPU
    by default): the search and the race are cut to fit, and the summary says what the budget bought.

    Ctrl-C or SIGTERM stops cleanly; run the same command again to resume where it stopped. On a finished
    run folder, a larger --n-trials, --confirm-budget or --time-budget extends the run (only new work is
    trained).
    Everything is checked before anything is written, so a refused run never touches a finished run folder.

    \b
    Examples:
      lossadvisor tune --images examples/buildings/images --masks examples/buildings/masks \\
          --out reports/buildings
      lossadvisor tune --images tiles/ --masks labels/ --crop 256 --device cuda --n-trials 60
      lossadvisor tune --images tiles/ --masks labels/ --model ./mynet.py:build --json > result.json
      lossadvisor tune --storage postgresql://me@db-host/optuna --study roads-v2   # on each machine
      lossadvisor tune --storage journal:runs/roads.journal --study roads --out reports/roads-w1
    """
    from lossadvisor._text import display_path, safe_lines, safe_text
    from lossadvisor.tune import exit_code, redact_url, tune

    configure_logging(quiet)
    options = options_from_params(params)
    try:
        result = tune(options=options, progress=not quiet, command=given_command(click_ctx))
    except KeyboardInterrupt as exc:
        storage = options.storage
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
        click.echo(safe_lines(_format_table(result)))
    if not quiet:
        click.echo(
            f"\nWrote {display_path(result.result_path)}"
            + (f" and {display_path(result.report_path)}" if result.report_path else ""),
            err=True,
        )
