"""Small real precomputed layers for the viewer tests, written by lib.precomputed (the product's converter)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import tifffile

from lib.precomputed import parse_params, run_stage

VOXEL_NM = (5000.0, 5000.0, 10000.0)
SHAPE_ZYX = (6, 96, 128)
#: where the bright block is, in voxels (x0, x1, y0, y1): the screenshot check looks for it
BLOCK = (32, 96, 24, 72)


def image_volume(value: int = 3000, block: tuple[int, int, int, int] = BLOCK) -> np.ndarray:
    vol = np.zeros(SHAPE_ZYX, dtype=np.uint16)
    x0, x1, y0, y1 = block
    vol[:, y0:y1, x0:x1] = value
    return vol


def write_image_layer(
    folder: Path, volume_zyx: np.ndarray | None = None, voxel_nm=VOXEL_NM, scales: int = 2, **extra
) -> Path:
    """An image layer (uint16, [1024, 1024, 1] planes at scale 0 unless `chunk_size` is given, 2x2x1 further
    scales)."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    work = folder.parent / f".{folder.name}-work"
    work.mkdir(parents=True, exist_ok=True)
    tif = work / "stack.tif"
    tifffile.imwrite(tif, image_volume() if volume_zyx is None else volume_zyx, photometric="minisblack")
    params = parse_params({"layer_path": str(folder), "input_path": str(tif), "progress_dir": str(work / "progress"),
                           "voxel_size_nm": list(voxel_nm), "num_scales": scales,
                           "z_downsampling": "never", **extra})  # fmt: skip
    for stage in ("info", "upload", "downsample"):
        run_stage(stage, params)
    shutil.rmtree(work, ignore_errors=True)
    return folder


def write_atlas_layer(folder: Path, voxel_nm=(25000.0, 25000.0, 25000.0)) -> Path:
    """A segmentation layer with two named regions and segment properties (the atlas overlay)."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    work = folder.parent / f".{folder.name}-work"
    work.mkdir(parents=True, exist_ok=True)
    labels = np.zeros((8, 32, 40), dtype=np.uint32)
    labels[:, 4:28, 4:20] = 567
    labels[:, 4:28, 20:36] = 8
    tif = work / "annotation.tif"
    tifffile.imwrite(tif, labels, photometric="minisblack")
    ontology = work / "ontology.csv"
    ontology.write_text("id,name,acronym\n567,Cerebrum,CH\n8,Basic cell groups and regions,grey\n")
    doc = {"layer_path": str(folder), "layer_type": "segmentation", "data_type": "uint32", "input_path": str(tif),
           "progress_dir": str(work / "progress"), "voxel_size_nm": list(voxel_nm), "num_scales": 1,
           "ontology_path": str(ontology)}  # fmt: skip
    params = parse_params(doc)
    for stage in ("info", "upload", "segment_properties"):
        run_stage(stage, params)
    shutil.rmtree(work, ignore_errors=True)
    return folder


def write_cells_layer(folder: Path, points_xyz: list[tuple[float, float, float]], voxel_nm=VOXEL_NM) -> Path:
    """A point annotation layer (cells) in the voxels of `voxel_nm`."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    work = folder.parent / f".{folder.name}-work"
    work.mkdir(parents=True, exist_ok=True)
    csv = work / "points.csv"
    csv.write_text("x,y,z,score\n" + "".join(f"{x},{y},{z},0.9\n" for x, y, z in points_xyz))
    # `spatial_limit` = the number of points: Neuroglancer draws about (cell size on screen / limit) of a spatial
    # cell's annotations, so a `limit` far above the points stored (the converter's default, 500000) draws
    # almost none of them (reported to the lead; docs/decisions.md, viewer section)
    params = parse_params({"layer_path": str(folder), "layer_type": "annotation", "points_path": str(csv),
                           "voxel_size_nm": list(voxel_nm), "spatial_limit": max(1, len(points_xyz)),
                           "annotation_upper_bound": [SHAPE_ZYX[2], SHAPE_ZYX[1], SHAPE_ZYX[0]]})  # fmt: skip
    run_stage("annotations", params)
    shutil.rmtree(work, ignore_errors=True)
    return folder


def info_of(folder: Path) -> dict:
    return json.loads((Path(folder) / "info").read_text())
