"""Synthetic SmartSPIM acquisitions.

Per channel: `<out_dir>/Ex_<wl>_Em_<k>/<XXXXXX>/<XXXXXX>_<YYYYYY>/<ZZZZZZ>.tif`, numbers being stage
positions in tenths of µm (columns along X, rows along Y, planes along Z). The stitched plane (canvas)
carries optional known horizontal stripes and a flat-field vignetting, both multiplicative and in canvas
coordinates; the flat-field image is written as `<subfolder>/flat.tiff` (float32, canvas-sized, 1.0 at its
brightest), the file staff place in `<subfolder>_stitched/` before destriping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .anatomy import FloatArray
from .brain import Brain, Matrix, Points, apply_affine, channel_look, scale_matrix
from .lavision import plane_count, raw_transform
from .names import (
    SMARTSPIM_WAVELENGTHS,
    format_tiling,
    smartspim_channel_folder,
    smartspim_column_folder,
    smartspim_plane_name,
    smartspim_row_folder,
)
from .optics import StripePattern, TileGrid, flat_field, make_stripes, noise_rng, plan_tiles, to_counts
from .stream import write_float_image, write_plane

FLAT_NAME = "flat.tiff"
STAGE_ORIGIN_TENTHS = (414020, 493660, 12340)  # x, y, z of tile [0, 0] and plane 0 (a realistic stage position)


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields, not objects
class SmartspimTruth:
    """What was written and the ground truth. Tile (column, row) covers canvas x in [tile.x, tile.x +
    width), y in [tile.y, tile.y + height); folder names are nominal stage positions (without jitter)."""

    out_dir: Path  # the resolution folder holding one subfolder per channel
    grid: TileGrid
    subfolders: dict[str, str]  # wavelength -> subfolder name
    column_tenths: tuple[int, ...]  # stage X of each column
    row_tenths: tuple[int, ...]  # stage Y of each row
    plane_tenths: tuple[int, ...]  # stage Z of each plane
    z_step_um: float
    voxel_size_um: tuple[float, float, float]
    ventral_up: bool
    noise_sigma: float
    stripes: StripePattern | None = field(repr=False)
    flat_paths: dict[str, Path]  # wavelength -> flat-field image (empty without a flat field)
    raw_to_sample: Matrix = field(repr=False)
    raw_to_atlas_um: Matrix = field(repr=False)
    cells_xyz: Points = field(repr=False)  # planted cells, raw canvas voxels
    files: tuple[Path, ...] = field(repr=False)

    @property
    def n_planes(self) -> int:
        return len(self.plane_tenths)

    def channel_dir(self, wavelength: str) -> Path:
        return self.out_dir / self.subfolders[wavelength]

    def tile_folder(self, column: int, row: int) -> str:
        """`<XXXXXX>/<XXXXXX>_<YYYYYY>` of one tile, relative to the channel subfolder."""
        x, y = self.column_tenths[column], self.row_tenths[row]
        return f"{smartspim_column_folder(x)}/{smartspim_row_folder(x, y)}"

    def tile_dir(self, wavelength: str, column: int, row: int) -> Path:
        return self.channel_dir(wavelength) / self.tile_folder(column, row)

    def plane_path(self, wavelength: str, column: int, row: int, z: int) -> Path:
        return self.tile_dir(wavelength, column, row) / smartspim_plane_name(self.plane_tenths[z])

    def flat_field(self, rows: tuple[int, int], cols: tuple[int, int]) -> FloatArray:
        """Vignetting of canvas rows [y0, y1) × columns [x0, x1) (all ones without a flat field)."""
        if not self.flat_paths:
            return np.ones((rows[1] - rows[0], cols[1] - cols[0]), dtype=np.float32)
        return flat_field(self.grid.canvas_shape, rows, cols)

    def flat_rows(self, y0: int, y1: int) -> FloatArray:
        """Full-width canvas rows [y0, y1) of the flat field."""
        return self.flat_field((y0, y1), (0, self.grid.canvas_shape[1]))

    def stripe_factor(self, rows: tuple[int, int], cols: tuple[int, int]) -> FloatArray:
        """Stripe transmission of a canvas region (all ones without stripes)."""
        if self.stripes is None:
            return np.ones((rows[1] - rows[0], cols[1] - cols[0]), dtype=np.float32)
        return self.stripes.factor(rows, cols)

    def to_json(self) -> dict[str, Any]:
        return {
            "microscope": "smartspim",
            "out_dir": str(self.out_dir),
            "subfolders": self.subfolders,
            "tiling": format_tiling(self.grid.tiling),
            "overlap": self.grid.overlap,
            "tile_shape": list(self.grid.tile_shape),
            "canvas_shape": list(self.grid.canvas_shape),
            "tiles": [
                {"column": t.column, "row": t.row, "x": t.x, "y": t.y, "folder": self.tile_folder(t.column, t.row)}
                for t in self.grid.tiles
            ],
            "plane_tenths": [self.plane_tenths[0], self.plane_tenths[-1]],
            "n_planes": self.n_planes,
            "z_step_um": self.z_step_um,
            "voxel_size_um": list(self.voxel_size_um),
            "ventral_up": self.ventral_up,
            "stripes": None if self.stripes is None else [vars(s) for s in self.stripes.stripes],
            "flat_paths": {k: str(v) for k, v in self.flat_paths.items()},
            "raw_to_atlas_um": self.raw_to_atlas_um.tolist(),
            "cells_xyz": self.cells_xyz.tolist(),
            "file_count": len(self.files),
        }


def write_smartspim(
    out_dir: Path,
    brain: Brain,
    *,
    tiling: tuple[int, int] = (2, 2),
    overlap: float = 0.1,
    channels: Sequence[str] = ("488", "642"),
    ventral_up: bool = False,
    z_step_um: float | None = None,
    n_planes: int | None = None,
    tile_shape: tuple[int, int] | None = None,
    jitter_px: int = 0,
    stripes: bool = True,
    flat: bool = True,
    noise_sigma: float = 10.0,
    stage_origin_tenths: tuple[int, int, int] = STAGE_ORIGIN_TENTHS,
    subfolders: dict[str, str] | None = None,
    seed: int | None = None,
) -> SmartspimTruth:
    """Write one channel subfolder per wavelength under `out_dir` (a `resolution_<res>[_ventral_up]`
    folder) and return the ground truth. `tiling` is (columns, rows)."""
    unknown = [c for c in channels if c not in SMARTSPIM_WAVELENGTHS]
    if unknown or not channels or len(set(channels)) != len(channels):
        raise ValueError(f"SmartSPIM channels are distinct values of {SMARTSPIM_WAVELENGTHS}, got {tuple(channels)}")
    seed = brain.seed if seed is None else seed
    rng = np.random.default_rng([seed, 2])
    z_step = float(z_step_um or brain.voxel_size_um[2])
    planes = n_planes or plane_count(brain, z_step)
    grid = plan_tiles(brain.shape[1:], tiling, overlap, rng, tile_shape=tile_shape, jitter_px=jitter_px)
    pixel_x, pixel_y = brain.voxel_size_um[0], brain.voxel_size_um[1]
    x0, y0, z0 = stage_origin_tenths
    to_sample = raw_transform(brain, planes, z_step, ventral_up)
    truth = SmartspimTruth(
        out_dir=out_dir,
        grid=grid,
        subfolders={c: (subfolders or {}).get(c, smartspim_channel_folder(c)) for c in channels},
        column_tenths=tuple(x0 + round(c * grid.step[0] * pixel_x * 10) for c in range(tiling[0])),
        row_tenths=tuple(y0 + round(r * grid.step[1] * pixel_y * 10) for r in range(tiling[1])),
        plane_tenths=tuple(z0 + round(k * z_step * 10) for k in range(planes)),
        z_step_um=z_step,
        voxel_size_um=(pixel_x, pixel_y, z_step),
        ventral_up=ventral_up,
        noise_sigma=noise_sigma,
        stripes=make_stripes(grid.canvas_shape, rng) if stripes else None,
        flat_paths={c: out_dir / (subfolders or {}).get(c, smartspim_channel_folder(c)) / FLAT_NAME for c in channels}
        if flat
        else {},
        raw_to_sample=to_sample,
        raw_to_atlas_um=brain.sample_to_atlas_um @ scale_matrix(brain.voxel_size_um) @ to_sample,
        cells_xyz=apply_affine(np.linalg.inv(to_sample), brain.cells_xyz),
        files=(),
    )
    height, width = grid.tile_shape
    files: list[Path] = []
    for wavelength in channels:
        look = channel_look(wavelength)
        for tile in grid.tiles:
            truth.tile_dir(wavelength, tile.column, tile.row).mkdir(parents=True, exist_ok=True)
        if wavelength in truth.flat_paths:
            write_float_image(truth.flat_paths[wavelength], grid.canvas_shape, truth.flat_rows)
        for tile in grid.tiles:
            rows, cols = (tile.y, tile.y + height), (tile.x, tile.x + width)
            optics = truth.flat_field(rows, cols) * truth.stripe_factor(rows, cols)
            for z in range(planes):
                signal = brain.render(z, look, rows, cols, to_sample) * optics
                noise = noise_rng(seed, int(wavelength), tile.column, tile.row, z)
                path = truth.plane_path(wavelength, tile.column, tile.row, z)
                write_plane(path, to_counts(signal, noise, noise_sigma))
                files.append(path)
    return replace(truth, files=tuple(files))
