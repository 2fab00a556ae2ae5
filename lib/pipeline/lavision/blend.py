"""Stage `blend` (single-tile data): the light sheets of every plane blended into one, written at full
size and resized in-plane. Array task k of N does the plane chunks k, k + N, ... of
`planes_per_array_task` planes each (with N = ⌈planes ÷ planes_per_array_task⌉, chunk k)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import PipelineError
from ..layout import full_size_dir, resized_dir
from ..params import ChannelInput, LavisionParams
from .planes import FloatImage, block_mean, plane_chunk, task_items, write_plane
from .raw import RawChannel, list_channel
from .sheets import blend_sheets


def complete_channel(params: LavisionParams, channel: ChannelInput) -> RawChannel:
    """The raw files of a channel, refusing an incomplete acquisition."""
    raw = list_channel(channel.raw_dir, int(channel.index), params.lightsheets)
    missing = raw.missing(params.tiling, params.number_of_z_planes)
    if missing:
        raise PipelineError(
            f"channel {channel.index} ({channel.raw_dir}) misses {len(missing)} raw file(s): run setup first"
        )
    return raw


def write_blended(params: LavisionParams, channel: ChannelInput, z: int, sheets: Mapping[str, FloatImage]) -> None:
    """Blend one plane's sheet images and write the full-size and resized planes."""
    blended = blend_sheets(sheets, params.blendtype, params.intensitycorrection)
    write_plane(full_size_dir(params.output_dir, channel), z, blended)
    write_plane(resized_dir(params.output_dir, channel), z, block_mean(blended, params.resizefactor))


def make_product_dirs(params: LavisionParams, channel: ChannelInput) -> None:
    full_size_dir(params.output_dir, channel).mkdir(parents=True, exist_ok=True)
    resized_dir(params.output_dir, channel).mkdir(parents=True, exist_ok=True)


def run_blend(document: dict[str, Any], task_index: int, task_count: int) -> str:
    params = LavisionParams.from_document(document)
    if params.tiled:
        raise PipelineError(f"blend is for single-tile data; this run is tiled {params.tiling[0]}x{params.tiling[1]}")
    chunks = math.ceil(params.number_of_z_planes / params.planes_per_array_task)
    planes = [
        z
        for chunk in task_items(task_index, task_count, chunks)
        for z in plane_chunk(chunk, params.planes_per_array_task, params.number_of_z_planes)
    ]
    if not planes:
        return "no planes for this task"
    for channel in params.channels:
        raw = complete_channel(params, channel)
        make_product_dirs(params, channel)
        for z in planes:
            write_blended(params, channel, z, {sheet: raw.read(0, 0, sheet, z) for sheet in params.lightsheets})
    how = "blended" if len(params.lightsheets) > 1 else f"copied (one sheet, {params.lightsheets[0]})"
    span = f"Z{planes[0]:04d} to Z{planes[-1]:04d}"
    return f"{how} {len(planes)} plane(s) from {span} of {len(params.channels)} channel(s)"
