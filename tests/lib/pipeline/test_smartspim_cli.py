"""The SmartSPIM stages end to end through their command line (`python -m lib.pipeline.smartspim`), as the
cluster runs them: stitching of a two-channel 2x2 sample (array stages run as one process per task),
destriping of one channel with its flat field, and exit status 2 for bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from lib.pipeline.layout import plane_name, smartspim_corrected_dir, smartspim_stitched_dir
from lib.synth import channel_look, make_brain, write_smartspim
from lib.synth.optics import CAMERA_OFFSET, GAIN

ROOT = Path(__file__).resolve().parents[3]
STAGES = (("import", 2), ("displcompute", 1), ("place", 1), ("copy_placement", 2), ("merge", 2))


def run_stage(stage: str, params: Path, task_index: int = 0, task_count: int = 1) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "lib.pipeline.smartspim", stage, "--params", str(params)]
    command += ["--task-index", str(task_index), "--task-count", str(task_count)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ))


def write_json(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    brain = make_brain((6, 110, 140), seed=12, voxel_size_um=(1.866, 1.866, 2.0), n_cells=30)
    root = tmp_path_factory.mktemp("cli") / "resolution_3.6x"
    truth = write_smartspim(root, brain, tiling=(2, 2), overlap=0.25, channels=("488", "785"), jitter_px=2)
    document = {
        "run_id": 31,
        "data_root": str(root.parent),
        "rawdata_dir": str(root),
        "channels": [
            {"wavelength": "785", "subfolder": truth.subfolders["785"], "alignment": True},
            {"wavelength": "488", "subfolder": truth.subfolders["488"], "alignment": False},
        ],
        "xyz_scale_um": list(truth.voxel_size_um),
        "tiling_scheme": "2x2",
        "tiling_overlap": 0.25,
        "number_of_z_planes": truth.n_planes,
        "stages": [stage for stage, _ in STAGES],
    }
    return brain, truth, write_json(root.parent / "stitch_params.json", document)


def test_stitching_then_destriping_through_the_command_line(sample):
    brain, truth, params = sample
    for stage, tasks in STAGES:
        for k in range(tasks):
            result = run_stage(stage, params, k, tasks)
            assert result.returncode == 0, (stage, k, result.stderr)
            assert result.stdout.startswith(f"{stage} task {k}/{tasks}: ")
    height, width = truth.grid.tile_shape
    for wavelength in ("785", "488"):
        stitched = smartspim_stitched_dir(truth.out_dir, truth.subfolders[wavelength])
        placement = json.loads((stitched / "placement.json").read_text())
        for tile in placement["tiles"]:
            true_tile = truth.grid.tile(tile["column"], tile["row"])
            assert abs(tile["x"] - true_tile.x) <= 1 and abs(tile["y"] - true_tile.y) <= 1
        planes = sorted(stitched.glob("plane_*.tif"))
        assert len(planes) == truth.n_planes
        assert tifffile.imread(planes[0]).shape == truth.grid.canvas_shape

    # destriping of the 488 channel: staff put the flat field in the stitched folder
    subfolder = truth.subfolders["488"]
    stitched = smartspim_stitched_dir(truth.out_dir, subfolder)
    shutil.copy(truth.flat_paths["488"], stitched / "flat.tiff")
    corrected = smartspim_corrected_dir(truth.out_dir, subfolder)
    destripe = {
        "run_id": 32,
        "data_root": str(truth.out_dir.parent),
        "input_dir": str(stitched),
        "output_dir": str(corrected),
        "flat_path": str(stitched / "flat.tiff"),
        "destripe": {"dark": CAMERA_OFFSET},
        "planes_per_array_task": 4,
    }
    destripe_params = write_json(truth.out_dir.parent / "destripe_params.json", destripe)
    tasks = -(-truth.n_planes // 4)
    for k in range(tasks):
        result = run_stage("destripe", destripe_params, k, tasks)
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in corrected.iterdir()) == [plane_name(z) for z in range(truth.n_planes)]

    # the corrected plane is closer to the sample (no offset, no vignetting, no stripes) than the stitched one
    z = truth.n_planes // 2
    rows, cols = (0, truth.grid.canvas_shape[0]), (0, truth.grid.canvas_shape[1])
    sample_counts = GAIN * brain.render(z, channel_look("488"), rows, cols, truth.raw_to_sample)
    tissue = sample_counts > 0.2 * sample_counts.max()
    before = tifffile.imread(stitched / plane_name(z)).astype(float) - CAMERA_OFFSET
    after = tifffile.imread(corrected / plane_name(z)).astype(float)
    assert tifffile.imread(corrected / plane_name(z)).dtype == np.uint16
    error_before = np.abs(before - sample_counts)[tissue].mean()
    error_after = np.abs(after - sample_counts)[tissue].mean()
    assert error_after < 0.6 * error_before, (error_before, error_after)


def test_bad_input_exits_with_status_2_and_one_sentence(sample, tmp_path):
    _, truth, params = sample
    stitched = smartspim_stitched_dir(truth.out_dir, truth.subfolders["785"])
    destripe = {
        "input_dir": str(stitched),
        "output_dir": str(tmp_path / "corrected"),
        "flat_path": str(stitched / "flat_785.tiff"),
    }
    result = run_stage("destripe", write_json(tmp_path / "destripe.json", destripe))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"python -m lib.pipeline.smartspim destripe: error: Flat-field file flat_785.tiff was not found in {stitched}."
    )

    broken = json.loads(params.read_text())
    raw = tmp_path / "resolution_3.6x"
    shutil.copytree(truth.channel_dir("785"), raw / truth.subfolders["785"])
    (raw / truth.subfolders["785"] / truth.tile_folder(1, 1) / truth.plane_path("785", 1, 1, 1).name).unlink()
    result = run_stage("import", write_json(tmp_path / "stitch.json", dict(broken, rawdata_dir=str(raw))), 0, 2)
    assert result.returncode == 2
    assert "the tile grid is incomplete: expected 2 x 2 tiles" in result.stderr
    assert "found 2 column folders, 4 tiles and" in result.stderr and "Traceback" not in result.stderr
