"""Write the tuner's files of a run folder (contracts in docs/ARCHITECTURE.md): trials.csv, epochs.csv,
confirmation.csv, confirmation_tiles.csv, diagnostics.csv, result.json, samples.npz. All of them are rebuilt
from the study, so they are always complete for what the storage holds, also after a resume.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lossadvisor import runfolder
from lossadvisor._atomic import write_npz
from lossadvisor.runfolder import (
    COLLAPSE,
    COLLAPSE_NONE,
    EPOCH_COLUMNS,
    RUN_COLUMNS,
    SIZE_BUCKETS,
    TILE_COLUMNS,
    TRIAL_COLUMNS,
    flat_params,
    with_param_columns,
    write_csv,
    write_json,
)

__all__ = ["write_json", "write_tables", "write_samples", "snippets", "object_recall_by_config"]


def _epoch_at(epochs: list[dict], epoch) -> dict:
    """The epoch record numbered ``epoch`` ({} when absent), so a row's IoU and Dice come from one epoch."""
    return next((e for e in epochs if e.get("epoch") == epoch), {})


def trial_rows(study) -> list[dict]:
    """One row per Optuna trial (WAITING ones, not yet started, are left out)."""
    from optuna.trial import TrialState

    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.WAITING:
            continue
        s = t.user_attrs.get("summary", {})
        params = t.user_attrs.get("params", {})
        best = _epoch_at(t.user_attrs.get("epochs", []), s.get("best_epoch"))
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "loss": t.params.get("loss"),
                "lr": t.user_attrs.get("lr"),
                **flat_params(params),
                "value": t.value
                if t.state == TrialState.COMPLETE
                else (max(t.intermediate_values.values()) if t.intermediate_values else None),
                "best_epoch": s.get("best_epoch"),
                "best_iou": best.get("val_iou"),
                "best_dice": best.get("val_dice"),
                "val_iou": s.get("val_iou"),
                "val_dice": s.get("val_dice"),
                "epochs_run": s.get("epochs_run", 0),
                COLLAPSE: s.get(COLLAPSE, ""),
                "grad_norm_max": s.get("grad_norm_max"),
                "grad_spikes": s.get("grad_spikes"),
                "nonfinite": s.get("nonfinite"),
                "duration_s": s.get("duration_s"),
                "fail_reason": t.user_attrs.get("fail_reason", ""),
            }
        )
    return rows


def epoch_rows(study, diagnostics: list[dict], confirmation: list[dict]) -> list[dict]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        for e in t.user_attrs.get("epochs", []):
            rows.append(
                {
                    "phase": "search",
                    "run_id": f"trial{t.number}",
                    "trial": t.number,
                    "loss": t.params.get("loss"),
                    **e,
                }
            )
    for phase, records in (("diagnostic", diagnostics), ("confirmation", confirmation)):
        for r in records:
            run_id = r["unit"] if "unit" in r else f"{r['config_id']}_s{r['seed']}"
            for e in r.get("epochs", []):
                rows.append(
                    {
                        "phase": phase,
                        "run_id": run_id,
                        "trial": None,
                        "loss": r["loss"],
                        **e,
                    }
                )
    return rows


def run_rows(records: list[dict], *, source: str | None = None) -> list[dict]:
    """One row per run (confirmation or diagnostic), with its parameters flat and object recall per bucket."""
    rows = []
    for r in records:
        recall = r.get("object_recall") or {}
        rows.append(
            {
                **r,
                **({"source": source} if source else {}),
                **flat_params(r.get("params") or {}),
                COLLAPSE: r.get(COLLAPSE, COLLAPSE_NONE),
                **{f"recall_{b}": recall.get(b) for b in SIZE_BUCKETS},
            }
        )
    return rows


def write_tables(
    run_dir: Path,
    study,
    *,
    diagnostics: list[dict] = (),
    confirmation: list[dict] = (),
    tiles: list[dict] = (),
) -> None:
    """trials.csv, epochs.csv, diagnostics.csv, confirmation.csv and confirmation_tiles.csv."""
    trials = trial_rows(study)
    write_csv(run_dir / runfolder.TRIALS_CSV, with_param_columns(TRIAL_COLUMNS, trials), trials)
    epochs = epoch_rows(study, list(diagnostics), list(confirmation))
    write_csv(run_dir / runfolder.EPOCHS_CSV, EPOCH_COLUMNS, epochs)
    diag = run_rows(list(diagnostics))
    write_csv(run_dir / runfolder.DIAGNOSTICS_CSV, with_param_columns(RUN_COLUMNS, diag), diag)
    confirmed = run_rows(list(confirmation), source="finalist")
    write_csv(run_dir / runfolder.CONFIRMATION_CSV, with_param_columns(RUN_COLUMNS, confirmed), confirmed)
    write_csv(run_dir / runfolder.CONFIRMATION_TILES_CSV, TILE_COLUMNS, list(tiles))


def object_recall_by_config(records: list[dict]) -> dict[str, dict[str, float | None]]:
    """Mean recall per size bucket over the runs of each configuration."""
    out: dict[str, dict[str, float | None]] = {}
    for cid in dict.fromkeys(r["config_id"] for r in records):
        runs = [r.get("object_recall") or {} for r in records if r["config_id"] == cid and not r["failed"]]
        out[cid] = {}
        for b in SIZE_BUCKETS:
            values = [run[b] for run in runs if run.get(b) is not None]
            out[cid][b] = float(np.mean(values)) if values else None
    return out


def _kwargs(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items() if v is not None)


