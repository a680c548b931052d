"""Peak memory of one profile worker on one very large mask, as a multiple of the decoded mask.

A 20000x20000 aerial or slide mask is 400 MPix: 0.4 GB decoded at one byte per pixel. Read in one piece,
OpenCV's int32 label image alone is four times that, and Pillow's array copy adds two more. The profiler
labels and erodes such masks in row bands (joining objects across band borders) and copies them out of Pillow
in bands; this benchmark measures the peak resident memory of a fresh worker process that measures one mask,
beside the same code with banding switched off (the one-pass reference), on:

- a binary 0/255 mask of footprint-like objects (tiled, so thousands of objects cross band borders);
- a 3-class label mask (values 0/1/2), whose per-class 0/1 image adds one more mask-sized buffer;
- the same 3 classes as an RGB colour mask read with a class map (decoded: 3 bytes per pixel; its colours
  are looked up in row bands, and the multiple is taken of the decoded RGB mask).

Target: at most 3x one decoded mask. Usage: ``python -m benchmarks large_mask [--quick] [--side N]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from benchmarks.bench_profile import footprint_mask

OUT = Path(__file__).resolve().parent / "_out" / "large-mask"  # git-ignored
FULL_SIDE = 20000
QUICK_SIDE = 6000
TILE = 2000
TARGET_MULTIPLE = 3.0
REFERENCE_MULTIPLE = 13  # about what the one-pass reference needs on a colour mask (measured: 12x)


def available_memory() -> int:
    """Bytes the system can still give (Linux MemAvailable; elsewhere assume plenty)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 50


_PROBE = """
import gc, json, resource, sys
from pathlib import Path
import lossadvisor.io._decode as decode
import lossadvisor.profile._image as image
from lossadvisor.profile._image import MeasureSettings, measure_image

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

path, banded = Path(sys.argv[1]), sys.argv[2] == "banded"
from lossadvisor.io import ClassMap
import lossadvisor.io._labels as labels
cmap = None
if path.name.startswith("rgb"):
    cmap = ClassMap.from_mapping({"background": [0, 0, 0], "building": [255, 0, 0], "road": [0, 0, 255]})
if not banded:  # the one-pass reference: whole-image Pillow copy, int32 labels and erosion of the full mask
    decode._BAND_PIXELS = image.BAND_PIXELS = labels._MAP_BAND_PIXELS = 1 << 62
settings = MeasureSettings(class_map=cmap, ignore_index=None, connectivity=8, max_pixels=None)
gc.collect()
try:
    Path("/proc/self/clear_refs").write_text("5")
    base, precise = status("VmRSS"), True
except OSError:
    base, precise = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, False
stats = measure_image(path, settings)
peak = status("VmHWM") if precise else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
objects = sum(int(a.size) for a in stats.object_areas.values())
result = {"extra": peak - base, "precise": precise, "objects": objects, "skipped": stats.skipped_reason}
print(json.dumps(result))
"""


def make_masks(side: int) -> dict[str, Path]:
    """Write (once) the binary and the 3-class mask of ``side`` x ``side`` pixels."""
    OUT.mkdir(parents=True, exist_ok=True)
    paths = {
        "binary 0/255": OUT / f"binary_{side}.png",
        "3 classes": OUT / f"classes_{side}.png",
        "RGB + map": OUT / f"rgb_{side}.png",
    }
    if all(p.is_file() for p in paths.values()):
        return paths
    rng = np.random.default_rng(0)
    tile = footprint_mask(rng, TILE)
    reps = -(-side // TILE)
    binary = np.tile(tile, (reps, reps))[:side, :side]
    cv2.imwrite(str(paths["binary 0/255"]), binary)
    classes = (binary > 0).astype(np.uint8)
    classes[: side // 2][classes[: side // 2] > 0] = 2  # the top half's objects are class 2
    cv2.imwrite(str(paths["3 classes"]), classes)
    rgb = np.zeros((side, side, 3), np.uint8)  # OpenCV writes BGR: red is channel 2
    rgb[classes == 1, 2] = 255
    rgb[classes == 2, 0] = 255
    del classes, binary
    cv2.imwrite(str(paths["RGB + map"]), rgb)
    return paths


def probe(path: Path, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), mode], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks large_mask")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIDE}x{QUICK_SIDE} instead")
    parser.add_argument("--side", type=int, default=None, help=f"mask side [default {FULL_SIDE}]")
    args, _ = parser.parse_known_args(argv)
    side = args.side or (QUICK_SIDE if args.quick else FULL_SIDE)
    print(f"{side}x{side} masks; peak memory above a fresh worker's, as a multiple of the decoded mask")
    print(f"{'mask':<14} {'banded (lossadvisor)':>22} {'one pass (reference)':>22} {'objects':>9}")
    worst = 0.0
    for name, path in make_masks(side).items():
        decoded = side * side * (3 if name.startswith("RGB") else 1)  # bytes: uint8 grey or RGB
        banded = probe(path, "banded")
        # The one-pass reference of a colour mask needs about 12x it; run it only when that fits with room.
        whole = probe(path, "whole") if REFERENCE_MULTIPLE * decoded < available_memory() / 2 else None
        if banded["skipped"] or (whole is not None and banded["objects"] != whole["objects"]):
            print(f"{name}: results differ or skipped: {banded} vs {whole}")
            return 1
        worst = max(worst, banded["extra"] / decoded)
        mark = "" if banded["precise"] else " [upper bound: ru_maxrss]"
        reference = (
            f"{whole['extra'] / 2**20:>10,.0f} MiB = {whole['extra'] / decoded:>4.2f}x"
            if whole is not None
            else f"{'(not run: too big)':>22}"
        )
        print(
            f"{name:<14} {banded['extra'] / 2**20:>10,.0f} MiB = {banded['extra'] / decoded:>4.2f}x"
            f" {reference} {banded['objects']:>9,}{mark}"
        )
    ok = worst <= TARGET_MULTIPLE
    print(
        f"worst: {worst:.2f}x one decoded mask (target <= {TARGET_MULTIPLE:g}x): "
        + ("meets target" if ok else "MISSES target")
    )
    return 0 if ok else 1
