"""Stage `stitch` (tiled data): one array task per channel (task k of N does channels k, k + N, ... in
parameter-document order).

Per channel: one tile placement (placement.py) from the maximum projection, over up to
PLACEMENT_PLANES evenly spaced planes, of the sum of the sheets' images of each tile; the placement is
written to `<subfolder>_ch<NN>_placement.json` in the output folder and used for every plane and sheet.
Then plane by plane (memory holds one plane's tiles and canvases, never the volume): each sheet's tiles
are fused with feathered weights into `stitched_sheet_dir`, and the sheets are blended as in `blend` into
the full-size and resized planes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PipelineError
from ..layout import stitched_sheet_dir
from ..params import ChannelInput, LavisionParams
from .blend import complete_channel, make_product_dirs, write_blended
from .placement import Placement, TileIndex, place_tiles
from .planes import FloatImage, task_items, write_plane
from .raw import RawChannel

PLACEMENT_PLANES = 16


def placement_path(params: LavisionParams, channel: ChannelInput) -> Path:
    return params.output_dir / f"{channel.subfolder}_ch{channel.index}_placement.json"


def sample_planes(planes: int, count: int = PLACEMENT_PLANES) -> list[int]:
    """Up to `count` planes spread evenly from the first to the last."""
    return sorted({int(z) for z in np.linspace(0, planes - 1, min(planes, count)).round()})


def _sheet_sum(raw: RawChannel, tile: TileIndex, sheets: Sequence[str], z: int) -> FloatImage:
    total = raw.read(tile[0], tile[1], sheets[0], z)
    for sheet in sheets[1:]:
        total += raw.read(tile[0], tile[1], sheet, z)
    return total


def projection_images(
    raw: RawChannel, tiles: Sequence[TileIndex], sheets: Sequence[str], planes: Sequence[int]
) -> dict[TileIndex, FloatImage]:
    """Per tile: the maximum over `planes` of the sum of the sheets' images."""
    images: dict[TileIndex, FloatImage] = {}
    for tile in tiles:
        projection = _sheet_sum(raw, tile, sheets, planes[0])
        for z in planes[1:]:
            np.maximum(projection, _sheet_sum(raw, tile, sheets, z), out=projection)
        images[tile] = projection
    return images


def _ramp(size: int, length: int) -> FloatImage:
    if length <= 0:
        return np.ones(size, dtype=np.float32)
    index = np.arange(size, dtype=np.float64)
    ramp = np.minimum(1.0, np.minimum(index + 0.5, size - 0.5 - index) / length)
    return np.asarray(ramp, dtype=np.float32)


def feather_weight(tile_shape: tuple[int, int], tiling: tuple[int, int], overlap: float) -> FloatImage:
    """A tile's blending weight: 1 inside, falling linearly to ~0 over the nominal overlap width at the
    edges shared with other tiles (along an axis with one tile, no fall-off). Overlaps are thus blended
    linearly, and where one tile covers the canvas its pixels are kept as they are."""
    height, width = tile_shape
    ramp_y = height - round(height * (1 - overlap)) if tiling[1] > 1 else 0
    ramp_x = width - round(width * (1 - overlap)) if tiling[0] > 1 else 0
    return np.outer(_ramp(height, ramp_y), _ramp(width, ramp_x)).astype(np.float32)


def fuse_plane(tiles: Mapping[TileIndex, FloatImage], placement: Placement, weight: FloatImage) -> FloatImage:
    """The canvas: the weighted mean of the tiles covering each pixel (0 where none does)."""
    total = np.zeros(placement.canvas_shape, dtype=np.float32)
    weights = np.zeros(placement.canvas_shape, dtype=np.float32)
    height, width = placement.tile_shape
    for tile, image in tiles.items():
        x, y = placement.positions[tile]
        total[y : y + height, x : x + width] += image * weight
        weights[y : y + height, x : x + width] += weight
    return np.asarray(np.divide(total, weights, out=np.zeros_like(total), where=weights > 0), dtype=np.float32)


def stitch_channel(params: LavisionParams, channel: ChannelInput) -> Placement:
    raw = complete_channel(params, channel)
    sheets = params.lightsheets
    columns, rows = params.tiling
    tiles = [(column, row) for column in range(columns) for row in range(rows)]
    placement = place_tiles(
        projection_images(raw, tiles, sheets, sample_planes(params.number_of_z_planes)),
        params.tiling,
        params.tiling_overlap,
    )
    make_product_dirs(params, channel)
    placement_path(params, channel).write_text(json.dumps(placement.to_json(), indent=1), encoding="utf-8")
    weight = feather_weight(placement.tile_shape, params.tiling, params.tiling_overlap)
    for sheet in sheets:
        stitched_sheet_dir(params.output_dir, channel, sheet).mkdir(parents=True, exist_ok=True)
    for z in range(params.number_of_z_planes):
        canvases: dict[str, FloatImage] = {}
        for sheet in sheets:
            images = {(column, row): raw.read(column, row, sheet, z) for column, row in tiles}
            if any(image.shape != placement.tile_shape for image in images.values()):
                raise PipelineError(f"channel {channel.index} plane Z{z:04d}: the tiles differ in shape")
            canvases[sheet] = fuse_plane(images, placement, weight)
            write_plane(stitched_sheet_dir(params.output_dir, channel, sheet), z, canvases[sheet])
        write_blended(params, channel, z, canvases)
    return placement


def run_stitch(document: dict[str, Any], task_index: int, task_count: int) -> str:
    params = LavisionParams.from_document(document)
    if not params.tiled:
        raise PipelineError("stitch is for tiled data; single-tile data is blended by the blend stage")
    done: list[str] = []
    for k in task_items(task_index, task_count, len(params.channels)):
        channel = params.channels[k]
        placement = stitch_channel(params, channel)
        used = sum(pair.used for pair in placement.pairs)
        height, width = placement.canvas_shape
        done.append(f"ch{channel.index} {width}x{height} px ({used}/{len(placement.pairs)} tile pairs measured)")
    if not done:
        return "no channel for this task"
    return f"stitched {params.number_of_z_planes} planes: " + ", ".join(done)
