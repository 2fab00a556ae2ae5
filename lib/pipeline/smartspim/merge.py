"""Stitched planes from the tiles and their placement (the `merge` stage).

Each tile is pasted at its whole-pixel position with a weight that rises smoothly (raised cosine) from
its edges over the nominal overlap width, so overlaps cross-fade; the canvas is the weighted sum divided
by the sum of weights (computed once: it is the same for every plane). Pixels no tile covers are 0.

Memory: one float32 canvas plus the tiles of one plane (read by a few threads) at a time. Output:
`<subfolder>_stitched/plane_<zzzz>.tif`, 16-bit, z = plane index in stage-Z order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import PipelineError
from ..layout import plane_name
from .files import to_uint16, write_plane
from .placement import Placement
from .tiles import ChannelTiles

MIN_WEIGHT = 1e-3  # weight at a tile's very edge, so a pixel covered by one tile only keeps its value
READ_THREADS = 8


def edge_ramp(length: int, ramp: int) -> npt.NDArray[np.float32]:
    """1-D weights: raised cosine from MIN_WEIGHT at both ends to 1 over `ramp` pixels."""
    if ramp < 1:
        return np.ones(length, dtype=np.float32)
    position = np.arange(length, dtype=np.float64) + 0.5
    distance = np.minimum(position, length - position) / ramp
    weight = 0.5 - 0.5 * np.cos(np.pi * np.clip(distance, 0.0, 1.0))
    return np.maximum(weight, MIN_WEIGHT).astype(np.float32)


def tile_weights(shape: tuple[int, int], overlap: tuple[int, int]) -> npt.NDArray[np.float32]:
    """(height, width) weights of one tile; `overlap` is the nominal (x, y) overlap in pixels."""
    return np.outer(edge_ramp(shape[0], overlap[1]), edge_ramp(shape[1], overlap[0]))


def _check(tiles: ChannelTiles, placement: Placement) -> None:
    missing = [t.folder for t in tiles.tiles if t.key not in placement.positions]
    if missing or placement.tile_shape != tiles.tile_shape:
        raise PipelineError(
            f"the placement in {placement.subfolder}_stitched does not fit the tiles of {tiles.subfolder} "
            f"({len(missing)} tile(s) not placed, tile shape {placement.tile_shape} against {tiles.tile_shape})"
        )
    height, width = tiles.tile_shape
    outside = [
        f"{c},{r}" for (c, r), (x, y) in placement.positions.items()
        if x < 0 or y < 0 or y + height > placement.canvas_shape[0] or x + width > placement.canvas_shape[1]
    ]  # fmt: skip
    if outside:
        raise PipelineError(f"the placement puts tile(s) {', '.join(outside)} outside its canvas")


def merge_planes(
    tiles: ChannelTiles,
    placement: Placement,
    out_dir: Path,
    planes: range | None = None,
    *,
    on_plane: Callable[[int], None] | None = None,
) -> int:
    """Write the stitched planes `planes` (default: all) into `out_dir`; returns how many were written."""
    _check(tiles, placement)
    out_dir.mkdir(parents=True, exist_ok=True)
    height, width = tiles.tile_shape
    weights = tile_weights(tiles.tile_shape, tiles.nominal_overlap_px())
    total = np.zeros(placement.canvas_shape, dtype=np.float32)
    for tile in tiles.tiles:
        x, y = placement.positions[tile.key]
        total[y : y + height, x : x + width] += weights
    covered = total > 0
    inverse = np.zeros_like(total)
    np.divide(1.0, total, out=inverse, where=covered)
    del total
    canvas = np.zeros(placement.canvas_shape, dtype=np.float32)
    chosen = planes if planes is not None else range(tiles.n_planes)
    threads = max(1, min(READ_THREADS, len(tiles.tiles), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for z in chosen:

            def read(tile_index: int, z: int = z) -> npt.NDArray[Any]:
                return tiles.read_plane(tiles.tiles[tile_index], z)

            canvas.fill(0.0)
            for tile, image in zip(tiles.tiles, pool.map(read, range(len(tiles.tiles))), strict=True):
                x, y = placement.positions[tile.key]
                canvas[y : y + height, x : x + width] += image * weights
            canvas *= inverse
            write_plane(out_dir / plane_name(z), to_uint16(canvas))
            if on_plane is not None:
                on_plane(z)
    return len(chosen)
