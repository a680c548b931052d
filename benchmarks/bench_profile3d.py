"""How fast ``lossadvisor profile`` is on 3-D NIfTI label volumes, next to its floor and MONAI's DataAnalyzer.

On the MSD hippocampus volumes (msd-hippocampus, 100 cases, from the folder named by LOSSADVISOR_DATA or
``--data DIR``; else the bundled 20 of ``examples/hippocampus``), one run measures, side by side:

- the floor: decompressing and decoding every label volume with nibabel plus one cc3d labelling pass per
  foreground class (26-connectivity), the least any 3-D profiler must do (one core);
- ``profile_masks`` with 1 worker and with 2 workers;
- MONAI Auto3DSeg's ``DataAnalyzer`` (``do_ccp=True``: connected components too) on CPU in one process, on a
  datalist of the same cases. It also reads the images (intensity statistics), which the profile does not:
  both are timed as a user runs them;
- ``cc3d.connected_components`` against ``scipy.ndimage.label`` (26-connectivity) on the same volumes, with
  the object counts compared;
- the peak memory of one fresh profile worker on a large label volume (the hippocampus labels tiled into a
  CT-sized volume), as a multiple of the decoded volume; target at most 3x.

Usage: ``python -m benchmarks profile3d [--quick] [--repeat N] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks._data_root import add_data_option, missing_note, real_set

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hippocampus"
TARGET_MEMORY_MULTIPLE = 3.0
# The large volume for the memory probe: the first label tiled (D, H, W) times; 8 x 10 x 7 gives about
# 280 x 510 x 245 voxels (35 M, a CT's size), --quick 3 x 3 x 3.
TILES = (8, 10, 7)
QUICK_TILES = (3, 3, 3)
QUICK_CASES = 10


def dataset(data: Path | None = None) -> tuple[str, Path]:
    """The real msd-hippocampus set when the data folder has it, else the bundled 20 cases."""
    folder = real_set("msd-hippocampus", data)
    if folder is not None:
        return "msd-hippocampus", folder
    print(missing_note("msd-hippocampus", data, instead="the bundled examples/hippocampus"))
    return "examples/hippocampus", EXAMPLE


def floor(files: list[Path]) -> int:
    """Decode every label volume and label each foreground class once with cc3d; return the object count."""
    import cc3d
    import nibabel

    objects = 0
    for path in files:
        labels = np.asanyarray(nibabel.load(path).dataobj)
        for value in np.unique(labels):
            if value:
                objects += cc3d.connected_components(labels == value, connectivity=26, return_N=True)[1]
    return objects


def data_analyzer(folder: Path, cases: list[str], out: Path) -> float:
    """Run MONAI's DataAnalyzer (CPU, one process, connected components on); return the seconds."""
    import torch
    from monai.apps.auto3dseg import DataAnalyzer

    torch.set_num_threads(1)
    datalist = {"training": [{"image": f"images/{c}", "label": f"labels/{c}", "fold": 0} for c in cases]}
    analyzer = DataAnalyzer(
        datalist, dataroot=str(folder), output_path=str(out / "datastats.yaml"), device="cpu", worker=0,
        do_ccp=True,
    )  # fmt: skip
    start = time.perf_counter()
    analyzer.get_all_case_stats()
    return time.perf_counter() - start


def timed(func: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def labellers(files: list[Path], repeat: int) -> tuple[float, float, int, int]:
    """cc3d and scipy.ndimage.label (26-connectivity) on the same decoded class masks: seconds and counts."""
    import cc3d
    import nibabel
    from scipy import ndimage

    masks = []
    for path in files:
        labels = np.asanyarray(nibabel.load(path).dataobj)
        masks += [np.ascontiguousarray(labels == v) for v in np.unique(labels) if v]
    cube = np.ones((3, 3, 3), dtype=bool)
    counts = {"cc3d": 0, "scipy": 0}

    def run_cc3d():
        counts["cc3d"] = sum(cc3d.connected_components(m, connectivity=26, return_N=True)[1] for m in masks)

    def run_scipy():
        counts["scipy"] = sum(ndimage.label(m, structure=cube)[1] for m in masks)

    return timed(run_cc3d, repeat), timed(run_scipy, repeat), counts["cc3d"], counts["scipy"]


_MEMORY_PROBE = """
import gc, json, sys
from pathlib import Path
from lossadvisor.profile import profile_masks

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

small, large = sys.argv[1], sys.argv[2]
profile_masks(small, workers=1, progress=False)  # imports and first-call allocations
gc.collect()
Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
base = status("VmRSS")
profile_masks(large, workers=1, progress=False)
print(json.dumps({"extra": status("VmHWM") - base}))
"""


def large_volume(first_label: Path, tiles: tuple[int, int, int], folder: Path) -> tuple[Path, int, tuple]:
    """The first label tiled into a large volume (same header zooms), saved as .nii.gz; returns its folder,
    its decoded size in bytes and its shape."""
    import nibabel

    img = nibabel.load(first_label)
    data = np.asanyarray(img.dataobj)
    big = np.tile(data, tiles[::-1])  # nibabel axes (i, j, k) = (W, H, D)
    folder.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(big, img.affine, img.header), folder / "large.nii.gz")
    return folder, int(big.nbytes), big.shape[::-1]


