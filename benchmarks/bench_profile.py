"""How fast ``lossadvisor profile`` is, next to its floor and to the loop a user would otherwise write.

On the same generated footprint-like masks (200 at 1024x1024 and 10 at 5000x5000 by default), one run
measures:

- the floor: decoding every mask with Pillow plus one connected-component pass with OpenCV's BBDT labeller,
  the least any profiler must do (one core);
- ``profile_masks`` with 1 worker, 2 workers and all cores;
- the scikit-image loop a user would write (``io.imread``, ``measure.label``, ``regionprops``) on one core,
  once computing the same statistics as the profile (pixel counts, areas, equivalent diameters, boundary
  pixels: the comparison the target is about) and once with areas only (the least such a loop can do);
- the peak memory of one worker profiling the largest masks, as a multiple of one decoded mask.

Targets: 1 worker at most 1.5x the floor's time; 2 workers at least 1.7x faster than 1; at least 3x faster
than the scikit-image loop. Usage: ``python -m benchmarks profile [--quick] [--data-dir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

DEFAULT_DATA_ROOT = Path(__file__).resolve().parent / "_out" / "profile-data"  # git-ignored
FULL = {"n_small": 200, "small": 1024, "n_large": 10, "large": 5000}
QUICK = {"n_small": 24, "small": 512, "n_large": 2, "large": 2000}
# Footprint-like: rotated rectangles with sides of 6-50 px (buildings at ~0.3 m/px) covering ~15 % of a tile,
# and one tile in ten empty, as in aerial building sets.
FOREGROUND_SHARE = 0.15
SIDE_RANGE_PX = (6, 50)
EMPTY_TILE_SHARE = 0.1
FLOOR = "floor: Pillow decode + cv2 BBDT (1 core)"
SKIMAGE = "scikit-image, same statistics (1 core)"
SKIMAGE_MIN = "scikit-image, areas only (1 core)"
TARGET_FLOOR_RATIO = 1.5
TARGET_TWO_WORKER_SPEEDUP = 1.7
TARGET_SKIMAGE_SPEEDUP = 3.0


def footprint_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """A 0/255 uint8 tile of rotated rectangles (building footprints)."""
    mask = np.zeros((size, size), dtype=np.uint8)
    if rng.random() < EMPTY_TILE_SHARE:
        return mask
    low, high = SIDE_RANGE_PX
    mean_area = ((low + high) / 2) ** 2
    polygons = []
    for _ in range(int(size * size * FOREGROUND_SHARE / mean_area)):
        centre = (float(rng.uniform(0, size)), float(rng.uniform(0, size)))
        sides = (float(rng.uniform(low, high)), float(rng.uniform(low, high)))
        box = cv2.boxPoints((centre, sides, float(rng.uniform(0, 90))))
        polygons.append(np.round(box).astype(np.int32))
    cv2.fillPoly(mask, polygons, 255)
    return mask


def generate(folder: Path, spec: dict[str, int], seed: int = 2024) -> list[Path]:
    """Write the masks once; a later run with the same sizes reuses them."""
    marker = folder / "complete.json"
    if marker.is_file() and json.loads(marker.read_text()) == spec:
        return sorted(folder.glob("*.png"))
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    rng = np.random.default_rng(seed)
    for kind, count, size in (("s", spec["n_small"], spec["small"]), ("l", spec["n_large"], spec["large"])):
        for i in range(count):
            cv2.imwrite(str(folder / f"{kind}{size}_{i:03d}.png"), footprint_mask(rng, size))
    marker.write_text(json.dumps(spec))
    return sorted(folder.glob("*.png"))


def floor(files: list[Path]) -> None:
    """Pillow decode + one BBDT connected-component pass per file, one core."""
    from PIL import Image

    for path in files:
        with Image.open(path) as image:
            array = np.asarray(image)
        cv2.connectedComponentsWithStatsWithAlgorithm(array, 8, cv2.CV_32S, cv2.CCL_BBDT)


def skimage_same_statistics(files: list[Path]) -> None:
    """The scikit-image loop a user would write to get what the profile reports: class pixel counts, objects
    (8-connectivity) with area and equivalent diameter, and boundary pixels."""
    from skimage import io, measure, segmentation

    for path in files:
        image = io.imread(path)
        np.unique(image, return_counts=True)
        labels = measure.label(image > 0, connectivity=2)
        [(region.area, region.equivalent_diameter_area) for region in measure.regionprops(labels)]
        np.count_nonzero(segmentation.find_boundaries(labels, connectivity=1, mode="inner"))


def skimage_minimal(files: list[Path]) -> None:
    """The least a scikit-image loop can do: read, label, regionprops areas (no boundary, no pixel counts)."""
    from skimage import io, measure

    for path in files:
        image = io.imread(path)
        labels = measure.label(image > 0, connectivity=2)
        [region.area for region in measure.regionprops(labels)]


def timed(func: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


_MEMORY_PROBE = """
import gc, json, resource, sys
from pathlib import Path
from lossadvisor.profile import profile_masks

def status(key):  # Linux: resident set now (VmRSS) or its high-water mark (VmHWM), in bytes
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

small, large = sys.argv[1], sys.argv[2:]
profile_masks(small, workers=1, progress=False)  # imports and first-call allocations
gc.collect()
try:
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    base, precise = status("VmRSS"), True
except OSError:
    base, precise = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, False
for path in large:
    profile_masks(path, workers=1, progress=False)
