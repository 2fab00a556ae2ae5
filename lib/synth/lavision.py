"""Synthetic LaVision UltraMicroscope II acquisitions.

One 16-bit TIFF per z plane, tile, light sheet and channel, written plane by plane. Each sheet's files
carry its own illumination falloff across the canvas (so blending matters); tiles overlap by the given
fraction at known, optionally jittered, pixel offsets; channels sharing the folder get `Filter` indexes
in ascending wavelength order. Ventral-up data is the same brain flipped along x and z.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .anatomy import FloatArray
from .brain import Brain, Matrix, Points, apply_affine, channel_look, scale_matrix, ventral_up_flip
from .names import (
    LAVISION_WAVELENGTHS,
    SHEETS,
    Sheet,
    filter_indexes,
    format_tiling,
    lavision_file_name,
    lavision_prefix,
    sheet_codes,
)
from .optics import TileGrid, noise_rng, plan_tiles, sheet_profile, to_counts
from .stream import write_plane


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields, not objects
class LavisionTruth:
    """What was written and the ground truth behind it. Coordinates are raw canvas voxels (x, y, z):
    tile (column, row) covers x in [tile.x, tile.x + width) and y in [tile.y, tile.y + height)."""

    out_dir: Path
    prefix: str
    grid: TileGrid
    filters: dict[str, int]  # wavelength -> Filter index
    sheet_codes: dict[Sheet, str]  # sheet -> C00 / C01
    n_planes: int
    z_step_um: float
    voxel_size_um: tuple[float, float, float]
    ventral_up: bool
    extension: str
    bracket: bool
    noise_sigma: float
    raw_to_sample: Matrix = field(repr=False)  # raw voxel -> dorsal sample voxel of the brain
    raw_to_atlas_um: Matrix = field(repr=False)  # raw voxel -> atlas-frame µm
    cells_xyz: Points = field(repr=False)  # planted cells, raw voxels
    files: tuple[Path, ...] = field(repr=False)

    def file_name(self, column: int, row: int, sheet: Sheet, z: int, wavelength: str) -> str:
        return lavision_file_name(
            self.prefix,
            column,
            row,
            self.sheet_codes[sheet],
            z,
            self.filters[wavelength],
            extension=self.extension,
            bracket=self.bracket,
        )

    def path(self, column: int, row: int, sheet: Sheet, z: int, wavelength: str) -> Path:
        return self.out_dir / self.file_name(column, row, sheet, z, wavelength)

    def expected_names(self, wavelength: str) -> set[str]:
        """The set the validator expects for one channel: tiles × sheets × planes."""
        return {
            self.file_name(t.column, t.row, sheet, z, wavelength)
            for t in self.grid.tiles
            for sheet in self.sheet_codes
            for z in range(self.n_planes)
        }

    def sheet_profile(self, sheet: Sheet) -> FloatArray:
        """Relative illumination of that sheet along the canvas x axis (multiplies the signal)."""
        return sheet_profile(sheet, self.grid.canvas_shape[1])

    def to_json(self) -> dict[str, Any]:
        return {
            "microscope": "lavision",
            "out_dir": str(self.out_dir),
            "prefix": self.prefix,
            "tiling": format_tiling(self.grid.tiling),
            "overlap": self.grid.overlap,
            "tile_shape": list(self.grid.tile_shape),
            "canvas_shape": list(self.grid.canvas_shape),
            "tiles": [{"column": t.column, "row": t.row, "x": t.x, "y": t.y} for t in self.grid.tiles],
            "filters": self.filters,
            "sheet_codes": dict(self.sheet_codes),
            "n_planes": self.n_planes,
            "z_step_um": self.z_step_um,
            "voxel_size_um": list(self.voxel_size_um),
            "ventral_up": self.ventral_up,
            "raw_to_atlas_um": self.raw_to_atlas_um.tolist(),
            "cells_xyz": self.cells_xyz.tolist(),
            "file_count": len(self.files),
        }


def raw_transform(brain: Brain, n_planes: int, z_step_um: float, ventral_up: bool) -> Matrix:
    """Raw voxel -> dorsal sample voxel: z rescaled to the brain's grid, and the ventral-up flip."""
    flip = ventral_up_flip((n_planes, brain.shape[1], brain.shape[2])) if ventral_up else np.eye(4)
    return np.asarray(scale_matrix((1.0, 1.0, z_step_um / brain.voxel_size_um[2])) @ flip, dtype=np.float64)


