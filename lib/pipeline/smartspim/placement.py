"""Global tile placement (the `place` stage) and its copy for the other channels (`copy_placement`).

Tile positions solve a weighted least-squares problem, separately along x and y:

- every measured pair whose overlap NCC is at least `MIN_NCC` and whose NCC peak stands out by at least
  `MIN_SCORE` (its reliability, see `displacements.py`) asks  p_b - p_a = measured, weighted by that
  reliability;
- every pair, measured or not, asks  p_b - p_a = nominal  with the small weight `PRIOR_WEIGHT`, so tiles
  whose overlaps hold no usable structure stay on the stage grid and the problem is never singular;
- tile (0, 0) is pinned to the origin.

Measured pairs that disagree with the solution by more than `MAX_RESIDUAL_PX` are dropped one at a time
(worst first) and the problem is solved again (thresholding). Positions are then rounded to whole pixels
and shifted so the smallest is 0; the canvas is the bounding box of the placed tiles.

`placement.json` in a channel's stitched folder is what `merge` reads. The alignment channel's comes from
`place`; every other channel's is a copy with its own channel named (`copy_placement`), refused when the
two tile grids differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PipelineError
from .displacements import Displacement
from .files import read_json, write_json
from .tiles import ChannelTiles

PLACEMENT_NAME = "placement.json"
PLACEMENT_VERSION = 1
MIN_NCC = 0.5
MIN_SCORE = 0.1
PRIOR_WEIGHT = 0.01
MAX_RESIDUAL_PX = 2.0


@dataclass(frozen=True)
class Placement:
    """Whole-pixel top-left corners (x, y) of every tile on the stitched canvas."""

    wavelength: str
    subfolder: str
    tile_shape: tuple[int, int]  # (height, width)
    canvas_shape: tuple[int, int]  # (height, width)
    positions: dict[tuple[int, int], tuple[int, int]]  # (column, row) -> (x, y)
    copied_from: str | None = None  # the alignment channel's subfolder, for copies
    report: dict[str, Any] | None = None  # how the positions were found (pairs, residuals)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "version": PLACEMENT_VERSION,
            "wavelength": self.wavelength,
            "subfolder": self.subfolder,
            "copied_from": self.copied_from,
            "tile_shape": list(self.tile_shape),
            "canvas_shape": list(self.canvas_shape),
            "tiles": [{"column": c, "row": r, "x": x, "y": y} for (c, r), (x, y) in sorted(self.positions.items())],
        }
        if self.report is not None:
            document["solution"] = self.report
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Placement:
        if document.get("version") != PLACEMENT_VERSION:
            raise PipelineError(f"placement version {document.get('version')!r} is not {PLACEMENT_VERSION}")
        try:
            return cls(
                wavelength=str(document["wavelength"]),
                subfolder=str(document["subfolder"]),
                tile_shape=(int(document["tile_shape"][0]), int(document["tile_shape"][1])),
                canvas_shape=(int(document["canvas_shape"][0]), int(document["canvas_shape"][1])),
                positions={(int(t["column"]), int(t["row"])): (int(t["x"]), int(t["y"])) for t in document["tiles"]},
                copied_from=document.get("copied_from"),
                report=document.get("solution"),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise PipelineError(f"the placement file is damaged: {exc!r}") from exc


def placement_path(stitched_dir: Path) -> Path:
    return stitched_dir / PLACEMENT_NAME


def write_placement(stitched_dir: Path, placement: Placement) -> Path:
    path = placement_path(stitched_dir)
    write_json(path, placement.to_json())
    return path


def read_placement(stitched_dir: Path, written_by: str = "place") -> Placement:
    return Placement.from_json(read_json(placement_path(stitched_dir), "placement file", written_by))


def _solve(
    keys: list[tuple[int, int]], pairs: list[Displacement], used: list[bool]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Least-squares positions (n, 2) of the tiles in `keys` order."""
    index = {key: i for i, key in enumerate(keys)}
    rows: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    targets: list[tuple[float, float]] = []
    weights: list[float] = []

    def equation(a: tuple[int, int], b: tuple[int, int], target: tuple[float, float], weight: float) -> None:
        row = np.zeros(len(keys))
        row[index[b]], row[index[a]] = 1.0, -1.0
        rows.append(row)
        targets.append(target)
        weights.append(weight)

    for pair, use in zip(pairs, used, strict=True):
        equation(pair.a, pair.b, pair.nominal, PRIOR_WEIGHT)
        if use and pair.measured is not None:
            equation(pair.a, pair.b, pair.measured, pair.score)
    anchor = np.zeros(len(keys))
    anchor[0] = 1.0
    rows.append(anchor)
    targets.append((0.0, 0.0))
    weights.append(1.0)
    root = np.sqrt(np.asarray(weights))[:, None]
    matrix = np.asarray(rows) * root
    rhs = np.asarray(targets) * root
    solution, *_ = np.linalg.lstsq(matrix, rhs, rcond=None)
    return np.asarray(solution, dtype=np.float64)