peak = status("VmHWM") if precise else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"extra": peak - base, "precise": precise}))
"""


def worker_memory(files: list[Path]) -> tuple[float, float, bool]:
    """Peak extra memory (bytes) of one worker profiling the largest masks, one decoded mask's bytes, and
    whether the figure is exact (Linux VmHWM reset) or an upper-bound estimate (ru_maxrss)."""
    big = [p for p in files if p.name.startswith("l")] or [max(files)]
    small = next(p for p in files if p.name.startswith("s"))
    decoded = max(cv2.imread(str(p), cv2.IMREAD_UNCHANGED).nbytes for p in big)
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(small), *map(str, big)],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return float(data["extra"]), float(decoded), bool(data["precise"])


def _warm(files: list[Path], func: Callable[[list[Path]], object]) -> None:
    """Run once on two small files so that no contender pays first-call costs (lazy imports, allocators)."""
    func(files[:2])


def _verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def main(argv: list[str] | None = None) -> int:
    # no abbreviations: the runner passes every benchmark the others' options, and `--data` (the real
    # datasets' folder) must not be read as `--data-dir` (where this benchmark writes its masks)
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks profile", description=__doc__.splitlines()[0], allow_abbrev=False
    )
    parser.add_argument("--quick", action="store_true", help=f"small set: {QUICK}")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help=f"where masks go [default: {DEFAULT_DATA_ROOT}]"
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="best of N timings per contender [default 3; 1 with --quick]"
    )
    parser.add_argument("--skip-skimage", action="store_true", help="leave out the (slow) scikit-image loops")
    for key, value in FULL.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=None, help=f"[default {value}]")
    args, _ = parser.parse_known_args(argv)
    if args.repeat is None:  # best of 3 damps the noise of a shared 2-core machine; --quick only checks
        args.repeat = 1 if args.quick else 3
    from lossadvisor.profile import profile_masks
    from lossadvisor.profile._parallel import available_cores

    spec = dict(QUICK if args.quick else FULL)
    spec.update({k: getattr(args, k) for k in FULL if getattr(args, k) is not None})
    tag = "-".join(str(spec[k]) for k in FULL)
    folder = args.data_dir or DEFAULT_DATA_ROOT / tag
    start = time.perf_counter()
    files = generate(folder, spec)
    mpix = sum(cv2.imread(str(p), cv2.IMREAD_UNCHANGED).size for p in files) / 1e6
    print(
        f"data: {len(files)} masks ({spec['n_small']} x {spec['small']}^2, {spec['n_large']} x "
        f"{spec['large']}^2), {mpix:,.0f} MPix, in {folder} (ready in {time.perf_counter() - start:.1f} s)"
    )
    for path in files:  # warm the page cache so no contender pays the first disk read
        path.read_bytes()
    cores = available_cores()
    cv2.setNumThreads(1)
    _warm(files, floor)
    rows: list[tuple[str, float]] = [(FLOOR, timed(lambda: floor(files), args.repeat))]
    _warm(files, lambda some: [profile_masks(p, workers=1, progress=False) for p in some])
    for workers in sorted({1, 2, cores}):
        seconds = timed(lambda w=workers: profile_masks(folder, workers=w, progress=False), args.repeat)
        rows.append((f"lossadvisor profile, {workers} worker{'s' * (workers > 1)}", seconds))
    if not args.skip_skimage:
        for name, loop in ((SKIMAGE, skimage_same_statistics), (SKIMAGE_MIN, skimage_minimal)):
            _warm(files, loop)
            rows.append((name, timed(lambda f=loop: f(files), args.repeat)))
    times = dict(rows)
    print(f"\n{'contender':<44}{'seconds':>9}{'MPix/s':>9}")
    for name, seconds in rows:
        print(f"{name:<44}{seconds:>9.2f}{mpix / seconds:>9.1f}")
    one = times["lossadvisor profile, 1 worker"]
    ratio_floor = one / times[FLOOR]
    print(
        f"\n1 worker / floor time:       {ratio_floor:5.2f}x  (target <= {TARGET_FLOOR_RATIO}x: "
        f"{_verdict(ratio_floor <= TARGET_FLOOR_RATIO)})"
    )
    if "lossadvisor profile, 2 workers" in times:
        speedup = one / times["lossadvisor profile, 2 workers"]
        print(
            f"2 workers speed-up over 1:   {speedup:5.2f}x  (target >= {TARGET_TWO_WORKER_SPEEDUP}x: "
            f"{_verdict(speedup >= TARGET_TWO_WORKER_SPEEDUP)}; {cores} cores available)"
        )
    if SKIMAGE in times:
        vs_sk = times[SKIMAGE] / one
        print(
            f"1 worker vs scikit-image:    {vs_sk:5.2f}x faster  (same statistics; target >= "
            f"{TARGET_SKIMAGE_SPEEDUP}x: {_verdict(vs_sk >= TARGET_SKIMAGE_SPEEDUP)})"
        )
        print(
            f"1 worker vs minimal skimage: {times[SKIMAGE_MIN] / one:5.2f}x faster  (areas only; reference)"
        )
    extra, decoded, precise = worker_memory(files)
    print(
        f"peak memory of one worker:   {extra / 2**20:,.0f} MiB above its baseline = {extra / decoded:.1f}x "
        f"one decoded {spec['large']}x{spec['large']} mask ({decoded / 2**20:,.0f} MiB)"
        + ("" if precise else " [upper bound: ru_maxrss]")
    )
    if os.environ.get("CI"):
        print("(CI machine: figures are indicative only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