def plane_count(brain: Brain, z_step_um: float) -> int:
    """Planes covering the brain's depth at this z step."""
    return int(np.floor((brain.shape[0] - 1) * brain.voxel_size_um[2] / z_step_um + 1e-9)) + 1


def write_lavision(
    out_dir: Path,
    brain: Brain,
    *,
    tiling: tuple[int, int] = (2, 2),
    overlap: float = 0.1,
    channels: Sequence[str] = ("488", "647"),
    sheets: Sequence[Sheet] = ("left", "right"),
    ventral_up: bool = False,
    z_step_um: float | None = None,
    n_planes: int | None = None,
    tile_shape: tuple[int, int] | None = None,
    jitter_px: int = 0,
    noise_sigma: float = 10.0,
    prefix: str | None = None,
    extension: str = ".ome.tif",
    omit_single_tile_bracket: bool = False,
    seed: int | None = None,
) -> LavisionTruth:
    """Write one acquisition folder (the channel's raw data subfolder) and return its ground truth.

    `tiling` is (columns, rows); the canvas is the brain's (y, x) extent unless `tile_shape` says
    otherwise. `z_step_um` defaults to the brain's z voxel size, `n_planes` to the planes covering it."""
    if extension not in (".ome.tif", ".tif"):
        raise ValueError("LaVision files end in .ome.tif (or .tif)")
    unknown = [c for c in channels if c not in LAVISION_WAVELENGTHS]
    if unknown or not channels:
        raise ValueError(f"LaVision channels are {LAVISION_WAVELENGTHS}, got {tuple(channels)}")
    seed = brain.seed if seed is None else seed
    rng = np.random.default_rng([seed, 1])
    z_step = float(z_step_um or brain.voxel_size_um[2])
    planes = n_planes or plane_count(brain, z_step)
    grid = plan_tiles(brain.shape[1:], tiling, overlap, rng, tile_shape=tile_shape, jitter_px=jitter_px)
    if prefix is None:
        hour, minute, second = (int(v) for v in rng.integers((8, 0, 0), (20, 60, 60)))
        prefix = lavision_prefix(hour, minute, second)
    bracket = not (omit_single_tile_bracket and tiling == (1, 1))
    filters = filter_indexes(channels)
    codes = sheet_codes(sheets)
    to_sample = raw_transform(brain, planes, z_step, ventral_up)
    truth_files: list[Path] = []
    truth = LavisionTruth(
        out_dir=out_dir,
        prefix=prefix,
        grid=grid,
        filters=filters,
        sheet_codes=codes,
        n_planes=planes,
        z_step_um=z_step,
        voxel_size_um=(brain.voxel_size_um[0], brain.voxel_size_um[1], z_step),
        ventral_up=ventral_up,
        extension=extension,
        bracket=bracket,
        noise_sigma=noise_sigma,
        raw_to_sample=to_sample,
        raw_to_atlas_um=brain.sample_to_atlas_um @ scale_matrix(brain.voxel_size_um) @ to_sample,
        cells_xyz=apply_affine(np.linalg.inv(to_sample), brain.cells_xyz),
        files=(),
    )
    profiles = {sheet: truth.sheet_profile(sheet) for sheet in codes}
    height, width = grid.tile_shape
    out_dir.mkdir(parents=True, exist_ok=True)
    for wavelength in filters:
        look = channel_look(wavelength)
        for z in range(planes):
            for tile in grid.tiles:
                signal = brain.render(z, look, (tile.y, tile.y + height), (tile.x, tile.x + width), to_sample)
                for sheet in codes:
                    lit = signal * profiles[sheet][tile.x : tile.x + width][None, :]
                    noise = noise_rng(seed, int(wavelength), SHEETS.index(sheet), tile.column, tile.row, z)
                    path = truth.path(tile.column, tile.row, sheet, z, wavelength)
                    write_plane(path, to_counts(lit, noise, noise_sigma), truth.voxel_size_um)
                    truth_files.append(path)
    return replace(truth, files=tuple(truth_files))