def solve_placement(tiles: ChannelTiles, pairs: list[Displacement]) -> Placement:
    """Positions of the tiles from the pairwise displacements (see the module docstring)."""
    keys = [tile.key for tile in tiles.tiles]
    used = [pair.measured is not None and pair.ncc >= MIN_NCC and pair.score >= MIN_SCORE for pair in pairs]
    residuals = [0.0] * len(pairs)
    while True:
        positions = _solve(keys, pairs, used)
        at = {key: positions[i] for i, key in enumerate(keys)}
        worst, worst_residual = -1, MAX_RESIDUAL_PX
        for i, pair in enumerate(pairs):
            if pair.measured is None:
                continue
            fitted = at[pair.b] - at[pair.a]
            residuals[i] = float(np.hypot(fitted[0] - pair.measured[0], fitted[1] - pair.measured[1]))
            if used[i] and residuals[i] > worst_residual:
                worst, worst_residual = i, residuals[i]
        if worst < 0:
            break
        used[worst] = False
    rounded = np.rint(positions - positions.min(axis=0)).astype(int)
    height, width = tiles.tile_shape
    placed = {key: (int(rounded[i, 0]), int(rounded[i, 1])) for i, key in enumerate(keys)}
    canvas = (int(rounded[:, 1].max()) + height, int(rounded[:, 0].max()) + width)
    report = {
        "min_ncc": MIN_NCC,
        "min_score": MIN_SCORE,
        "prior_weight": PRIOR_WEIGHT,
        "max_residual_px": MAX_RESIDUAL_PX,
        "fitted": {f"{key[0]},{key[1]}": [round(float(v), 3) for v in positions[i]] for i, key in enumerate(keys)},
        "pairs": [
            dict(pair.to_json(), used=use, residual=None if pair.measured is None else round(residual, 3))
            for pair, use, residual in zip(pairs, used, residuals, strict=True)
        ],
    }
    return Placement(tiles.wavelength, tiles.subfolder, tiles.tile_shape, canvas, placed, report=report)


def copy_for_channel(source: Placement, tiles: ChannelTiles, alignment: ChannelTiles) -> Placement:
    """The alignment channel's placement for another channel, which must have the same tile grid."""
    problems = []
    if (tiles.columns, tiles.rows) != (alignment.columns, alignment.rows):
        problems.append(
            f"{tiles.columns}x{tiles.rows} tiles against {alignment.columns}x{alignment.rows} in {alignment.subfolder}"
        )
    if tiles.tile_shape != alignment.tile_shape:
        problems.append(f"tiles of {tiles.tile_shape} pixels against {alignment.tile_shape}")
    if tiles.n_planes != alignment.n_planes:
        problems.append(f"{tiles.n_planes} planes against {alignment.n_planes}")
    if problems:
        raise PipelineError(
            f"{tiles.subfolder} cannot reuse the placement of {alignment.subfolder}: {'; '.join(problems)}"
        )
    same_stage = all(
        (t.x_tenths, t.y_tenths) == (u.x_tenths, u.y_tenths) for t, u in zip(tiles.tiles, alignment.tiles, strict=True)
    )
    return Placement(
        wavelength=tiles.wavelength,
        subfolder=tiles.subfolder,
        tile_shape=source.tile_shape,
        canvas_shape=source.canvas_shape,
        positions=dict(source.positions),
        copied_from=alignment.subfolder,
        report={"same_stage_positions": same_stage},
    )
