"""The LaVision stages end to end through their command line (`python -m lib.pipeline.lavision`), as
the cluster runs them: a 2x2-tiled two-sheet two-channel sample (setup, stitch, downsize) and a single-tile
two-sheet sample (setup, blend, downsize)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from lib.pipeline.lavision.sheets import blend_sheets
from lib.pipeline.layout import (
    METADATA_NAME,
    PARAMS_NAME,
    downsized_volume,
    full_size_dir,
    plane_name,
    resized_dir,
    stitched_sheet_dir,
)
from lib.pipeline.params import LavisionParams
from lib.synth import make_brain, write_lavision

from .lavision_data import correlation, lavision_document, true_sheet_plane, write_document

ROOT = Path(__file__).resolve().parents[3]


def run_stage(stage: str, params: Path, task_index: int = 0, task_count: int = 1) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "lib.pipeline.lavision", stage, "--params", str(params)]
    command += ["--task-index", str(task_index), "--task-count", str(task_count)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ))


def run_array(stage: str, params: Path, tasks: int) -> list[str]:
    lines = []
    for k in range(tasks):
        result = run_stage(stage, params, k, tasks)
        assert result.returncode == 0, result.stderr
        lines.append(result.stdout.strip())
    return lines


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def read_tiff(path: Path) -> np.ndarray:
    return np.asarray(tifffile.imread(path))


@pytest.fixture(scope="module")
def brain():
    return make_brain((12, 96, 128), seed=3, n_cells=30)


def test_a_tiled_two_sheet_two_channel_sample_is_stitched_and_downsized_through_the_cli(tmp_path, brain):
    raw_dir = tmp_path / "raw" / "Ex_488_647"
    truth = write_lavision(raw_dir, brain, tiling=(2, 2), overlap=0.2, channels=("488", "647"), jitter_px=4, seed=11)
    before = snapshot(raw_dir)
    out = tmp_path / "out"
    params_path = write_document(tmp_path / "params.json", lavision_document(out, truth))
    params = LavisionParams.from_document(json.loads(params_path.read_text()))

    assert run_array("setup", params_path, 1)[0].startswith("setup task 0/1: 2 channel(s), 2x2 tile(s) of 72x54 px")
    metadata = json.loads((out / METADATA_NAME).read_text())
    assert metadata["tile_shape"] == list(truth.grid.tile_shape) and metadata["planes"] == truth.n_planes
    assert len(metadata["tiles"]) == 4 and metadata["dtype"] == "uint16"
    assert (out / PARAMS_NAME).is_file()

    refused = run_stage("blend", params_path)
    assert refused.returncode == 2 and "blend is for single-tile data" in refused.stderr

    lines = run_array("stitch", params_path, 2)
    assert "ch00" in lines[0] and "ch01" in lines[1] and "(4/4 tile pairs measured)" in lines[0]
    true_positions = {(t.column, t.row): (t.x, t.y) for t in truth.grid.tiles}
    for channel in params.channels:
        placement = json.loads((out / f"Ex_488_647_ch{channel.index}_placement.json").read_text())
        found = {(t["column"], t["row"]): (t["x"], t["y"]) for t in placement["tiles"]}
        assert all(np.abs(np.subtract(found[k], true_positions[k])).max() <= 1 for k in found), (found, true_positions)
        for sheet in ("left", "right"):
            assert len(list(stitched_sheet_dir(out, channel, sheet).glob("plane_*.tif"))) == truth.n_planes
        canvas = read_tiff(full_size_dir(out, channel) / plane_name(0))
        assert canvas.dtype == np.uint16 and canvas.shape == truth.grid.canvas_shape
        resized = read_tiff(resized_dir(out, channel) / plane_name(truth.n_planes - 1))
        assert resized.shape == tuple(math.ceil(n / 3) for n in truth.grid.canvas_shape)
    stitched = read_tiff(stitched_sheet_dir(out, params.channels[1], "right") / plane_name(6))
    covered = stitched > 0  # canvas corners that no tile reaches stay 0
    assert covered.mean() > 0.9
    assert correlation(stitched[covered], true_sheet_plane(brain, truth, "647", "right", 6)[covered]) > 0.995

    lines = run_array("downsize", params_path, 2)
    assert "ch00" in lines[0] and "ch01" in lines[1]
    for channel in params.channels:
        path = downsized_volume(out, channel)
        sidecar = json.loads(path.with_name(path.name + ".json").read_text())
        with tifffile.TiffFile(path) as tiff:
            volume = tiff.asarray()
            assert len(tiff.pages) == sidecar["shape_zyx"][0]
            assert tiff.imagej_metadata["spacing"] == pytest.approx(19.23)
        assert volume.dtype == np.uint16 and list(volume.shape) == sidecar["shape_zyx"]
        # horizontal -> sagittal: output x is input z (12 planes of 10 µm), z is input x (resized: 15 µm)
        height, width = (math.ceil(n / 3) for n in truth.grid.canvas_shape)
        assert sidecar["shape_xyz"] == [round(120 / 19.23), round(height * 15 / 19.23), round(width * 15 / 19.23)]
        assert sidecar["voxel_size_um"] == [19.23, 19.23, 19.23]
    assert snapshot(raw_dir) == before, "raw data untouched"


def test_a_single_tile_two_sheet_sample_is_blended_and_downsized_through_the_cli(tmp_path, brain):
    raw_dir = tmp_path / "raw" / "Ex_488_647"
    truth = write_lavision(raw_dir, brain, tiling=(1, 1), channels=("488", "647"))
    before = snapshot(raw_dir)
    out = tmp_path / "out"
    document = lavision_document(out, truth, planes_per_array_task=5, finalorientation=["-2", "1", "-0"])
    params_path = write_document(tmp_path / "params.json", document)
    params = LavisionParams.from_document(document)

    run_array("setup", params_path, 1)
    lines = run_array("blend", params_path, math.ceil(truth.n_planes / 5))
    assert lines[0].startswith("blend task 0/3: blended 5 plane(s) from Z0000 to Z0004 of 2 channel(s)")
    assert "2 plane(s) from Z0010 to Z0011" in lines[2]
    for channel, wavelength in zip(params.channels, ("488", "647"), strict=True):
        assert sorted(p.name for p in full_size_dir(out, channel).iterdir()) == [
            plane_name(z) for z in range(truth.n_planes)
        ]
        sheets = {s: read_tiff(truth.path(0, 0, s, 7, wavelength)).astype(np.float32) for s in ("left", "right")}
        expected = np.clip(np.rint(blend_sheets(sheets, "sigmoidal", True)), 0, 65535)
        assert np.array_equal(read_tiff(full_size_dir(out, channel) / plane_name(7)), expected)
        assert not list(out.glob("*lightsheet_ts_out")), "no stitched planes for a single tile"

    run_array("downsize", params_path, 1)  # one task does both channels
    for channel in params.channels:
        path = downsized_volume(out, channel)
        sidecar = json.loads(path.with_name(path.name + ".json").read_text())
        assert list(read_tiff(path).shape) == sidecar["shape_zyx"]
        assert sidecar["finalorientation"] == ["-2", "1", "-0"]
        assert sidecar["full_shape_xyz"] == [128, 96, 12]
    assert snapshot(raw_dir) == before, "raw data untouched"


def test_setup_through_the_cli_exits_2_and_names_the_missing_plane(tmp_path, brain):
    truth = write_lavision(tmp_path / "Ex_647", brain, tiling=(1, 1), channels=("647",), sheets=("left",), n_planes=3)
    truth.path(0, 0, "left", 1, "647").unlink()
    params_path = write_document(tmp_path / "params.json", lavision_document(tmp_path / "out", truth))
    result = run_stage("setup", params_path)
    assert result.returncode == 2
    assert "expected 3 files (1x1 tiles x 1 sheet(s) x 3 planes), found 2" in result.stderr
    assert "plane Z0001" in result.stderr