def memory_multiple(small: Path, large: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(small), str(large)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["extra"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks profile3d", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CASES} cases, a smaller memory volume")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs for each timing (default 3)")
    add_data_option(parser)
    args = parser.parse_args(argv)
    import nibabel

    from lossadvisor.profile import profile_masks

    name, folder = dataset(args.data)
    files = sorted((folder / "labels").glob("*.nii.gz"))
    if args.quick:
        files = files[:QUICK_CASES]
    repeat = 1 if args.quick else args.repeat
    with tempfile.TemporaryDirectory() as tmp:
        labels = Path(tmp) / "labels"
        labels.mkdir()
        for f in files:  # the same cases for every contender
            (labels / f.name).symlink_to(f.resolve())
        voxels = sum(int(np.prod(nibabel.load(f).shape[:3])) for f in files)
        floor(files[:2])  # warm: lazy imports, first-call allocations
        profile_masks(labels, workers=1, progress=False)
        rows: list[tuple[str, float]] = [
            ("floor: nibabel decode + cc3d per class (1 core)", timed(lambda: floor(files), repeat))
        ]
        rows.append(
            (
                "profile_masks, 1 worker",
                timed(lambda: profile_masks(labels, workers=1, progress=False), repeat),
            )
        )
        rows.append(
            (
                "profile_masks, 2 workers",
                timed(lambda: profile_masks(labels, workers=2, progress=False), repeat),
            )
        )
        try:
            seconds = data_analyzer(folder, [f.name for f in files], Path(tmp))
            rows.append(("MONAI DataAnalyzer, CPU, do_ccp (images + labels)", seconds))
        except Exception as exc:  # report why, and go on with what can be measured
            print(f"  MONAI DataAnalyzer could not run: {type(exc).__name__}: {exc}")
        print(f"{name}: {len(files)} label volumes, {voxels / 1e6:.2f} M voxels, best of {repeat}")
        base = rows[0][1]
        profile_one = rows[1][1]
        print(f"  {'contender':<52}{'s':>8}{'volumes/s':>11}{'Mvox/s':>9}{'x floor':>9}{'x profile':>10}")
        for label, seconds in rows:
            print(
                f"  {label:<52}{seconds:>8.2f}{len(files) / seconds:>11.1f}{voxels / seconds / 1e6:>9.2f}"
                f"{seconds / base:>9.2f}{seconds / profile_one:>10.2f}"
            )
        t_cc3d, t_scipy, n_cc3d, n_scipy = labellers(files, repeat)
        print(
            f"  cc3d vs scipy.ndimage.label (26-connectivity, {len(files)} volumes x classes): "
            f"cc3d {t_cc3d * 1e3:.0f} ms, scipy {t_scipy * 1e3:.0f} ms ({t_scipy / t_cc3d:.1f}x), objects "
            f"{n_cc3d} vs {n_scipy} ({'equal' if n_cc3d == n_scipy else 'DIFFER'})"
        )
        big_folder, decoded, shape = large_volume(
            files[0], QUICK_TILES if args.quick else TILES, Path(tmp) / "big"
        )
        big_files = [big_folder / "large.nii.gz"]
        start = time.perf_counter()
        floor(big_files)
        t_big_floor = time.perf_counter() - start
        start = time.perf_counter()
        profile_masks(big_folder, workers=1, progress=False)
        t_big = time.perf_counter() - start
        t_big_cc3d, t_big_scipy, _, _ = labellers(big_files, 1)
        extra = memory_multiple(labels, big_folder)
        multiple = extra / decoded
        ok = multiple <= TARGET_MEMORY_MULTIPLE
        print(
            f"  large volume {' x '.join(map(str, shape))} ({decoded / 2**20:.0f} MiB decoded uint8): "
            f"profile {t_big:.2f} s vs floor {t_big_floor:.2f} s ({t_big / t_big_floor:.2f}x); "
            f"cc3d {t_big_cc3d:.2f} s vs scipy {t_big_scipy:.2f} s ({t_big_scipy / t_big_cc3d:.1f}x)"
        )
        print(
            f"  peak memory of one worker: {extra / 2**20:.0f} MiB above its baseline = {multiple:.2f}x the "
            f"decoded volume (target <= {TARGET_MEMORY_MULTIPLE:g}x: {'meets' if ok else 'MISSES'} target)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
