"""The `register` stage (stage 3): array, one task per channel in channel order.

Task K handles channels K, K + N, ... (N = task count; normally one channel per task). Every task first
makes sure the run's registration exists (`claim.once`: whichever task arrives first registers, the others
wait for it). The registering task then resamples every other channel into atlas space with transformix
while elastix is loaded (elastix and transformix run in this process, through itk-elastix, whose loading
costs several seconds of CPU); a task resamples its own channels only when that was not done from the same
downsized volume. The registration channel's own result is elastix's `elastix/result.1.tif`.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from ..errors import PipelineError
from ..layout import downsized_volume, elastix_dir, registered_volume
from ..params import ChannelInput, LavisionParams
from . import claim, elastix
from .transform import AFFINE_NAME, BSPLINE_NAME, DONE_NAME, FIELD_DATA_NAME, FIELD_NAME, FIELD_STRIDE
from .volumes import DownsizedVolume, Vec3, read_volume, write_tiff_volume

# The downsized target voxel is the atlas voxel ÷ 1.3, so the atlas voxel is this
# multiple of the parameter document's `downsized_voxel_um`.
ATLAS_VOXEL_PER_DOWNSIZED_VOXEL = 1.3


def atlas_voxel_um(params: LavisionParams) -> Vec3:
    x, y, z = (v * ATLAS_VOXEL_PER_DOWNSIZED_VOXEL for v in params.downsized_voxel_um)
    return (x, y, z)


def atlas_path(path: Path | None, key: str, what: str) -> Path:
    if path is None:
        raise PipelineError(f"the parameter document names no {what} ({key})")
    if not path.is_file():
        raise PipelineError(f"the {what} {path} does not exist ({key})")
    return path


def registration_channel(params: LavisionParams) -> ChannelInput:
    channel = params.registration_channel
    if channel is None:
        raise PipelineError("registration needs a registration channel (role regch) and the run has none")
    return channel


def _file_state(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _register(params: LavisionParams, moving: DownsizedVolume, fixed_path: Path) -> dict[str, Any]:
    """elastix affine + B-spline of the registration channel (moving) to the atlas template (fixed)."""
    folder = elastix_dir(params.output_dir)
    work = folder / f".work-{uuid.uuid4().hex[:12]}"
    work.mkdir(parents=True)
    started = time.monotonic()
    fixed_voxel = atlas_voxel_um(params)
    fixed = read_volume(fixed_path, "atlas template")
    volume = read_volume(moving.path, "downsized volume")
    if volume.shape != moving.shape_zyx:
        raise PipelineError(f"{moving.path} has shape {volume.shape} (z, y, x), its sidecar says {moving.shape_zyx}")
    parameter_files = [work / "affine.txt", work / "bspline.txt"]
    parameter_files[0].write_text(elastix.parameter_text(elastix.AFFINE), encoding="utf-8")
    parameter_files[1].write_text(elastix.parameter_text(elastix.BSPLINE), encoding="utf-8")
    result = elastix.register(fixed, fixed_voxel, volume, moving.voxel_size_um, parameter_files, work)
    registered_at = time.monotonic()

    # Products: the affine file as written, the B-spline file pointing at the affine's final place.
    shutil.copyfile(work / AFFINE_NAME, folder / AFFINE_NAME)
    elastix.rewrite_parameters(
        work / BSPLINE_NAME, folder / BSPLINE_NAME, {elastix.INITIAL_TRANSFORM: str(folder / AFFINE_NAME)}
    )
    shutil.copyfile(work / "elastix.log", folder / "elastix.log")
    for path in parameter_files:
        shutil.copyfile(path, folder / f"parameters.{path.name}")
    write_tiff_volume(folder / "result.1.tif", result)

    # The deformation field (fixed µm -> displacement to moving µm) on a coarser grid over the atlas,
    # for mapping points sample -> atlas (transform.py).
    grid = elastix.read_grid(elastix.read_parameters(work / BSPLINE_NAME))
    field_parameters = work / "deformation.txt"
    elastix.rewrite_parameters(
        work / BSPLINE_NAME,
        field_parameters,
        {
            "Size": tuple((n - 1) // FIELD_STRIDE + 2 for n in grid.size),
            "Spacing": tuple(s * FIELD_STRIDE for s in grid.spacing),
        },
    )
    field_dir = work / "field"
    elastix.write_deformation_field(field_parameters, field_dir / FIELD_NAME)
    (field_dir / FIELD_DATA_NAME).replace(folder / FIELD_DATA_NAME)
    (field_dir / FIELD_NAME).replace(folder / FIELD_NAME)
    shutil.rmtree(work)
    return {
        "fixed_voxel_um": list(fixed_voxel),
        "moving_voxel_um": list(moving.voxel_size_um),
        "fixed_shape_zyx": list(fixed.shape),
        "moving_shape_zyx": list(moving.shape_zyx),
        "elastix_seconds": round(registered_at - started, 1),
        "host": socket.gethostname(),
    }


def _register_and_resample(
    params: LavisionParams, moving: DownsizedVolume, fixed_path: Path, held: claim.Claim
) -> dict[str, Any]:
    """The registration, then every other channel in atlas space; a channel that cannot be resampled is left
    to its own task, which reports why. The record lists each resampled channel's downsized volume."""
    resampled = {}
    with held.kept_fresh():
        record = _register(params, moving, fixed_path)
        for channel in params.channels:
            if channel.role == "regch":
                continue
            try:
                state = _file_state(downsized_volume(params.output_dir, channel))
                transform_channel(params, channel)
            except (OSError, PipelineError):
                continue
            resampled[str(channel.index)] = state
    return {**record, "resampled": resampled}


