"""Pairwise tile displacements (the `displcompute` stage).

For every pair of neighbouring tiles (right and lower neighbour) the displacement of the second tile
relative to the first is measured by phase correlation of their overlap on the nominal grid (the prior,
from the stage positions and the pixel size). The images are maximum projections of a few thin slabs of
planes spread through the stack; per pair the slab whose measurement correlates best wins.

Phase correlation of two equal windows only knows the shift modulo the window size, so every alias of its
few strongest peaks that keeps the tiles overlapping and stays within `MAX_DEVIATION` of the nominal
overlap width from the nominal displacement is scored by
the normalised cross-correlation (NCC) of the real overlap; the best one is refined by climbing the NCC
to its maximum (whole pixels, then a parabola for the sub-pixel part). The pair's reliability (`score`,
used by `place` for weighting and thresholding) is the prominence of that NCC peak over the NCC a few
pixels away: high for a distinct match, near 0 for featureless overlaps and for lone straight edges.

Memory holds the projections of two tile columns at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage  # type: ignore[import-untyped]

from ..errors import PipelineError
from .tiles import ChannelTiles, TileSource

Image = npt.NDArray[np.float32]
DISPLACEMENTS_NAME = "displacements.json"
SLAB_CENTRES = (0.25, 0.5, 0.75)  # fractions of the stack depth
PLANES_PER_SLAB = 5
MIN_OVERLAP_PX = 8  # a shift must leave at least this overlap along each axis
PEAKS = 4  # phase-correlation peaks tried per pair
MAX_DEVIATION = 0.5  # largest distance from the nominal displacement, in nominal overlap widths
RING_PX = 3  # distance of the NCC samples that measure a peak's prominence
MAX_CLIMB_STEPS = 20  # whole-pixel steps of the NCC hill climb after phase correlation
BAND_SIGMA_PX = (1.0, 8.0)  # Gaussian sigmas of the band-pass applied to the projections
TAPER = 0.5  # Tukey window fraction applied to the overlap windows


@dataclass(frozen=True)
class Measurement:
    displacement: tuple[float, float]  # (dx, dy) pixels
    ncc: float  # at the displacement
    prominence: float  # ncc less the best ncc RING_PX pixels away (0..2)


@dataclass(frozen=True)
class Displacement:
    """Tile `b` relative to tile `a` (both (column, row)): (dx, dy) pixels, nominal and measured."""

    a: tuple[int, int]
    b: tuple[int, int]
    nominal: tuple[float, float]
    measured: tuple[float, float] | None  # None: no usable overlap
    ncc: float  # NCC of the overlap at the measured displacement (-1..1), 0 without a measurement
    score: float  # reliability: the NCC peak's prominence (0..2), 0 without a measurement

    def to_json(self) -> dict[str, Any]:
        return {
            "a": list(self.a),
            "b": list(self.b),
            "nominal": [round(v, 3) for v in self.nominal],
            "measured": None if self.measured is None else [round(v, 3) for v in self.measured],
            "ncc": round(self.ncc, 4),
            "score": round(self.score, 4),
        }

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Displacement:
        measured = item.get("measured")
        return cls(
            a=(int(item["a"][0]), int(item["a"][1])),
            b=(int(item["b"][0]), int(item["b"][1])),
            nominal=(float(item["nominal"][0]), float(item["nominal"][1])),
            measured=None if measured is None else (float(measured[0]), float(measured[1])),
            ncc=float(item["ncc"]),
            score=float(item["score"]),
        )


def neighbour_pairs(tiles: ChannelTiles) -> list[tuple[TileSource, TileSource]]:
    """(tile, right neighbour) and (tile, lower neighbour) pairs, column by column."""
    pairs = []
    for column in range(tiles.columns):
        for row in range(tiles.rows):
            tile = tiles.tile(column, row)
            if row + 1 < tiles.rows:
                pairs.append((tile, tiles.tile(column, row + 1)))
            if column + 1 < tiles.columns:
                pairs.append((tile, tiles.tile(column + 1, row)))
    return pairs


def slabs(n_planes: int) -> list[range]:
    """A few thin slabs of plane indexes spread through the stack (fewer when the stack is thin)."""
    found: list[range] = []
    for fraction in SLAB_CENTRES:
        centre = min(n_planes - 1, int(fraction * n_planes))
        start = max(0, min(centre - PLANES_PER_SLAB // 2, n_planes - PLANES_PER_SLAB))
        slab = range(start, min(n_planes, start + PLANES_PER_SLAB))
        if slab not in found:
            found.append(slab)
    return found


def project(tiles: ChannelTiles, tile: TileSource, planes: range) -> Image:
    """Maximum projection of the tile over `planes`, band-passed (difference of Gaussians) so that only
    structure of a few pixels counts: smooth shading (vignetting, the brain's outline) correlates at any
    shift, and pixel noise at none."""
    out: Image | None = None
    for z in planes:
        plane = tiles.read_plane(tile, z)
        out = plane.astype(np.float32) if out is None else np.maximum(out, plane, out=out, casting="unsafe")
    assert out is not None
    fine = ndimage.gaussian_filter(out, BAND_SIGMA_PX[0], mode="nearest")
    coarse = ndimage.gaussian_filter(out, BAND_SIGMA_PX[1], mode="nearest")
    return np.asarray(fine - coarse, dtype=np.float32)


def _overlap(shape: tuple[int, int], dx: int, dy: int) -> tuple[slice, slice, slice, slice] | None:
    """Rows and columns of tile a, then of tile b, that overlap when b sits at (dx, dy) from a."""
    height, width = shape
    y0, y1 = max(0, dy), min(height, dy + height)
    x0, x1 = max(0, dx), min(width, dx + width)
    if y1 - y0 < MIN_OVERLAP_PX or x1 - x0 < MIN_OVERLAP_PX:
        return None
    return slice(y0, y1), slice(x0, x1), slice(y0 - dy, y1 - dy), slice(x0 - dx, x1 - dx)


def ncc(a: Image, b: Image) -> float:
    """Normalised cross-correlation of two equal arrays (0 when either is flat)."""
    za = a - a.mean(dtype=np.float64)
    zb = b - b.mean(dtype=np.float64)
    denominator = math.sqrt(float(np.sum(za * za, dtype=np.float64)) * float(np.sum(zb * zb, dtype=np.float64)))
    return float(np.sum(za * zb, dtype=np.float64)) / denominator if denominator > 0 else 0.0


def overlap_ncc(a: Image, b: Image, dx: int, dy: int) -> float | None:
    region = _overlap((a.shape[0], a.shape[1]), dx, dy)
    if region is None:
        return None
    ya, xa, yb, xb = region
    return ncc(a[ya, xa], b[yb, xb])


def tukey(length: int, fraction: float = TAPER) -> npt.NDArray[np.float64]:
    """Tukey window: flat in the middle, cosine tapers over `fraction` of the length in all."""
    if length < 2 or fraction <= 0:
        return np.ones(length)
    position = np.arange(length, dtype=np.float64) / (length - 1)
    edge = np.minimum(position, 1.0 - position) / (fraction / 2)
    return np.asarray(0.5 - 0.5 * np.cos(np.pi * np.clip(edge, 0.0, 1.0)), dtype=np.float64)


def _tapered(window: Image) -> Image:
    height, width = window.shape
    taper = np.outer(tukey(height), tukey(width)).astype(np.float32)
    return np.asarray((window - window.mean(dtype=np.float64)) * taper, dtype=np.float32)


def phase_peaks(a: Image, b: Image, count: int = PEAKS) -> list[tuple[int, int]]:
    """The `count` strongest peaks (dy, dx) of the phase correlation of two equal windows, strongest first:
    shifts s with a(p) ~ b(p - s), known modulo the window size (returned in -n/2 .. n/2)."""
    cross = np.fft.rfft2(a) * np.conj(np.fft.rfft2(b))
    cross /= np.maximum(np.abs(cross), np.float32(1e-12))
    surface = np.fft.irfft2(cross, s=a.shape)
    height, width = a.shape
    peaks: list[tuple[int, int]] = []
    for flat in np.argsort(surface, axis=None)[::-1][: 50 * count]:
        y, x = divmod(int(flat), width)
        if all(min(abs(y - py) % height, -(y - py) % height) > 1 or min(abs(x - px) % width, -(x - px) % width) > 1
               for py, px in peaks):  # fmt: skip
            peaks.append((y, x))
            if len(peaks) == count:
                break
    return [(y - height if y > height // 2 else y, x - width if x > width // 2 else x) for y, x in peaks]


def _parabola_peak(minus: float | None, centre: float, plus: float | None) -> float:
    """Sub-pixel offset (-0.5..0.5) of the maximum of a parabola through three equally spaced samples."""
    if minus is None or plus is None:
        return 0.0
    curvature = minus - 2.0 * centre + plus
    if curvature >= 0:
        return 0.0
    return float(np.clip(0.5 * (minus - plus) / curvature, -0.5, 0.5))


def measure(a: Image, b: Image, nominal: tuple[float, float], limit: float) -> Measurement | None:
    """Displacement of b relative to a, or None when the nominal overlap is too small or featureless.
    `limit` bounds the distance from the nominal displacement along each axis (pixels).

    Phase correlation of the nominal overlap gives candidate shifts modulo the window size (its `PEAKS`
    strongest peaks); the alias with the best overlap NCC starts a hill climb on the NCC over whole
    pixels, and a parabola through the NCC of the neighbours gives the sub-pixel part. The prominence of the peak
    (its NCC less the best NCC `RING_PX` pixels away) tells a distinct match from a ridge along a lone edge,
    whose position along the edge is unknown."""
    ndx, ndy = round(nominal[0]), round(nominal[1])
    region = _overlap((a.shape[0], a.shape[1]), ndx, ndy)
    if region is None:
        return None
    ya, xa, yb, xb = region
    window_a, window_b = a[ya, xa], b[yb, xb]
    if float(window_a.std()) == 0.0 or float(window_b.std()) == 0.0:
        return None
    scores: dict[tuple[int, int], float | None] = {}

    def score(dx: int, dy: int) -> float | None:
        if abs(dx - ndx) > limit or abs(dy - ndy) > limit:
            return None
        if (dx, dy) not in scores:
            scores[(dx, dy)] = overlap_ncc(a, b, dx, dy)
        return scores[(dx, dy)]

    best: tuple[int, int] | None = None
    height, width = window_a.shape
    for sy, sx in phase_peaks(_tapered(window_a), _tapered(window_b)):
        for alias_y in (sy - height, sy, sy + height):
            for alias_x in (sx - width, sx, sx + width):
                candidate = (ndx + alias_x, ndy + alias_y)
                value = score(*candidate)
                if value is not None and (best is None or value > (score(*best) or -1.0)):
                    best = candidate
    if best is None:
        return None
    for _ in range(MAX_CLIMB_STEPS):
        around = [(best[0] + i, best[1] + j) for j in (-1, 0, 1) for i in (-1, 0, 1)]
        top = max(around, key=lambda p: -2.0 if (v := score(*p)) is None else v)
        if top == best:
            break
        best = top
    centre = score(*best) or 0.0
    fraction_x = _parabola_peak(score(best[0] - 1, best[1]), centre, score(best[0] + 1, best[1]))
    fraction_y = _parabola_peak(score(best[0], best[1] - 1), centre, score(best[0], best[1] + 1))
    ring = [
        value
        for j in range(-RING_PX, RING_PX + 1)
        for i in range(-RING_PX, RING_PX + 1)
        if max(abs(i), abs(j)) == RING_PX and (value := score(best[0] + i, best[1] + j)) is not None
    ]
    prominence = centre - max(ring, default=centre)
    return Measurement((best[0] + fraction_x, best[1] + fraction_y), centre, max(0.0, prominence))


def _columns_of_projections(tiles: ChannelTiles, planes: range) -> Iterator[dict[int, Image]]:
    for column in range(tiles.columns):
        yield {row: project(tiles, tiles.tile(column, row), planes) for row in range(tiles.rows)}


def compute_displacements(tiles: ChannelTiles, planes: Sequence[range] | None = None) -> list[Displacement]:
    """Every neighbour pair's displacement, the best-scoring over the slabs."""
    if tiles.n_planes < 1:
        raise PipelineError(f"{tiles.subfolder} has no planes")
    chosen = list(planes) if planes is not None else slabs(tiles.n_planes)
    overlap_x, overlap_y = tiles.nominal_overlap_px()
    best: dict[tuple[tuple[int, int], tuple[int, int]], Displacement] = {}
    for slab in chosen:
        previous: dict[int, Image] | None = None
        for column, current in enumerate(_columns_of_projections(tiles, slab)):
            pairs = [
                (current[row], current[row + 1], (column, row), (column, row + 1)) for row in range(tiles.rows - 1)
            ]
            if previous is not None:
                pairs += [(previous[row], current[row], (column - 1, row), (column, row)) for row in range(tiles.rows)]
            for image_a, image_b, key_a, key_b in pairs:
                nominal = _nominal(tiles, key_a, key_b)
                limit = MAX_DEVIATION * (overlap_y if key_a[0] == key_b[0] else overlap_x)
                found = measure(image_a, image_b, nominal, limit)
                result = (
                    Displacement(key_a, key_b, nominal, None, 0.0, 0.0)
                    if found is None
                    else Displacement(key_a, key_b, nominal, found.displacement, found.ncc, found.prominence)
                )
                if (key_a, key_b) not in best or result.score > best[(key_a, key_b)].score:
                    best[(key_a, key_b)] = result
            previous = current
    return [best[(a.key, b.key)] for a, b in neighbour_pairs(tiles)]


def _nominal(tiles: ChannelTiles, a: tuple[int, int], b: tuple[int, int]) -> tuple[float, float]:
    ax, ay = tiles.nominal_position(tiles.tile(*a))
    bx, by = tiles.nominal_position(tiles.tile(*b))
    return (bx - ax, by - ay)
