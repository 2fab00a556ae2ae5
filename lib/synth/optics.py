"""Tile geometry and the optical effects applied to the rendered signal: light-sheet falloff (LaVision),
flat-field vignetting and stripes (SmartSPIM), camera offset, gain and noise.

Every effect is a closed-form function of canvas coordinates (the stitched plane), so tile overlaps
carry the same content and any tile can be rendered alone, and the ground truth is the function itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .anatomy import FloatArray
from .names import Sheet

CAMERA_OFFSET = 100.0  # counts added by the camera to every pixel
GAIN = 2000.0  # counts per unit of rendered signal
SHEET_FLOOR = 0.25  # a sheet's relative intensity far from its side
SHEET_DECAY_FRACTION = 0.5  # e-folding length of the falloff, as a fraction of the canvas width


@dataclass(frozen=True)
class Tile:
    """One tile: zero-based column (along X) and row (along Y), and its top-left corner on the canvas."""

    column: int
    row: int
    x: int
    y: int


@dataclass(frozen=True)
class TileGrid:
    tiling: tuple[int, int]  # (columns, rows)
    overlap: float
    tile_shape: tuple[int, int]  # (height, width) pixels
    step: tuple[int, int]  # nominal (x, y) stage step in pixels
    canvas_shape: tuple[int, int]  # (height, width) of the stitched plane
    tiles: tuple[Tile, ...]  # column-major: (0,0), (0,1), ..., (1,0), ...

    def tile(self, column: int, row: int) -> Tile:
        return next(t for t in self.tiles if t.column == column and t.row == row)


def _tile_size(extent: int, count: int, overlap: float) -> int:
    size = math.ceil(extent / (1 + (count - 1) * (1 - overlap)))
    while size + (count - 1) * round(size * (1 - overlap)) < extent:
        size += 1
    return max(size, 1)


def plan_tiles(
    canvas_hw: tuple[int, int],
    tiling: tuple[int, int],
    overlap: float,
    rng: np.random.Generator,
    *,
    tile_shape: tuple[int, int] | None = None,
    jitter_px: int = 0,
) -> TileGrid:
    """Tiles covering a (height, width) canvas with the given overlap fraction. With `jitter_px`, every
    tile but [00 x 00] is displaced from its nominal stage position by up to that many pixels per axis,
    as a real stage does; the returned offsets are the true ones."""
    columns, rows = tiling
    if columns < 1 or rows < 1:
        raise ValueError(f"tiling needs at least one column and row, got {tiling}")
    if not 0 <= overlap < 1:
        raise ValueError("overlap must be from 0 up to, but not including, 1")
    height = tile_shape[0] if tile_shape else _tile_size(canvas_hw[0], rows, overlap)
    width = tile_shape[1] if tile_shape else _tile_size(canvas_hw[1], columns, overlap)
    step_x, step_y = round(width * (1 - overlap)), round(height * (1 - overlap))
    overlap_px = min(width - step_x if columns > 1 else width, height - step_y if rows > 1 else height)
    if jitter_px and 2 * jitter_px >= overlap_px:
        raise ValueError(f"jitter of {jitter_px} px would open gaps between tiles at overlap {overlap}")
    placed: list[Tile] = []
    for column in range(columns):
        for row in range(rows):
            dx = dy = 0
            if jitter_px and (column, row) != (0, 0):
                dx, dy = (int(v) for v in rng.integers(-jitter_px, jitter_px + 1, size=2))
            placed.append(Tile(column, row, column * step_x + dx, row * step_y + dy))
    min_x, min_y = min(t.x for t in placed), min(t.y for t in placed)
    tiles = tuple(Tile(t.column, t.row, t.x - min_x, t.y - min_y) for t in placed)
    canvas = (max(t.y for t in tiles) + height, max(t.x for t in tiles) + width)
    return TileGrid((columns, rows), overlap, (height, width), (step_x, step_y), canvas, tiles)


def sheet_profile(sheet: Sheet, width: int) -> FloatArray:
    """Relative illumination along the canvas X axis: the left sheet enters at x = 0 and fades to the
    right, the right sheet mirrors it. Both are equal at the centre, so a sigmoidal blend evens them."""
    x = np.arange(width, dtype=np.float64)
    distance = x if sheet == "left" else (width - 1) - x
    decay = max(SHEET_DECAY_FRACTION * width, 1.0)
    return (SHEET_FLOOR + (1 - SHEET_FLOOR) * np.exp(-distance / decay)).astype(np.float32)


def flat_field(canvas_hw: tuple[int, int], rows: tuple[int, int], cols: tuple[int, int]) -> FloatArray:
    """Smooth vignetting of the stitched plane, 1.0 at its brightest and ~0.6 in the far corner."""
    height, width = canvas_hw
    cy, cx = 0.45 * height, 0.55 * width
    ys = (np.arange(rows[0], rows[1], dtype=np.float64)[:, None] - cy) / max(height, 1)
    xs = (np.arange(cols[0], cols[1], dtype=np.float64)[None, :] - cx) / max(width, 1)
    return (1.0 - 0.6 * (xs**2 + ys**2)).astype(np.float32)


@dataclass(frozen=True)
class Stripe:
    """A shadow cast along +x by an absorber at (x_start, y): Gaussian across y, decaying along x."""

    y: float
    width: float  # sigma across y, pixels
    x_start: float
    depth: float  # fraction of light removed at the absorber
    decay: float  # e-folding length along x, pixels


@dataclass(frozen=True)
class StripePattern:
    """Horizontal stripes (running along x) of the stitched plane; `factor` is the multiplicative
    transmission (1 = no stripe), the ground truth for destriping."""

    stripes: tuple[Stripe, ...]

    def factor(self, rows: tuple[int, int], cols: tuple[int, int]) -> FloatArray:
        out = np.ones((rows[1] - rows[0], cols[1] - cols[0]), dtype=np.float64)
        xs = np.arange(cols[0], cols[1], dtype=np.float64)
        for stripe in self.stripes:
            reach = 4 * stripe.width
            y0, y1 = max(rows[0], math.floor(stripe.y - reach)), min(rows[1], math.ceil(stripe.y + reach) + 1)
            if y0 >= y1:
                continue
            across = np.exp(-((np.arange(y0, y1) - stripe.y) ** 2) / (2 * stripe.width**2))
            along = np.where(xs >= stripe.x_start, np.exp(-(xs - stripe.x_start) / stripe.decay), 0.0)
            out[y0 - rows[0] : y1 - rows[0]] *= 1 - stripe.depth * np.outer(across, along)
        return out.astype(np.float32)


def make_stripes(canvas_hw: tuple[int, int], rng: np.random.Generator, density: float = 1 / 24) -> StripePattern:
    """About one stripe per 1/density rows, at random rows, widths, depths and starts."""
    height, width = canvas_hw
    count = max(1, round(height * density))
    return StripePattern(
        tuple(
            Stripe(
                y=float(rng.uniform(0, height)),
                width=float(rng.uniform(0.6, 1.6)),
                x_start=float(rng.uniform(0, 0.6 * width)),
                depth=float(rng.uniform(0.2, 0.5)),
                decay=float(rng.uniform(1.0, 3.0) * width),
            )
            for _ in range(count)
        )
    )


def noise_rng(seed: int, *keys: int) -> np.random.Generator:
    """An independent, order-free stream for one file: the same keys give the same noise."""
    return np.random.default_rng([seed, *keys])


def to_counts(signal: FloatArray, rng: np.random.Generator, noise_sigma: float) -> npt.NDArray[np.uint16]:
    """Camera counts: offset + gain × signal + Gaussian read noise, clipped to uint16."""
    counts = CAMERA_OFFSET + GAIN * signal.astype(np.float32)
    if noise_sigma > 0:
        counts += rng.normal(0.0, noise_sigma, size=signal.shape).astype(np.float32)
    return np.asarray(np.clip(np.rint(counts), 0, 65535), dtype=np.uint16)
