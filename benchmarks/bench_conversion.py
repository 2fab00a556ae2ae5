"""Benchmark of the precomputed conversion (lib/precomputed) on a >= 1 Gvoxel uint16 stack. Not run by tests.

    .venv/bin/python benchmarks/bench_conversion.py [--size 2048 2048 256] [--tasks 1 2]
                                                    [--igneous-python /path/to/python]

Generates single-plane TIFFs (one per z, plane by plane), then measures, in this one run and on the same
files, each variant in its own process tree (wall time, and peak memory both as the largest process's
ru_maxrss and as the sampled sum of RSS over the tree):

- floor:   read every TIFF and write scale-0 raw chunks once, no pyramid, no cloud-volume: the I/O and
           decoding cost no converter can avoid
- ours:    `python -m lib.precomputed` info, upload, downsample with N array tasks run at once
- igneous: per-plane cloud-volume writes, then igneous downsampling tasks (LocalTaskQueue, one process);
           needs `igneous-pipeline` importable by --igneous-python (a separate venv keeps it out of ours)

Layer settings are those of a raw layer: scale-0 chunk [1024, 1024, 1], 4 more scales at
2 x 2 x 1 with chunk [128, 128, 64], raw encoding, no compression. The TIFFs are in the page cache for
every variant (they were just written). Results go to benchmarks/results/conversion.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "conversion.json"
VOXEL_NM = [1800, 1800, 2000]
CHUNK = [1024, 1024, 1]
DOWNSAMPLE_CHUNK = [128, 128, 64]
NUM_SCALES = 5


def generate(folder: Path, size: tuple[int, int, int]) -> None:
    """Plane by plane: a smooth gradient (tissue-like) plus noise, so values span most of uint16."""
    folder.mkdir(parents=True)
    x, y, z = size
    gradient = (np.add.outer(np.arange(y), np.arange(x)) * (30000 / (x + y))).astype(np.uint16)
    rng = np.random.default_rng(0)
    for k in range(z):
        noise = rng.integers(0, 4096, size=(y, x), dtype=np.uint16)
        tifffile.imwrite(folder / f"Z{k:04d}.tif", gradient + noise + np.uint16(k * 100 % 20000))


# ---- variants (each runs in its own process; prints one JSON line of inner timings) -------------------


def variant_floor(planes: Path, out: Path) -> dict[str, Any]:
    files = sorted(planes.glob("*.tif"))
    key = out / "_".join(map(str, VOXEL_NM))
    key.mkdir(parents=True)
    for z, file in enumerate(files):
        plane = tifffile.imread(file)  # rows = y, columns = x: C order is already x fastest
        rows, cols = plane.shape
        for y0 in range(0, rows, CHUNK[1]):
            for x0 in range(0, cols, CHUNK[0]):
                y1, x1 = min(y0 + CHUNK[1], rows), min(x0 + CHUNK[0], cols)
                (key / f"{x0}-{x1}_{y0}-{y1}_{z}-{z + 1}").write_bytes(plane[y0:y1, x0:x1].tobytes())
    return {}


def variant_ours(planes: Path, out: Path, tasks: int) -> dict[str, Any]:
    params = out.parent / f"{out.name}.params.json"
    doc = {
        "layer_path": str(out),
        "input_path": str(planes),
        "progress_dir": str(out.parent / f"{out.name}.progress"),
        "voxel_size_nm": VOXEL_NM,
        "chunk_size": CHUNK,
        "downsample_chunk_size": DOWNSAMPLE_CHUNK,
        "num_scales": NUM_SCALES,
        "z_downsampling": "never",
    }
    params.write_text(json.dumps(doc))
    timings: dict[str, Any] = {}
    for stage in ("info", "upload", "downsample"):
        started = time.monotonic()
        count = 1 if stage == "info" else tasks
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "lib.precomputed", stage, "--params", str(params),
                 "--task-index", str(k), "--task-count", str(count)],
                cwd=ROOT, stdout=subprocess.DEVNULL,
            )
            for k in range(count)
        ]  # fmt: skip
        if any(p.wait() != 0 for p in procs):
            raise SystemExit(f"stage {stage} failed")
        timings[f"{stage}_seconds"] = round(time.monotonic() - started, 2)
    return timings


def variant_igneous(planes: Path, out: Path) -> dict[str, Any]:
    from cloudvolume import CloudVolume
    from igneous import task_creation
    from taskqueue import LocalTaskQueue

    files = sorted(planes.glob("*.tif"))
    rows, cols = tifffile.TiffFile(files[0]).pages.first.shape
    info = CloudVolume.create_new_info(1, "image", "uint16", "raw", VOXEL_NM, [0, 0, 0], [cols, rows, len(files)],
                                       chunk_size=CHUNK)  # fmt: skip
    started = time.monotonic()
    vol = CloudVolume(f"file://{out}", info=info, compress=False, progress=False)
    vol.commit_info()
    for z, file in enumerate(files):
        vol[:, :, z : z + 1] = tifffile.imread(file).T[:, :, None]
    upload = time.monotonic() - started
    started = time.monotonic()
    tasks = task_creation.create_downsampling_tasks(
        f"file://{out}", mip=0, num_mips=NUM_SCALES - 1, chunk_size=DOWNSAMPLE_CHUNK, factor=(2, 2, 1),
        compress=False, memory_target=int(3.5e9),
    )  # fmt: skip
    LocalTaskQueue(parallel=1, progress=False).insert_all(tasks)
    return {"upload_seconds": round(upload, 2), "downsample_seconds": round(time.monotonic() - started, 2)}


def child(args: argparse.Namespace) -> None:
    planes, out = Path(args.planes), Path(args.out)
    if args.variant == "floor":
        inner = variant_floor(planes, out)
    elif args.variant == "ours":
        inner = variant_ours(planes, out, args.tasks[0])
    else:
        inner = variant_igneous(planes, out)
    usage = [resource.getrusage(who).ru_maxrss * 1024 for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    print(json.dumps({**inner, "max_process_rss_bytes": max(usage)}))


# ---- the parent: runs each variant, samples memory, writes the results --------------------------------


def tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(command: list[str], voxels: int) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    seconds = time.monotonic() - started
    sampler.join()
    if proc.returncode != 0:
        return {"error": (stderr.strip().splitlines() or ["failed"])[-1]}
    inner = json.loads(stdout.strip().splitlines()[-1])
    return {"seconds": round(seconds, 2), "voxels_per_second": round(voxels / seconds), "peak_tree_rss_bytes": peak[0],
            **inner}  # fmt: skip


def read_mip(layer: Path, mip: int) -> np.ndarray:
    from cloudvolume import CloudVolume

    return np.asarray(CloudVolume(f"file://{layer}", mip=mip, progress=False)[:, :, :])[..., 0]


def run_all(args: argparse.Namespace, work: Path, size: tuple[int, int, int], voxels: int) -> None:
    planes = work / "planes"
    print(f"generating {size[0]}x{size[1]}x{size[2]} uint16 ({voxels / 1e9:.2f} Gvoxel) in {planes}", flush=True)
    started = time.monotonic()
    generate(planes, size)
    generation = time.monotonic() - started

    me = [sys.executable, __file__, "--planes", str(planes)]
    results: dict[str, Any] = {}
    layers: dict[str, Path] = {}
    runs = [("floor", [*me, "--variant", "floor"], sys.executable)]
    runs += [
        (f"ours_{n}_task{'s' if n > 1 else ''}", [*me, "--variant", "ours", "--tasks", str(n)], "") for n in args.tasks
    ]
    runs += [("igneous", [args.igneous_python, __file__, "--planes", str(planes), "--variant", "igneous"], "")]
    for name, command, _ in runs:
        out = work / name
        print(f"running {name} ...", flush=True)
        results[name] = measure([*command, "--out", str(out)], voxels)
        layers[name] = out
        print(f"  {results[name]}", flush=True)

    comparison: dict[str, Any] = {}
    ours = next((n for n in results if n.startswith("ours") and "error" not in results[n]), None)
    if ours and "error" not in results["igneous"]:
        common = min(len(json.loads((layers[n] / "info").read_text())["scales"]) for n in (ours, "igneous"))
        for mip in range(1, common):
            diff = np.abs(read_mip(layers[ours], mip).astype(np.int32) - read_mip(layers["igneous"], mip))
            comparison[f"mip{mip}_max_abs_difference_ours_vs_igneous"] = int(diff.max())
    floor = results["floor"].get("seconds")
    ratios = {
        f"{name}_time_over_floor": round(r["seconds"] / floor, 2)
        for name, r in results.items()
        if name != "floor" and "seconds" in r and floor
    }
    document = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "volume": {
            "size_xyz": list(size),
            "dtype": "uint16",
            "voxels": voxels,
            "planes": size[2],
            "generation_seconds": round(generation, 1),
        },  # fmt: skip
        "layer": {"chunk_size": CHUNK, "downsample_chunk_size": DOWNSAMPLE_CHUNK, "num_scales": NUM_SCALES},
        "variants": results,
        "ratios": ratios,
        "comparison": comparison,
    }
    Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_json).write_text(json.dumps(document, indent=2) + "\n")

    print(f"\n{'variant':<16}{'seconds':>9}{'Mvoxel/s':>10}{'peak tree RSS':>15}{'max proc RSS':>14}{'x floor':>9}")
    for name, r in results.items():
        if "error" in r:
            print(f"{name:<16}  error: {r['error']}")
            continue
        ratio = f"{r['seconds'] / floor:.2f}" if floor else "-"
        tree, proc = r["peak_tree_rss_bytes"] / 2**20, r["max_process_rss_bytes"] / 2**20
        speed = r["voxels_per_second"] / 1e6
        print(f"{name:<16}{r['seconds']:>9.1f}{speed:>10.1f}{tree:>11.0f} MiB{proc:>10.0f} MiB{ratio:>9}")
    if comparison:
        print(comparison)
    print(f"results: {args.out_json}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=3, default=[2048, 2048, 256], metavar=("X", "Y", "Z"))
    parser.add_argument("--tasks", type=int, nargs="+", default=[1, 2], help="array task counts to run ours with")
    parser.add_argument("--igneous-python", default=os.environ.get("IGNEOUS_PYTHON", sys.executable))
    parser.add_argument("--workdir", help="default: a new temporary folder, removed afterwards")
    parser.add_argument("--out-json", default=str(RESULTS))
    parser.add_argument("--variant", choices=["floor", "ours", "igneous"], help=argparse.SUPPRESS)
    parser.add_argument("--planes", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return

    size = (args.size[0], args.size[1], args.size[2])
    voxels = int(np.prod(size))
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-conversion-"))
    try:
        run_all(args, work, size, voxels)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