def _resampled_already(params: LavisionParams, channel: ChannelInput, record: dict[str, Any]) -> bool:
    source = downsized_volume(params.output_dir, channel)
    done = record.get("resampled", {}).get(str(channel.index))
    return done == _file_state(source) and registered_volume(params.output_dir, channel, channel.role).is_file()


def ensure_registration(params: LavisionParams) -> tuple[dict[str, Any], bool]:
    """The run's registration record, registering now unless another task did or does it."""
    channel = registration_channel(params)
    moving = DownsizedVolume.open(downsized_volume(params.output_dir, channel), params.downsized_voxel_um)
    fixed = atlas_path(params.atlasfile, "atlasfile", "atlas template")
    texts = elastix.parameter_text(elastix.AFFINE) + elastix.parameter_text(elastix.BSPLINE)
    fingerprint = {
        "moving": _file_state(moving.path),
        "fixed": _file_state(fixed),
        "fixed_voxel_um": list(atlas_voxel_um(params)),
        "moving_voxel_um": list(moving.voxel_size_um),
        "parameters_sha256": hashlib.sha256(texts.encode()).hexdigest(),
    }
    return claim.once(
        elastix_dir(params.output_dir),
        DONE_NAME,
        fingerprint,
        lambda held: _register_and_resample(params, moving, fixed, held),
    )


def transform_channel(params: LavisionParams, channel: ChannelInput) -> Path:
    """Resample one channel's downsized volume into atlas space with the finished registration."""
    folder = elastix_dir(params.output_dir)
    volume = DownsizedVolume.open(downsized_volume(params.output_dir, channel), params.downsized_voxel_um)
    work = folder / f".work-{uuid.uuid4().hex[:12]}"
    work.mkdir(parents=True)
    # Copies pointing at each other, so the chain works wherever the output folder has moved.
    shutil.copyfile(folder / AFFINE_NAME, work / AFFINE_NAME)
    elastix.rewrite_parameters(
        folder / BSPLINE_NAME, work / BSPLINE_NAME, {elastix.INITIAL_TRANSFORM: str(work / AFFINE_NAME)}
    )
    moving = read_volume(volume.path, "downsized volume")
    target = registered_volume(params.output_dir, channel, channel.role)
    write_tiff_volume(target, elastix.transform(work / BSPLINE_NAME, moving, volume.voxel_size_um, work))
    shutil.rmtree(work)
    return target


def run_register(document: dict[str, Any], task_index: int, task_count: int) -> str:
    params = LavisionParams.from_document(document)
    regch = registration_channel(params)
    atlas_path(params.atlasfile, "atlasfile", "atlas template")
    mine = params.channels[task_index::task_count]
    for channel in mine:  # fail fast on this task's own inputs, before waiting for the registration
        DownsizedVolume.open(downsized_volume(params.output_dir, channel), params.downsized_voxel_um)
    record, did_it = ensure_registration(params)
    done = [f"registered ch{regch.index}" if did_it else f"registration of ch{regch.index} ready"]
    for channel in mine:
        if channel.role != "regch":
            if not _resampled_already(params, channel, record):
                transform_channel(params, channel)
            done.append(f"ch{channel.index} in atlas space")
    return f"{', '.join(done)} (elastix {record.get('elastix_seconds', '?')} s)"
