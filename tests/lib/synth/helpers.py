"""Reading helpers and a minimal reading of the raw-data validation rules, to check generated folders."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tifffile

from lib.synth import LavisionTruth, SmartspimTruth
from lib.synth.names import LAVISION_NAME_RE

SIX = re.compile(r"^\d{6}$")


def read(path: Path) -> np.ndarray:
    return np.asarray(tifffile.imread(path))


def lavision_canvas(truth: LavisionTruth, sheet: str, wavelength: str, z: int) -> np.ndarray:
    """Tiles pasted at their true offsets (later tiles over earlier ones)."""
    canvas = np.zeros(truth.grid.canvas_shape, dtype=np.float64)
    height, width = truth.grid.tile_shape
    for tile in truth.grid.tiles:
        canvas[tile.y : tile.y + height, tile.x : tile.x + width] = read(
            truth.path(tile.column, tile.row, sheet, z, wavelength)
        )
    return canvas


def smartspim_canvas(truth: SmartspimTruth, wavelength: str, z: int) -> np.ndarray:
    canvas = np.zeros(truth.grid.canvas_shape, dtype=np.float64)
    height, width = truth.grid.tile_shape
    for tile in truth.grid.tiles:
        canvas[tile.y : tile.y + height, tile.x : tile.x + width] = read(
            truth.plane_path(wavelength, tile.column, tile.row, z)
        )
    return canvas


def lavision_problems(folder: Path, filter_index: int, tiling: tuple[int, int], sheets: int, planes: int) -> list[str]:
    """Rule 3: the files with this Filter index are exactly tiles x sheets x planes."""
    found = set()
    for path in folder.iterdir():
        match = LAVISION_NAME_RE.match(path.name)
        if match and int(match["filter"]) == filter_index:
            found.add((int(match["column"] or 0), int(match["row"] or 0), match["sheet"], int(match["z"])))
    codes = ["00", "01"][:sheets]
    expected = {(c, r, s, z) for c in range(tiling[0]) for r in range(tiling[1]) for s in codes for z in range(planes)}
    problems = []
    if len(found) != len(expected):
        problems.append(f"expected {len(expected)} raw files, found {len(found)}")
    problems += [f"missing {item}" for item in sorted(expected - found)]
    problems += [f"outside {item}" for item in sorted(found - expected)]
    return problems


def smartspim_problems(channel_dir: Path, columns: int, rows: int, planes: int) -> list[str]:
    """Rule 4: C column folders, R row folders repeating the column digits in each, n planes in each."""
    problems = []
    column_dirs = sorted(p for p in channel_dir.iterdir() if p.is_dir() and SIX.match(p.name))
    if len(column_dirs) != columns:
        problems.append(f"expected {columns} tile column folders, found {len(column_dirs)}")
    for column in column_dirs:
        row_dirs = [p for p in column.iterdir() if p.is_dir() and re.fullmatch(rf"{column.name}_\d{{6}}", p.name)]
        if len(row_dirs) != rows:
            problems.append(f"column {column.name}: expected {rows} tile row folders, found {len(row_dirs)}")
        for row in row_dirs:
            count = len([p for p in row.iterdir() if re.fullmatch(r"\d{6}\.tiff?", p.name)])
            if count != planes:
                problems.append(f"tile {column.name}/{row.name}: expected {planes} z planes, found {count}")
    return problems
