"""SmartSPIM stitching stages run in process on a synthetic two-channel acquisition whose stage grid is off
by a few pixels per tile (jitter): import, displcompute, place, copy_placement, merge, and what bad input
they refuse. No database, no app."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from lib.pipeline.errors import PipelineError
from lib.pipeline.layout import plane_name, smartspim_stitched_dir
from lib.pipeline.smartspim import RUNNERS, read_placement
from lib.synth import SmartspimTruth, make_brain, write_smartspim

ALIGNMENT, OTHER = "642", "488"  # 642 comes before 488 in the alignment order
STAGES = ("import", "displcompute", "place", "copy_placement", "merge")
ARRAYS = {"import", "copy_placement", "merge"}  # one task per channel; the others are single jobs


def stitch_document(truth: SmartspimTruth) -> dict:
    columns, rows = truth.grid.tiling
    return {
        "run_id": 7,
        "data_root": str(truth.out_dir.parent),
        "rawdata_dir": str(truth.out_dir),
        "channels": [
            {"wavelength": ALIGNMENT, "subfolder": truth.subfolders[ALIGNMENT], "alignment": True},
            {"wavelength": OTHER, "subfolder": truth.subfolders[OTHER], "alignment": False},
        ],
        "xyz_scale_um": list(truth.voxel_size_um),
        "tiling_scheme": f"{columns}x{rows}",
        "tiling_overlap": truth.grid.overlap,
        "number_of_z_planes": truth.n_planes,
        "stages": list(STAGES),
    }


def run(stage: str, document: dict) -> list[str]:
    tasks = len(document["channels"]) if stage in ARRAYS else 1
    return [RUNNERS[stage](document, k, tasks) for k in range(tasks)]


def pasted_canvas(truth: SmartspimTruth, wavelength: str, z: int) -> tuple[np.ndarray, np.ndarray]:
    """The raw tiles pasted at their true offsets, and how many tiles cover each pixel."""
    canvas = np.zeros(truth.grid.canvas_shape)
    cover = np.zeros(truth.grid.canvas_shape, dtype=int)
    height, width = truth.grid.tile_shape
    for tile in truth.grid.tiles:
        tile_plane = tifffile.imread(truth.plane_path(wavelength, tile.column, tile.row, z))
        canvas[tile.y : tile.y + height, tile.x : tile.x + width] = tile_plane
        cover[tile.y : tile.y + height, tile.x : tile.x + width] += 1
    return canvas, cover


@pytest.fixture(scope="module")
def stitched(tmp_path_factory):
    """3 x 2 tiles of 76 x 86 px (width x height), 25 % overlap, every tile but the first off its stage
    position by up to 3 px per axis; 8 planes; noise, stripes and vignetting as the synthetic microscope
    makes them."""
    brain = make_brain((8, 150, 190), seed=21, voxel_size_um=(1.866, 1.866, 2.0), n_cells=60)
    root = tmp_path_factory.mktemp("smartspim") / "resolution_3.6x"
    truth = write_smartspim(root, brain, tiling=(3, 2), overlap=0.25, channels=(OTHER, ALIGNMENT), jitter_px=3)
    document = stitch_document(truth)
    lines = {stage: run(stage, document) for stage in STAGES}
    return truth, document, lines


def stitched_dir(truth: SmartspimTruth, wavelength: str) -> Path:
    return smartspim_stitched_dir(truth.out_dir, truth.subfolders[wavelength])


def test_tile_offsets_are_found_within_one_pixel_although_the_stage_grid_is_off(stitched):
    truth, _, lines = stitched
    placement = read_placement(stitched_dir(truth, ALIGNMENT))
    assert placement.canvas_shape == truth.grid.canvas_shape
    height, width = truth.grid.tile_shape
    step_x, step_y = truth.grid.step
    origin = truth.grid.tile(0, 0)
    off_grid = 0
    for tile in truth.grid.tiles:
        x, y = placement.positions[(tile.column, tile.row)]
        assert abs(x - tile.x) <= 1 and abs(y - tile.y) <= 1, (tile, (x, y))
        nominal = (origin.x + tile.column * step_x, origin.y + tile.row * step_y)
        off_grid += max(abs(nominal[0] - tile.x), abs(nominal[1] - tile.y)) > 1
    assert off_grid >= 2  # the stage positions alone would have been wrong
    assert "7 of 7 tile pairs measured" in lines["displcompute"][0]
    solution = json.loads((stitched_dir(truth, ALIGNMENT) / "placement.json").read_text())["solution"]
    assert all(pair["used"] for pair in solution["pairs"])


def test_stitched_planes_match_the_truth_canvas(stitched):
    truth, _, lines = stitched
    assert lines["merge"][0].startswith(f"{truth.subfolders[ALIGNMENT]}: {truth.n_planes} stitched planes")
    for wavelength in (ALIGNMENT, OTHER):
        folder = stitched_dir(truth, wavelength)
        assert sorted(p.name for p in folder.glob("plane_*.tif")) == [plane_name(z) for z in range(truth.n_planes)]
        for z in (0, truth.n_planes // 2):
            merged = tifffile.imread(folder / plane_name(z))
            assert merged.dtype == np.uint16 and merged.shape == truth.grid.canvas_shape
            canvas, cover = pasted_canvas(truth, wavelength, z)
            single = cover == 1
            # one tile: its pixel exactly (placement within a pixel was checked above; here it is exact)
            assert np.abs(merged[single] - canvas[single]).max() <= 1
            # overlaps blend tiles whose noise (sigma 10) differs: the blend stays within the noise
            difference = np.abs(merged[~single] - canvas[~single])
            assert difference.mean() < truth.noise_sigma and difference.max() < 8 * truth.noise_sigma


def test_copy_placement_gives_the_other_channel_the_same_placement(stitched):
    truth, _, lines = stitched
    alignment = read_placement(stitched_dir(truth, ALIGNMENT))
    other = read_placement(stitched_dir(truth, OTHER))
    assert other.positions == alignment.positions and other.canvas_shape == alignment.canvas_shape
    assert other.copied_from == truth.subfolders[ALIGNMENT] and other.subfolder == truth.subfolders[OTHER]
    assert lines["copy_placement"][0] == f"{truth.subfolders[ALIGNMENT]} is the alignment channel: nothing to copy"
    assert alignment.copied_from is None


def test_import_writes_a_manifest_per_channel_and_single_job_stages_ignore_extra_tasks(stitched):
    truth, document, lines = stitched
    for wavelength in (ALIGNMENT, OTHER):
        manifest = json.loads((stitched_dir(truth, wavelength) / "import_manifest.json").read_text())
        assert manifest["columns"] == 3 and manifest["rows"] == 2 and len(manifest["tiles"]) == 6
        assert len(manifest["plane_files"]) == truth.n_planes
        assert manifest["tiles"][1]["folder"] == truth.tile_folder(0, 1)
    assert lines["import"][1].startswith(f"{truth.subfolders[OTHER]}: 3x2 tiles")
    assert RUNNERS["place"](document, 1, 2).startswith("nothing to do")
    assert RUNNERS["displcompute"](document, 1, 2).startswith("nothing to do")


@pytest.fixture
def small(tmp_path):
    brain = make_brain((4, 96, 120), seed=5, voxel_size_um=(1.866, 1.866, 2.0), n_cells=20)
    root = tmp_path / "resolution_3.6x"
    truth = write_smartspim(root, brain, tiling=(2, 2), overlap=0.25, channels=(OTHER, ALIGNMENT), n_planes=3)
    return truth, stitch_document(truth)


def test_a_missing_plane_file_is_reported_with_the_counts_expected_and_found(small):
    truth, document = small
    missing = truth.plane_path(ALIGNMENT, 1, 1, 2)
    missing.unlink()
    with pytest.raises(PipelineError) as error:
        RUNNERS["import"](document, 0, 2)
    message = str(error.value)
    assert "tile grid is incomplete" in message
    assert "expected 2 x 2 tiles (tiling 2x2) with 3 planes each = 12 plane files" in message
    assert "found 2 column folders, 4 tiles and 11 plane files" in message
    assert f"tile {truth.tile_folder(1, 1)} lacks 1 plane(s) ({missing.name})" in message
    assert RUNNERS["import"](document, 1, 2).startswith(truth.subfolders[OTHER])  # the other channel is fine


def test_a_missing_tile_folder_and_a_wrong_tiling_are_refused(small):
    truth, document = small
    shutil.rmtree(truth.tile_dir(OTHER, 1, 0))
    with pytest.raises(PipelineError, match=r"column folder \d{6} has 1 row folders, expected 2"):
        RUNNERS["import"](document, 1, 2)
    with pytest.raises(PipelineError, match="expected 3 x 2 tiles"):
        RUNNERS["import"](dict(document, tiling_scheme="3x2"), 0, 2)
    with pytest.raises(PipelineError, match="does not exist"):
        RUNNERS["import"](dict(document, rawdata_dir=str(truth.out_dir / "nowhere")), 0, 2)


def test_stages_out_of_order_say_which_stage_must_run_first(small):
    _, document = small
    with pytest.raises(PipelineError, match="run the import stage first"):
        RUNNERS["displcompute"](document, 0, 1)
    RUNNERS["import"](document, 0, 2)
    RUNNERS["import"](document, 1, 2)
    with pytest.raises(PipelineError, match="run the displcompute stage first"):
        RUNNERS["place"](document, 0, 1)
    with pytest.raises(PipelineError, match="run the place stage first"):
        RUNNERS["copy_placement"](document, 1, 2)


def test_a_channel_with_another_tile_grid_cannot_reuse_the_placement(small):
    truth, document = small
    for stage in ("import", "displcompute", "place"):
        run(stage, document)
    for z in range(truth.n_planes):  # the other channel has a plane fewer than the alignment channel
        if z == truth.n_planes - 1:
            for tile in truth.grid.tiles:
                truth.plane_path(OTHER, tile.column, tile.row, z).unlink()
    RUNNERS["import"](dict(document, number_of_z_planes=0), 1, 2)
    with pytest.raises(PipelineError, match="cannot reuse the placement .*2 planes against 3"):
        RUNNERS["copy_placement"](document, 1, 2)
