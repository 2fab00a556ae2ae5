"""Helpers for the precomputed tests: synthetic TIFF stacks, the stage commands run as array tasks
(subprocesses, all tasks of a stage at once, as Slurm would), and independent readers (cloud-volume,
tensorstore) plus a reference 2 x 2 (x 2) pooling written with numpy padding and reshapes.

No database and no `app` fixture: these tests only need a temporary folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tensorstore as ts
import tifffile
from cloudvolume import CloudVolume

ROOT = Path(__file__).resolve().parents[3]
TASKS = 3


@dataclass
class StageRun:
    returncodes: list[int]
    stdout: list[str]
    stderr: list[str]

    @property
    def ok(self) -> bool:
        return all(code == 0 for code in self.returncodes)


def run_stage(stage: str, params_path: Path, tasks: int = TASKS, timeout: float = 120) -> StageRun:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "lib.precomputed", stage, "--params", str(params_path),
             "--task-index", str(k), "--task-count", str(tasks)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for k in range(tasks)
    ]  # fmt: skip
    outs = [p.communicate(timeout=timeout) for p in procs]
    return StageRun([p.returncode for p in procs], [o for o, _ in outs], [e for _, e in outs])


def convert(params: dict, tmp_path: Path, stages: tuple[str, ...] = ("info", "upload", "downsample")) -> Path:
    params_path = tmp_path / "params.json"
    params_path.write_text(json.dumps(params))
    for stage in stages:
        result = run_stage(stage, params_path)
        assert result.ok, f"{stage} failed: {result.stderr}"
    return params_path


def write_planes(folder: Path, volume_zyx: np.ndarray, name: str = "plane_{z}.tif") -> Path:
    """One single-plane TIFF per z, names not zero-padded (so sorting must be numeric)."""
    folder.mkdir(parents=True, exist_ok=True)
    for z, plane in enumerate(volume_zyx):
        tifffile.imwrite(folder / name.format(z=z), plane)
    return folder


def write_volume(path: Path, volume_zyx: np.ndarray) -> Path:
    tifffile.imwrite(path, volume_zyx, photometric="minisblack")
    return path


def as_xyz(volume_zyx: np.ndarray) -> np.ndarray:
    return np.transpose(volume_zyx, (2, 1, 0))


def read_cloudvolume(layer: Path, mip: int) -> np.ndarray:
    vol = CloudVolume(f"file://{layer}", mip=mip, fill_missing=False, progress=False)
    return np.asarray(vol[:, :, :])[..., 0]


def read_tensorstore(layer: Path, mip: int) -> np.ndarray:
    spec = {"driver": "neuroglancer_precomputed", "kvstore": f"file://{layer}/", "scale_index": mip}
    return ts.open(spec, read=True).result().read().result()[..., 0]


def blocks(below: np.ndarray, factor: tuple[int, int, int]) -> np.ndarray:
    """Cells of the level below as (x, y, z, cell voxels), odd edges padded by repeating the last voxel."""
    pad = [(0, (f - n % f) % f) for n, f in zip(below.shape, factor, strict=True)]
    padded = np.pad(below, pad, mode="edge")
    shape = []
    for n, f in zip(padded.shape, factor, strict=True):
        shape += [n // f, f]
    cells = padded.reshape(shape).transpose(0, 2, 4, 1, 3, 5)
    return cells.reshape(*cells.shape[:3], -1)


def reference_mean(below: np.ndarray, factor: tuple[int, int, int]) -> np.ndarray:
    return blocks(below, factor).astype(np.float64).mean(axis=-1)


def assert_is_mode(level: np.ndarray, below: np.ndarray, factor: tuple[int, int, int]) -> None:
    cells = blocks(below, factor)
    counts = (cells[..., :, None] == cells[..., None, :]).sum(axis=-1)
    chosen = (cells == level[..., None]).sum(axis=-1)
    assert (chosen > 0).all(), "a voxel holds a label that is not in its cell"
    assert (chosen == counts.max(axis=-1)).all(), "a voxel holds a label that is not the most frequent one"


def scale_factors(layer: Path) -> list[tuple[int, int, int]]:
    scales = json.loads((layer / "info").read_text())["scales"]
    return [
        tuple(round(b / a) for a, b in zip(lo["resolution"], hi["resolution"], strict=True))
        for lo, hi in zip(scales, scales[1:], strict=False)
    ]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)
