"""Memory of training: the step estimate against the measured peak, and tune's peak against the decoded data.

1. ``step``: for three tile sides, ``tune``'s estimate of one forward/backward/AdamW step
   (:func:`lossadvisor.tune.training.estimate_step_memory`, a 64 px probe scaled by area and batch) beside the
   measured peak of that step in a fresh process (``ru_maxrss`` after the step minus the resident memory
   before it). Target: the estimate within 0.7x-2x of the measured peak, never far below it.
2. ``tune``: the peak resident memory of a whole ``tune`` run (fresh process, ``ru_maxrss``) on large RGB
   tiles (generated: 40 tiles of 1500 x 1500 by default), trained at 128 px, as a multiple of the decoded
   images (H x W x 3 bytes each). The decoded data is kept at the training size only, so the multiple stays
   small and does not grow with the raw tiles.

Usage: ``python -m benchmarks memory [--quick] [--sides 128 256 384] [--tiles 40 --tile-side 1500]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MIB = 2**20

_STEP = """
import json, resource, sys, torch
torch.set_num_threads(1)
from lossadvisor.tune.training import estimate_step_memory, resolve_model
side, batch = int(sys.argv[1]), int(sys.argv[2])
spec = resolve_model("compact")
est = estimate_step_memory(spec.factory, in_channels=3, out_channels=1, side=side, batch=batch)
model = spec.factory(3, 1)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
x = torch.randn(batch, 3, side, side)
y = (torch.rand(batch, 1, side, side) > 0.5).float()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
before = rss()
base_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
loss.backward()
opt.step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"side": side, "batch": batch, "estimate": est.peak, "measured": peak - before,
                  "base_max_over_rss": base_max - before}))
"""

_TUNE = """
import json, resource, sys, torch
from lossadvisor.tune import tune
data, out = sys.argv[1], sys.argv[2]
tune(data + "/images", data + "/masks", out=out, size=128, epochs=1, steps_per_epoch=2, batch_size=4,
     n_trials=1, seeds=1, folds=2, finalists=2, threads=1, progress=False, report=False)
print(json.dumps({"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def step_memory(sides: list[int], batch: int) -> list[dict]:
    rows = []
    for side in sides:
        done = subprocess.run(
            [sys.executable, "-c", _STEP, str(side), str(batch)], capture_output=True, text=True, check=True
        )
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["ratio"] = row["estimate"] / row["measured"]
        rows.append(row)
        print(
            f"side {side:4d} batch {batch}: estimate {row['estimate'] / MIB:8.0f} MiB, measured peak "
            f"{row['measured'] / MIB:8.0f} MiB, estimate/measured {row['ratio']:.2f}",
            flush=True,
        )
    return rows


def make_tiles(root: Path, *, n: int, side: int, seed: int = 0) -> int:
    """``n`` RGB tiles of ``side`` px with 0/255 masks; returns the decoded image bytes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        mask = np.zeros((side, side), np.uint8)
        for _ in range(20):
            s = int(rng.integers(side // 40, side // 8))
            y, x = (int(v) for v in rng.integers(0, side - s, size=2))
            mask[y : y + s, x : x + s] = 255
        image = rng.integers(0, 90, size=(side, side, 3), dtype=np.uint8)
        image[mask > 0] += 120
        Image.fromarray(image).save(root / "images" / f"t{i:03d}.png", compress_level=1)
        Image.fromarray(mask).save(root / "masks" / f"t{i:03d}.png")
    return n * side * side * 3


def tune_memory(n: int, side: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        decoded = make_tiles(root / "data", n=n, side=side)
        done = subprocess.run(
            [sys.executable, "-c", _TUNE, str(root / "data"), str(root / "run")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        peak = json.loads(done.stdout.strip().splitlines()[-1])["peak"]
    row = {"tiles": n, "side": side, "decoded": decoded, "peak": peak, "multiple": peak / decoded}
    print(
        f"tune on {n} RGB tiles of {side} px ({decoded / MIB:.0f} MiB decoded), trained at 128 px: peak "
        f"{peak / MIB:.0f} MiB resident = {row['multiple']:.2f}x the decoded images",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks memory", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sides", type=int, nargs="+", default=[128, 256, 384])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tiles", type=int, default=40)
    parser.add_argument("--tile-side", type=int, default=1500)
    parser.add_argument("--skip-tune", action="store_true")
    args, _ = parser.parse_known_args(argv)
    sides, tiles, tile_side = args.sides, args.tiles, args.tile_side
    if args.quick:
        sides, tiles, tile_side = [64, 96, 128], 8, 400
    rows = step_memory(sides, args.batch)
    worst = max(abs(np.log(r["ratio"])) for r in rows)
    ok = all(0.7 <= r["ratio"] <= 2.0 for r in rows)
    print(f"estimate/measured within [0.7, 2]: {'yes' if ok else 'NO'} (worst factor {np.exp(worst):.2f})")
    if not args.skip_tune:
        tune_memory(tiles, tile_side)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
