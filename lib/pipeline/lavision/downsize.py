"""Stage `downsize`: one array task per channel (task k of N does channels k, k + N, ... in
parameter-document order). The resized planes are read one at a time, resampled in-plane, and combined
along z into the downsized planes as soon as each is complete (memory: a few planes and the 16-bit
downsized volume); the volume is reoriented by `finalorientation` and written as one multi-page 16-bit
TIFF with its JSON sidecar (conventions in the package docstring)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..errors import PipelineError
from ..layout import downsized_volume, full_size_dir, plane_name, resized_dir
from ..params import ChannelInput, LavisionParams
from .planes import FloatImage, plane_numbers, read_plane, task_items, to_uint16
from .raw import image_header
from .resample import (
    AxisResampling,
    axis_resampling,
    block_mean_affine,
    orient_volume,
    orientation_affine,
    oriented_shape_xyz,
    parse_orientation,
    resampling_affine,
)

CONVENTIONS = (
    "Voxel coordinates (x, y, z): x = column, y = row, z = page/plane; voxel centres at integers. "
    "Affines are 4x4, row-major, acting on column vectors (x, y, z, 1). full_to_downsized maps a "
    "full-resolution voxel (blended full-size planes = raw canvas) to the downsized volume's voxel."
)


def sidecar_path(volume: Path) -> Path:
    """`<name>_resampledforelastix.tif` -> `<name>_resampledforelastix.tif.json` (as the register stage
    reads it: lib.pipeline.registration.volumes.sidecar_path)."""
    return volume.with_name(volume.name + ".json")


def _full_shape_xyz(params: LavisionParams, channel: ChannelInput) -> list[int] | None:
    first = full_size_dir(params.output_dir, channel) / plane_name(0)
    if not first.is_file():
        return None
    (height, width), _ = image_header(first)
    return [width, height, params.number_of_z_planes]


def _resample(folder: Path, first: FloatImage, along: list[AxisResampling]) -> np.ndarray:
    """The resized planes of `folder` (`first` is plane 0) resampled along x, y and z, as (z, y, x) uint16.

    Along z, output plane j needs the few input planes of its taps (non-decreasing in j): each input plane is
    read and resampled in-plane once and dropped when no later output plane needs it."""
    along_x, along_y, along_z = along

    def in_plane(z: int) -> FloatImage:
        plane = first if z == 0 else read_plane(folder, z)
        if plane.shape != first.shape:
            raise PipelineError(f"{folder / plane_name(z)} differs in shape from {plane_name(0)}")
        return along_x.apply(along_y.apply(plane, 0), 1)

    resampled = np.empty((along_z.n_out, along_y.n_out, along_x.n_out), dtype=np.uint16)
    cache: dict[int, FloatImage] = {}
    for j in range(along_z.n_out):
        taps = along_z.taps(j)
        for z, _ in taps:
            if z not in cache:
                cache[z] = in_plane(z)
        total = np.zeros(resampled.shape[1:], dtype=np.float32)
        for z, weight in taps:
            total += np.float32(weight) * cache[z]
        resampled[j] = to_uint16(total)
        if j + 1 < along_z.n_out:
            needed = min(z for z, _ in along_z.taps(j + 1))
            cache = {z: plane for z, plane in cache.items() if z >= needed}
    return resampled


def _write_volume(path: Path, volume: np.ndarray, voxel: tuple[float, float, float]) -> None:
    """Write the ImageJ TIFF with its voxel size, through a partial file renamed into place."""
    partial = path.with_name(f".{path.name}.partial")
    tifffile.imwrite(
        partial,
        volume,
        imagej=True,
        resolution=(1.0 / voxel[0], 1.0 / voxel[1]),
        metadata={"axes": "ZYX", "spacing": voxel[2], "unit": "um"},
    )
    os.replace(partial, path)


def downsize_channel(params: LavisionParams, channel: ChannelInput) -> dict[str, Any]:
    """Write the channel's downsized volume and sidecar; returns the sidecar document."""
    folder = resized_dir(params.output_dir, channel)
    planes = params.number_of_z_planes
    found = set(plane_numbers(folder))
    if not set(range(planes)) <= found:
        raise PipelineError(
            f"{folder} holds {len(found & set(range(planes)))} of the {planes} resized planes: "
            "did the blend or stitch stage finish?"
        )
    factor = params.resizefactor
    resized_voxel = (params.xyz_scale_um[0] * factor, params.xyz_scale_um[1] * factor, params.xyz_scale_um[2])
    target_of_input = [0.0, 0.0, 0.0]  # the downsized voxel size along each input axis
    for out_axis, (in_axis, _) in enumerate(parse_orientation(params.finalorientation)):
        target_of_input[in_axis] = params.downsized_voxel_um[out_axis]

    first = read_plane(folder, 0)
    resized_shape = (first.shape[1], first.shape[0], planes)  # (x, y, z)
    along: list[AxisResampling] = [
        axis_resampling(resized_shape[axis], resized_voxel[axis], target_of_input[axis]) for axis in range(3)
    ]
    along_x, along_y, along_z = along
    volume = np.ascontiguousarray(orient_volume(_resample(folder, first, along), params.finalorientation))

    voxel = params.downsized_voxel_um
    path = downsized_volume(params.output_dir, channel)
    _write_volume(path, volume, voxel)

    resampled_shape = (along_x.n_out, along_y.n_out, along_z.n_out)
    shape_xyz = oriented_shape_xyz(resampled_shape, params.finalorientation)
    resized_to_downsized = orientation_affine(params.finalorientation, resampled_shape) @ resampling_affine(along)
    full_to_downsized = resized_to_downsized @ block_mean_affine(factor)
    sidecar = {
        "volume": path.name,
        "channel": channel.index,
        "shape_xyz": list(shape_xyz),
        "shape_zyx": list(shape_xyz[::-1]),
        "voxel_size_um": list(voxel),
        "dtype": "uint16",
        "finalorientation": list(params.finalorientation),
        "resizefactor": factor,
        "full_voxel_um": list(params.xyz_scale_um),
        "full_shape_xyz": _full_shape_xyz(params, channel),
        "resized_voxel_um": list(resized_voxel),
        "resized_shape_xyz": list(resized_shape),
        "full_to_downsized": full_to_downsized.tolist(),
        "downsized_to_full": np.linalg.inv(full_to_downsized).tolist(),
        "resized_to_downsized": resized_to_downsized.tolist(),
        "conventions": CONVENTIONS,
    }
    sidecar_path(path).write_text(json.dumps(sidecar, indent=1), encoding="utf-8")
    return sidecar


def run_downsize(document: dict[str, Any], task_index: int, task_count: int) -> str:
    params = LavisionParams.from_document(document)
    done: list[str] = []
    for k in task_items(task_index, task_count, len(params.channels)):
        channel = params.channels[k]
        sidecar = downsize_channel(params, channel)
        x, y, z = sidecar["shape_xyz"]
        done.append(f"ch{channel.index} {x}x{y}x{z}")
    if not done:
        return "no channel for this task"
    voxel = "x".join(f"{v:g}" for v in params.downsized_voxel_um)
    return f"downsized to {voxel} µm voxels, orientation {','.join(params.finalorientation)}: " + ", ".join(done)
