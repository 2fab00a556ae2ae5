"""The tile tree of one SmartSPIM channel and the import manifest that describes it.

    <rawdata_dir>/<subfolder>/<XXXXXX>/<XXXXXX>_<YYYYYY>/<ZZZZZZ>.tif

Column folders are stage X positions, row folders stage Y positions, plane files stage Z positions, all
in tenths of a micron. Columns are numbered by ascending X, rows by ascending Y within their column, planes
by ascending Z. Stage X runs along the image columns (x, axis 1) and stage Y along the image rows (y, axis
0), both in the direction of increasing pixel index, so a tile's nominal position in
pixels is its stage offset from the first tile divided by the pixel size.

The `import` stage writes the manifest as `<subfolder>_stitched/import_manifest.json`; every later stage
of the channel reads the tiles through it and never lists the tree again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from ..errors import PipelineError
from ..params import SmartspimChannel
from .files import read_image, read_json, write_json

MANIFEST_NAME = "import_manifest.json"
MANIFEST_VERSION = 1
COLUMN_RE = re.compile(r"^\d{6}$")
ROW_RE = re.compile(r"^(?P<column>\d{6})_(?P<row>\d{6})$")
PLANE_RE = re.compile(r"^(?P<z>\d{6})\.tiff?$")
MAX_LISTED = 5  # problems named in one error message


@dataclass(frozen=True)
class TileSource:
    """One tile: its grid position, stage position and folder relative to the channel subfolder."""

    column: int
    row: int
    x_tenths: int
    y_tenths: int
    folder: str  # "<XXXXXX>/<XXXXXX>_<YYYYYY>"

    @property
    def key(self) -> tuple[int, int]:
        return (self.column, self.row)


@dataclass(frozen=True)
class ChannelTiles:
    """The import manifest of one channel: a complete tile grid with the same planes in every tile."""

    wavelength: str
    subfolder: str
    channel_dir: Path
    columns: int
    rows: int
    tiles: tuple[TileSource, ...]  # column-major: (0, 0), (0, 1), ..., (1, 0), ...
    plane_files: tuple[str, ...]  # file names in z order, the same in every tile
    tile_shape: tuple[int, int]  # (height, width) pixels
    dtype: str
    pixel_size_um: tuple[float, float]  # (x, y)

    @property
    def n_planes(self) -> int:
        return len(self.plane_files)

    def tile(self, column: int, row: int) -> TileSource:
        return self.tiles[column * self.rows + row]

    def plane_path(self, tile: TileSource, z: int) -> Path:
        return self.channel_dir / tile.folder / self.plane_files[z]

    def read_plane(self, tile: TileSource, z: int) -> npt.NDArray[Any]:
        image = read_image(self.plane_path(tile, z))
        if image.shape != self.tile_shape:
            raise PipelineError(
                f"{self.plane_path(tile, z)} has shape {image.shape}, the other tiles {self.tile_shape}"
            )
        return image

    def nominal_position(self, tile: TileSource) -> tuple[float, float]:
        """(x, y) pixels of the tile's top-left corner from the stage positions, tile (0, 0) at the origin."""
        x0 = min(t.x_tenths for t in self.tiles)
        y0 = min(t.y_tenths for t in self.tiles)
        return (
            (tile.x_tenths - x0) / 10.0 / self.pixel_size_um[0],
            (tile.y_tenths - y0) / 10.0 / self.pixel_size_um[1],
        )

    def nominal_overlap_px(self) -> tuple[int, int]:
        """(x, y) overlap of neighbouring tiles on the nominal grid (0 along an axis with one tile)."""
        height, width = self.tile_shape
        overlap_x = overlap_y = 0
        if self.columns > 1:
            step = self.nominal_position(self.tile(1, 0))[0] - self.nominal_position(self.tile(0, 0))[0]
            overlap_x = max(0, round(width - step))
        if self.rows > 1:
            step = self.nominal_position(self.tile(0, 1))[1] - self.nominal_position(self.tile(0, 0))[1]
            overlap_y = max(0, round(height - step))
        return (overlap_x, overlap_y)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "wavelength": self.wavelength,
            "subfolder": self.subfolder,
            "channel_dir": str(self.channel_dir),
            "columns": self.columns,
            "rows": self.rows,
            "tile_shape": list(self.tile_shape),
            "dtype": self.dtype,
            "pixel_size_um": list(self.pixel_size_um),
            "plane_files": list(self.plane_files),
            "tiles": [
                {"column": t.column, "row": t.row, "x_tenths": t.x_tenths, "y_tenths": t.y_tenths, "folder": t.folder}
                for t in self.tiles
            ],
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ChannelTiles:
        if document.get("version") != MANIFEST_VERSION:
            raise PipelineError(f"import manifest version {document.get('version')!r} is not {MANIFEST_VERSION}")
        try:
            height, width = (int(v) for v in document["tile_shape"])
            pixel_x, pixel_y = (float(v) for v in document["pixel_size_um"])
            return cls(
                wavelength=str(document["wavelength"]),
                subfolder=str(document["subfolder"]),
                channel_dir=Path(document["channel_dir"]),
                columns=int(document["columns"]),
                rows=int(document["rows"]),
                tiles=tuple(
                    TileSource(
                        int(t["column"]), int(t["row"]), int(t["x_tenths"]), int(t["y_tenths"]), str(t["folder"])
                    )
                    for t in document["tiles"]
                ),
                plane_files=tuple(str(name) for name in document["plane_files"]),
                tile_shape=(height, width),
                dtype=str(document["dtype"]),
                pixel_size_um=(pixel_x, pixel_y),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PipelineError(f"the import manifest is damaged: {exc!r}") from exc


def manifest_path(stitched_dir: Path) -> Path:
    return stitched_dir / MANIFEST_NAME


def write_manifest(stitched_dir: Path, tiles: ChannelTiles) -> Path:
    path = manifest_path(stitched_dir)
    write_json(path, tiles.to_json())
    return path


def read_manifest(stitched_dir: Path) -> ChannelTiles:
    return ChannelTiles.from_json(read_json(manifest_path(stitched_dir), "import manifest", "import"))


def _folders(folder: Path, pattern: re.Pattern[str]) -> Iterator[tuple[str, re.Match[str]]]:
    with os.scandir(folder) as entries:
        for entry in entries:
            match = pattern.match(entry.name)
            if match and entry.is_dir():
                yield entry.name, match


def _plane_files(folder: Path) -> dict[int, str]:
    """z tenths -> file name; a z position present as both .tif and .tiff keeps the .tif."""
    found: dict[int, str] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            match = PLANE_RE.match(entry.name)
            if match and entry.is_file():
                z = int(match["z"])
                if z not in found or entry.name.endswith(".tif"):
                    found[z] = entry.name
    return found


def _listed(problems: list[str]) -> str:
    shown = "; ".join(problems[:MAX_LISTED])
    more = len(problems) - MAX_LISTED
    return shown + (f"; and {more} more" if more > 0 else "")


def scan_channel(
    rawdata_dir: Path,
    channel: SmartspimChannel,
    *,
    tiling: tuple[int, int],
    n_planes: int,
    pixel_size_um: tuple[float, float],
) -> ChannelTiles:
    """List and check one channel's tile tree. `tiling` is (columns, rows); `n_planes` 0 takes the plane
    count from the data. Raises `PipelineError` naming what is missing when the grid is not complete."""
    channel_dir = rawdata_dir / channel.subfolder
    if not channel_dir.is_dir():
        raise PipelineError(f"the raw data subfolder {channel_dir} of channel {channel.wavelength} does not exist")
    columns, rows = tiling
    problems: list[str] = []
    tiles: list[TileSource] = []
    planes: dict[tuple[int, int], dict[int, str]] = {}
    column_names = sorted(name for name, _ in _folders(channel_dir, COLUMN_RE))
    for column, column_name in enumerate(column_names):
        row_names = sorted(
            (name for name, match in _folders(channel_dir / column_name, ROW_RE) if match["column"] == column_name),
            key=lambda name: int(name[7:]),
        )
        if len(row_names) != rows:
            problems.append(f"column folder {column_name} has {len(row_names)} row folders, expected {rows}")
        for row, row_name in enumerate(row_names):
            tile = TileSource(column, row, int(column_name), int(row_name[7:]), f"{column_name}/{row_name}")
            tiles.append(tile)
            planes[tile.key] = _plane_files(channel_dir / tile.folder)
    every_z = sorted(set().union(*planes.values())) if planes else []
    expected_planes = n_planes if n_planes > 0 else len(every_z)
    if n_planes > 0 and len(every_z) != n_planes:
        problems.append(f"the tiles hold {len(every_z)} distinct z positions, expected {n_planes}")
    for tile in tiles:
        missing = [z for z in every_z if z not in planes[tile.key]]
        if missing:
            names = ", ".join(f"{z:06d}.tif" for z in missing[:3]) + (", ..." if len(missing) > 3 else "")
            problems.append(f"tile {tile.folder} lacks {len(missing)} plane(s) ({names})")
    if len(column_names) != columns or problems or not every_z:
        found_files = sum(len(p) for p in planes.values())
        summary = (
            f"{channel.subfolder}: the tile grid is incomplete: expected {columns} x {rows} tiles "
            f"(tiling {columns}x{rows}) with {expected_planes} planes each = {columns * rows * expected_planes} "
            f"plane files, found {len(column_names)} column folders, {len(tiles)} tiles and {found_files} plane files"
        )
        raise PipelineError(summary + (f" ({_listed(problems)})" if problems else ""))
    names_of = {z: planes[tiles[0].key][z] for z in every_z}
    differing = [t.folder for t in tiles if any(planes[t.key][z] != names_of[z] for z in every_z)]
    if differing:
        raise PipelineError(
            f"{channel.subfolder}: tiles mix .tif and .tiff names for the same planes ({_listed(differing)})"
        )
    shape, dtype = _tile_format(channel_dir, tiles, names_of[every_z[0]])
    return ChannelTiles(
        wavelength=channel.wavelength,
        subfolder=channel.subfolder,
        channel_dir=channel_dir,
        columns=columns,
        rows=rows,
        tiles=tuple(tiles),
        plane_files=tuple(names_of[z] for z in every_z),
        tile_shape=shape,
        dtype=dtype,
        pixel_size_um=pixel_size_um,
    )


def _tile_format(channel_dir: Path, tiles: list[TileSource], first_plane: str) -> tuple[tuple[int, int], str]:
    """Shape and data type from each tile's first plane header (cheap: no pixel data is read)."""
    formats: dict[tuple[tuple[int, ...], str], list[str]] = {}
    for tile in tiles:
        path = channel_dir / tile.folder / first_plane
        try:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages.first
                key = (tuple(int(n) for n in page.shape), str(np.dtype(page.dtype)))
        except (OSError, ValueError, tifffile.TiffFileError) as exc:
            raise PipelineError(f"cannot read the image {path}: {exc}") from exc
        formats.setdefault(key, []).append(tile.folder)
    if len(formats) > 1:
        described = [f"{len(folders)} tile(s) of {shape} {dtype}" for (shape, dtype), folders in formats.items()]
        raise PipelineError(f"the tiles differ in shape or type: {', '.join(described)}")
    (shape, dtype), _ = formats.popitem()
    if len(shape) != 2:
        raise PipelineError(f"tile planes have shape {shape}, expected one 2-D plane per file")
    if not np.issubdtype(np.dtype(dtype), np.integer) and not np.issubdtype(np.dtype(dtype), np.floating):
        raise PipelineError(f"tile planes have data type {dtype}, expected 16-bit integers")
    return (shape[0], shape[1]), dtype
