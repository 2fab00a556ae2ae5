"""Tile placement for `stitch`: pairwise offsets of neighbouring tiles by (masked) phase correlation around
their nominal overlaps, then one global weighted least-squares solve.

1. Nominal grid: tile (column c, row r) at (c·step_x, r·step_y), step = round(size · (1 − overlap)).
2. For each pair of neighbours (right and lower), the tiles' nominal overlap regions in a projection over
   a few planes, each widened by a margin m (the overlap width, at least MIN_SEARCH_MARGIN_PX), are
   registered by
   `skimage.registration.phase_cross_correlation` given masks: the masked normalised cross-correlation,
   computed by FFT over every shift that keeps MIN_SEARCH_OVERLAP of the regions overlapping, so it is not
   periodic and finds overlaps far from their nominal place (plain phase correlation of the nominal
   overlaps alone failed on narrow overlaps with a few pixels of stage error). The offset is kept when
   it lies within m of nominal on both axes, leaves at least MIN_OVERLAP_PX shared rows and columns, and
   the normalised cross-correlation (NCC) of the true overlap at that offset reaches MIN_SCORE.
3. Solve for all tile positions at once: each kept pair says p_b − p_a = measured (weight: its NCC), each
   pair also says p_b − p_a = nominal (weight PRIOR_WEIGHT: holds tiles whose pairs were all rejected),
   tile (0, 0) is anchored. A kept pair disagreeing with the solution by more than MAX_RESIDUAL pixels is
   dropped and the system solved again.
4. Positions are rounded to whole pixels and shifted so that the smallest x and y are 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .planes import FloatImage

TileIndex = tuple[int, int]  # (column, row)
Offset = tuple[float, float]  # (dx, dy) pixels

MIN_OVERLAP_PX = 4  # an offset must leave at least this many shared rows and columns
MIN_SEARCH_MARGIN_PX = 16  # the search reaches at least this far from the nominal offset
MIN_SCORE = 0.5  # NCC needed to trust a measured pair
PRIOR_WEIGHT = 1e-4  # tiny: it pulls a measured tile towards nominal by 0.01 % of its deviation
MAX_RESIDUAL = 2.0
MIN_SEARCH_OVERLAP = 0.1  # smallest overlap of the search regions considered, as a fraction of their size


@dataclass(frozen=True)
class PairOffset:
    """Where tile b lies relative to tile a: nominally, as measured, and whether the solve used it."""

    a: TileIndex
    b: TileIndex
    nominal: Offset
    measured: Offset | None
    score: float
    used: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "a": list(self.a),
            "b": list(self.b),
            "nominal": list(self.nominal),
            "measured": list(self.measured) if self.measured else None,
            "score": round(self.score, 4),
            "used": self.used,
        }


@dataclass(frozen=True)
class Placement:
    """Top-left corner (x, y) of every tile on the stitched canvas, in whole pixels, smallest 0."""

    tile_shape: tuple[int, int]  # (height, width)
    positions: dict[TileIndex, tuple[int, int]]
    pairs: tuple[PairOffset, ...] = ()

    @property
    def canvas_shape(self) -> tuple[int, int]:
        height, width = self.tile_shape
        return (
            max(y for _, y in self.positions.values()) + height,
            max(x for x, _ in self.positions.values()) + width,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "tile_shape": list(self.tile_shape),
            "canvas_shape": list(self.canvas_shape),
            "tiles": [{"column": c, "row": r, "x": x, "y": y} for (c, r), (x, y) in sorted(self.positions.items())],
            "pairs": [pair.to_json() for pair in self.pairs],
        }


def nominal_positions(
    tiling: tuple[int, int], tile_shape: tuple[int, int], overlap: float
) -> dict[TileIndex, tuple[int, int]]:
    height, width = tile_shape
    step_x, step_y = round(width * (1 - overlap)), round(height * (1 - overlap))
    columns, rows = tiling
    return {(c, r): (c * step_x, r * step_y) for c in range(columns) for r in range(rows)}


def neighbour_pairs(tiling: tuple[int, int]) -> list[tuple[TileIndex, TileIndex]]:
    columns, rows = tiling
    pairs = [((c, r), (c + 1, r)) for c in range(columns - 1) for r in range(rows)]
    return pairs + [((c, r), (c, r + 1)) for c in range(columns) for r in range(rows - 1)]


def _overlap(shape: tuple[int, int], dx: int, dy: int) -> tuple[slice, slice, slice, slice] | None:
    """(rows of a, columns of a, rows of b, columns of b) shared when b lies at (dx, dy) from a."""
    height, width = shape
    x0, x1, y0, y1 = max(0, dx), min(width, dx + width), max(0, dy), min(height, dy + height)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return slice(y0, y1), slice(x0, x1), slice(y0 - dy, y1 - dy), slice(x0 - dx, x1 - dx)


def overlap_ncc(a: FloatImage, b: FloatImage, dx: int, dy: int) -> float:
    """Normalised cross-correlation (Pearson) of the pixels a and b share when b lies at (dx, dy) from a;
    0 when they share fewer than MIN_OVERLAP_PX columns or rows, or either part is flat."""
    region = _overlap((a.shape[0], a.shape[1]), dx, dy)
    if region is None:
        return 0.0
    rows_a, cols_a, rows_b, cols_b = region
    part_a = a[rows_a, cols_a].astype(np.float64)
    part_b = b[rows_b, cols_b].astype(np.float64)
    if min(part_a.shape) < MIN_OVERLAP_PX:
        return 0.0
    part_a -= part_a.mean()
    part_b -= part_b.mean()
    norm = float(np.sqrt((part_a * part_a).sum() * (part_b * part_b).sum()))
    return float((part_a * part_b).sum() / norm) if norm > 0 else 0.0


def search_regions(
    shape: tuple[int, int], nominal: tuple[int, int], margin: int
) -> tuple[tuple[slice, slice], tuple[slice, slice], tuple[int, int]] | None:
    """The nominal overlap of a and b (b at `nominal` from a), widened by `margin` pixels on every side
    within each tile: (rows, columns) in a, (rows, columns) in b (same shape), and the (x, y) of a's
    region origin in a minus b's region origin in b (so b lies at that plus the regions' registration
    shift from a)."""
    region = _overlap(shape, nominal[0], nominal[1])
    if region is None:
        return None
    height, width = shape
    rows_a, cols_a, rows_b, cols_b = region

    def widen(part: slice, size: int) -> slice:
        return slice(max(0, part.start - margin), min(size, part.stop + margin))

    in_a = (widen(rows_a, height), widen(cols_a, width))
    in_b = (widen(rows_b, height), widen(cols_b, width))
    origin = (in_a[1].start - in_b[1].start, in_a[0].start - in_b[0].start)
    return in_a, in_b, origin


def measure_pair(a: FloatImage, b: FloatImage, nominal: tuple[int, int]) -> tuple[Offset | None, float]:
    """Offset (dx, dy) of b relative to a, searched within ± the search margin (the nominal overlap width,
    at least MIN_SEARCH_MARGIN_PX) of `nominal`, and its NCC score; (None, score) when the score is below
    MIN_SCORE or the offset leaves fewer than MIN_OVERLAP_PX shared rows or columns.

    The two tiles' nominal overlap regions, widened by the margin, are registered by
    `phase_cross_correlation` with masks (masked normalised cross-correlation computed by FFT over every
    shift that keeps at least MIN_SEARCH_OVERLAP of the regions overlapping, so there is no periodic
    wrap-around and the overlap may be far from its nominal place)."""
    from skimage.registration import phase_cross_correlation  # imported here: slow to import, stitch only

    shape = (int(a.shape[0]), int(a.shape[1]))
    overlap = _overlap(shape, nominal[0], nominal[1])
    if overlap is None:
        return None, 0.0
    rows, cols = overlap[0], overlap[1]
    margin = max(min(rows.stop - rows.start, cols.stop - cols.start), MIN_SEARCH_MARGIN_PX)
    regions = search_regions(shape, nominal, margin)
    if regions is None:
        return None, 0.0
    in_a, in_b, origin = regions
    part_a, part_b = a[in_a].astype(np.float64), b[in_b].astype(np.float64)
    everywhere = np.ones(part_a.shape, dtype=bool)
    shift, _, _ = phase_cross_correlation(  # type: ignore[no-untyped-call]
        part_a, part_b, reference_mask=everywhere, moving_mask=everywhere, overlap_ratio=MIN_SEARCH_OVERLAP
    )
    dx, dy = origin[0] + round(float(shift[1])), origin[1] + round(float(shift[0]))
    if max(abs(dx - nominal[0]), abs(dy - nominal[1])) > margin:
        return None, 0.0
    score = overlap_ncc(a, b, dx, dy)
    return ((float(dx), float(dy)) if score >= MIN_SCORE else None), max(score, 0.0)


def solve_positions(
    tiles: list[TileIndex], pairs: list[PairOffset]
) -> tuple[dict[TileIndex, tuple[float, float]], list[PairOffset]]:
    """Weighted least squares for the tile positions (tile `tiles[0]` anchored at 0); returns the
    positions and the pairs with `used` set after dropping the inconsistent ones."""
    column_of = {tile: k for k, tile in enumerate(tiles)}
    kept = [pair.measured is not None for pair in pairs]
    while True:
        rows: list[npt.NDArray[np.float64]] = []
        targets: list[Offset] = []
        weights: list[float] = []
        anchor = np.zeros(len(tiles))
        anchor[0] = 1.0
        rows.append(anchor)
        targets.append((0.0, 0.0))
        weights.append(1.0)
        for pair, keep in zip(pairs, kept, strict=True):
            difference = np.zeros(len(tiles))
            difference[column_of[pair.b]], difference[column_of[pair.a]] = 1.0, -1.0
            rows.append(difference)
            targets.append(pair.nominal)
            weights.append(PRIOR_WEIGHT)
            if keep and pair.measured is not None:
                rows.append(difference)
                targets.append(pair.measured)
                weights.append(max(pair.score, MIN_SCORE))
        root = np.sqrt(np.asarray(weights))[:, None]
        solution, *_ = np.linalg.lstsq(np.asarray(rows) * root, np.asarray(targets) * root, rcond=None)
        residuals = [
            float(np.abs(solution[column_of[p.b]] - solution[column_of[p.a]] - np.asarray(p.measured)).max())
            if keep and p.measured is not None
            else 0.0
            for p, keep in zip(pairs, kept, strict=True)
        ]
        worst = int(np.argmax(residuals)) if residuals else 0
        if not residuals or residuals[worst] <= MAX_RESIDUAL:
            break
        kept[worst] = False
    positions = {tile: (float(solution[k, 0]), float(solution[k, 1])) for tile, k in column_of.items()}
    used = [
        PairOffset(p.a, p.b, p.nominal, p.measured, p.score, keep and p.measured is not None)
        for p, keep in zip(pairs, kept, strict=True)
    ]
    return positions, used


def place_tiles(images: Mapping[TileIndex, FloatImage], tiling: tuple[int, int], overlap: float) -> Placement:
    """Placement of the tiles from one image per tile (e.g. a maximum projection)."""
    first = next(iter(images.values()))
    tile_shape = (int(first.shape[0]), int(first.shape[1]))
    nominal = nominal_positions(tiling, tile_shape, overlap)
    pairs: list[PairOffset] = []
    for a, b in neighbour_pairs(tiling):
        expected = (nominal[b][0] - nominal[a][0], nominal[b][1] - nominal[a][1])
        measured, score = measure_pair(images[a], images[b], expected)
        pairs.append(PairOffset(a, b, (float(expected[0]), float(expected[1])), measured, score, False))
    tiles = sorted(nominal)
    solved, used = solve_positions(tiles, pairs)
    rounded = {tile: (round(x), round(y)) for tile, (x, y) in solved.items()}
    min_x, min_y = min(x for x, _ in rounded.values()), min(y for _, y in rounded.values())
    positions = {tile: (x - min_x, y - min_y) for tile, (x, y) in rounded.items()}
    return Placement(tile_shape, positions, tuple(used))