def validated_setup(
    *,
    model: str,
    parameters: int | None,
    lr: float,
    steps: int,
    batch_size: int,
    side: int,
    crop: bool,
    warmup_steps: int,
    weight_decay: float,
    recipe: str = "",
) -> str:
    """One sentence saying exactly what the trials trained, so a snippet never claims more than was tested.

    Example:
        >>> text = validated_setup(model="compact U-Net", parameters=431_000, lr=2e-3, steps=160,
        ...     batch_size=8, side=128, crop=False, warmup_steps=0, weight_decay=1e-4)
        >>> text[:60]
        'a 0.43 M-parameter compact U-Net trained from scratch with A'
        >>> text[60:157]
        'damW (weight decay 0.0001) at a constant lr=0.002 for 160 steps of batch 8 on 128-px tiles (resiz'
        >>> text[-6:]
        'sized)'
    """
    size = f"{parameters / 1e6:.2g} M-parameter " if parameters else ""
    schedule = (
        f"after a {warmup_steps}-step linear warm-up, a constant lr={lr:.3g}"
        if warmup_steps
        else f"a constant lr={lr:.3g}"
    )
    tiles = f"random {side}-px crops at native resolution" if crop else f"{side}-px tiles (resized)"
    return (
        f"a {size}{model} trained from scratch with AdamW (weight decay {weight_decay:g}) at {schedule} "
        f"for {steps} steps of batch {batch_size} on {tiles}" + (f"; {recipe}" if recipe else "")
    )


TRANSFER_NOTE = (
    "The learning rate transfers to another model, optimiser, schedule or resolution only approximately: "
    "use it as the starting point of a short check there."
)


def _kwargs(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items() if v is not None)


def _comment(text: str, width: int = 96) -> str:
    """``text`` as ``# `` comment lines of at most ``width`` characters."""
    import textwrap

    return "".join(f"# {line}\n" for line in textwrap.wrap(text, width - 2, break_on_hyphens=False))


def snippets(
    loss: str,
    params: dict,
    lr: float,
    *,
    num_classes: int,
    epochs_hint: int,
    validated: str,
    ema_decay: float | None = None,
) -> dict[str, str]:
    """Copy-paste code for plain PyTorch and for fastai with the recommended loss and learning rate.

    ``validated`` (from :func:`validated_setup`) heads both snippets: the loss and learning rate were tested
    on that setup only, and the fastai recipe (pretrained encoder, one-cycle) was not tested at all. With
    ``ema_decay`` (the trials scored a moving average of the weights) the PyTorch loop keeps the same average
    with ``torch.optim.swa_utils.AveragedModel``.
    """
    n_out = 1 if num_classes <= 2 else num_classes  # binary: one sigmoid channel
    call = f'build_loss("{loss}"' + (f", {_kwargs(params)}" if _kwargs(params) else "") + ")"
    header = _comment(f"Validated on this data: {validated}. {TRANSFER_NOTE}")
    average = ""
    if ema_decay is not None:
        average = (
            "from torch.optim.swa_utils import AveragedModel\n\n"
            "def ema(avg, weights, n):  # the trials' moving average, n = step - 1\n"
            f"    decay = min({ema_decay:g}, (2 + n) / (11 + n))\n"
            "    return decay * avg + (1 - decay) * weights\n\n"
            "average = AveragedModel(model, avg_fn=ema, use_buffers=True)  # validate and keep `average`\n"
        )
    pytorch = (
        header + "import torch\n"
        "from lossadvisor.losses import build_loss\n"
        + average
        + "\n"
        f"loss_fn = {call}\n"
        f"optimizer = torch.optim.AdamW(model.parameters(), lr={lr:.3g}, weight_decay=1e-4)\n\n"
        "for images, masks in train_loader:  # masks: int64 class indices (N, H, W)\n"
        "    optimizer.zero_grad()\n"
        "    loss = loss_fn(model(images), masks)  # logits (N, C, H, W); C == 1 for binary (sigmoid)\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
        + ("    average.update_parameters(model)\n" if ema_decay is not None else "")
    )
    fastai = (
        header
        + _comment(
            "Not validated: the pretrained resnet34 encoder and the one-cycle schedule below are fastai's "
            "usual recipe, not what the trials ran; lr_max starts from the tested rate."
        )
        + "from fastai.vision.all import *\n"
        "from lossadvisor.losses import build_loss\n\n"
        f"loss_fn = {call}\n\n"
        "def loss_func(logits, masks):\n"
        "    return loss_fn(logits, masks.long())  # fastai's TensorMask -> int64 class indices\n\n"
        f"learn = unet_learner(dls, resnet34, n_out={n_out}, loss_func=loss_func)\n"
        f"learn.fit_one_cycle({epochs_hint}, lr_max={lr:.3g})\n"
    )
    return {"pytorch": pytorch, "fastai": fastai}


def write_samples(
    path: Path,
    *,
    images: np.ndarray,
    masks: np.ndarray,
    predictions: dict[str, np.ndarray],
    labels: dict[str, str],
    captions: list[str] | None = None,
) -> Path:
    """samples.npz: validation tiles, their masks and the predictions of a few configurations.

    ``captions`` name each row (volumes: the case, the slice and the lesion it passes through).
    """
    arrays = {f"pred__{cid}": pred for cid, pred in predictions.items()}
    if captions is not None:
        arrays["captions"] = np.array(json.dumps(captions))
    return write_npz(
        path, images=images, masks=masks, labels=np.array(json.dumps(labels)),
        schema_version=np.array(runfolder.SAMPLES_VERSION), **arrays,
    )  # fmt: skip
