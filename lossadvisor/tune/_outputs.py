"""Write the tuner's files of a run folder (contracts in docs/ARCHITECTURE.md): trials.csv, epochs.csv,
stability.csv, result.json, samples.npz. All of them are rebuilt from the study, so they are always complete
for what the storage holds, also after a resume.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from lossadvisor._atomic import write_csv, write_npz

TRIAL_COLUMNS = (
    "number",
    "state",
    "loss",
    "lr",
    "mix",
    "params",
    "value",
    "val_iou",
    "val_dice",
    "best_epoch",
    "epochs_run",
    "collapsed",
    "collapse_kind",
    "grad_norm_max",
    "grad_spikes",
    "nonfinite",
    "duration_s",
    "fail_reason",
)
EPOCH_COLUMNS = (
    "phase",
    "run_id",
    "trial",
    "loss",
    "epoch",
    "train_loss",
    "val_iou",
    "val_dice",
    "pred_fg_share",
    "true_fg_share",
    "collapse",
    "grad_norm_mean",
    "grad_norm_max",
    "grad_spikes",
    "nonfinite",
    "seconds",
)
STABILITY_COLUMNS = (
    "config_id",
    "label",
    "source",
    "loss",
    "lr",
    "params",
    "seed",
    "val_iou",
    "val_dice",
    "collapsed",
    "collapse_kind",
    "failed",
    "fail_reason",
    "recall_tiny",
    "recall_small",
    "recall_medium",
    "recall_large",
    "duration_s",
)
RECALL_BUCKETS = ("tiny", "small", "medium", "large")


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> Path:
    return write_csv(path, columns, ({c: _cell(row.get(c)) for c in columns} for row in rows))


def trial_rows(study) -> list[dict]:
    """One row per Optuna trial (WAITING ones, not yet started, are left out)."""
    from optuna.trial import TrialState

    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.WAITING:
            continue
        s = t.user_attrs.get("summary", {})
        params = t.user_attrs.get("params", {})
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "loss": t.params.get("loss"),
                "lr": t.user_attrs.get("lr"),
                "mix": params.get("mix"),
                "params": params,
                "value": t.value
                if t.state == TrialState.COMPLETE
                else (max(t.intermediate_values.values()) if t.intermediate_values else None),
                "val_iou": s.get("val_iou"),
                "val_dice": s.get("val_dice"),
                "best_epoch": s.get("best_epoch"),
                "epochs_run": s.get("epochs_run", 0),
                "collapsed": s.get("collapse_kind", "none") != "none" if s else "",
                "collapse_kind": s.get("collapse_kind", ""),
                "grad_norm_max": s.get("grad_norm_max"),
                "grad_spikes": s.get("grad_spikes"),
                "nonfinite": s.get("nonfinite"),
                "duration_s": s.get("duration_s"),
                "fail_reason": t.user_attrs.get("fail_reason", ""),
            }
        )
    return rows


def epoch_rows(study, stability_records: list[dict]) -> list[dict]:
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
    for r in stability_records:
        for e in r.get("epochs", []):
            rows.append(
                {
                    "phase": "stability",
                    "run_id": f"{r['config_id']}_s{r['seed']}",
                    "trial": r.get("reused_trial"),
                    "loss": r["loss"],
                    **e,
                }
            )
    return rows


def stability_rows(records: list[dict]) -> list[dict]:
    rows = []
    for r in records:
        recall = r.get("object_recall") or {}
        rows.append(
            {
                **r,
                "collapsed": r["failed"] or r["collapse_kind"] != "none",
                **{f"recall_{b}": recall.get(b) for b in RECALL_BUCKETS},
            }
        )
    return rows


def write_tables(run_dir: Path, study, stability_records: list[dict]) -> None:
    """trials.csv, epochs.csv and stability.csv from the study and the stability records."""
    _write_csv(run_dir / "trials.csv", TRIAL_COLUMNS, trial_rows(study))
    _write_csv(run_dir / "epochs.csv", EPOCH_COLUMNS, epoch_rows(study, stability_records))
    _write_csv(run_dir / "stability.csv", STABILITY_COLUMNS, stability_rows(stability_records))


def object_recall_by_config(records: list[dict]) -> dict[str, dict[str, float | None]]:
    """Mean recall per size bucket over the seeds of each configuration."""
    out: dict[str, dict[str, float | None]] = {}
    for cid in dict.fromkeys(r["config_id"] for r in records):
        runs = [r.get("object_recall") or {} for r in records if r["config_id"] == cid and not r["failed"]]
        out[cid] = {}
        for b in RECALL_BUCKETS:
            values = [run[b] for run in runs if run.get(b) is not None]
            out[cid][b] = float(np.mean(values)) if values else None
    return out


def _kwargs(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items() if v is not None)


def snippets(loss: str, params: dict, lr: float, *, num_classes: int, epochs_hint: int) -> dict[str, str]:
    """Copy-paste code for plain PyTorch and for fastai with the recommended loss and learning rate."""
    n_out = 1 if num_classes <= 2 else num_classes  # binary: one sigmoid channel
    call = f'build_loss("{loss}"' + (f", {_kwargs(params)}" if _kwargs(params) else "") + ")"
    pytorch = (
        "import torch\n"
        "from lossadvisor.losses import build_loss\n\n"
        f"loss_fn = {call}\n"
        f"optimizer = torch.optim.AdamW(model.parameters(), lr={lr:.3g}, weight_decay=1e-4)\n\n"
        "for images, masks in train_loader:  # masks: int64 class indices (N, H, W)\n"
        "    optimizer.zero_grad()\n"
        "    loss = loss_fn(model(images), masks)  # logits (N, C, H, W); C == 1 for binary (sigmoid)\n"
        "    loss.backward()\n"
        "    optimizer.step()\n"
    )
    fastai = (
        "from fastai.vision.all import *\n"
        "from lossadvisor.losses import build_loss\n\n"
        f"loss_fn = {call}\n\n"
        "def loss_func(logits, masks):\n"
        "    return loss_fn(logits, masks.long())  # fastai's TensorMask -> int64 class indices\n\n"
        f"learn = unet_learner(dls, resnet34, n_out={n_out}, loss_func=loss_func)\n"
        f"learn.fit_one_cycle({epochs_hint}, lr_max={lr:.3g})  # validated over seeds\n"
    )
    return {"pytorch": pytorch, "fastai": fastai}


def write_samples(
    path: Path,
    *,
    images: np.ndarray,
    masks: np.ndarray,
    predictions: dict[str, np.ndarray],
    labels: dict[str, str],
) -> Path:
    """samples.npz: validation tiles, their masks and the predictions of a few configurations."""
    arrays = {f"pred__{cid}": pred for cid, pred in predictions.items()}
    return write_npz(path, images=images, masks=masks, labels=np.array(json.dumps(labels)), **arrays)
