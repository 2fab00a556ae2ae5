"""A small analytic brain shared by the synthetic atlas and the synthetic samples.

The anatomy lives in normalised coordinates `u` of the atlas frame: u = (p - centre) / semi-axes, with
atlas axes x = dorsal-ventral, y = anterior-posterior, z = medial-lateral (a sagittal stack: each z plane
is a sagittal section, as the pipeline's atlases are). The brain is the unit ball in `u`; regions are
axis-aligned ellipsoids painted in priority order. Structure ids, names and acronyms mirror the Allen
CCF ontology so counts per region read naturally. Because everything is a closed-form function of `u`,
any grid (atlas voxels, raw tiles at any resolution) is rendered plane by plane without a stored volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
LabelArray = npt.NDArray[np.uint16]
U = tuple[FloatArray, FloatArray, FloatArray]

EDGE_WIDTH_U = 0.015  # soft boundary width of regions, in normalised units
TEXTURE_CONTRAST = 0.15  # multiplicative texture amplitude inside the brain
OUTSIDE_LABEL = 0
BRAIN_LABEL = 8  # brain voxels covered by no leaf region


@dataclass(frozen=True)
class Structure:
    """One ontology entry, shaped like an Allen structure (`parent_structure_id` None for the root)."""

    id: int
    acronym: str
    name: str
    parent_structure_id: int | None


ONTOLOGY: tuple[Structure, ...] = (
    Structure(997, "root", "root", None),
    Structure(8, "grey", "Basic cell groups and regions", 997),
    Structure(567, "CH", "Cerebrum", 8),
    Structure(688, "CTX", "Cerebral cortex", 567),
    Structure(623, "CNU", "Cerebral nuclei", 567),
    Structure(343, "BS", "Brain stem", 8),
    Structure(1129, "IB", "Interbrain", 343),
    Structure(549, "TH", "Thalamus", 1129),
    Structure(313, "MB", "Midbrain", 343),
    Structure(1065, "HB", "Hindbrain", 343),
    Structure(512, "CB", "Cerebellum", 8),
    Structure(1009, "fiber tracts", "fiber tracts", 997),
    Structure(73, "VS", "ventricular systems", 997),
)


@dataclass(frozen=True)
class Ellipsoid:
    centre: tuple[float, float, float]  # u, atlas axes (x=DV, y=AP, z=ML)
    radii: tuple[float, float, float]


@dataclass(frozen=True)
class Region:
    """A labelled part of the brain: one or more ellipsoids, an autofluorescence level (brain ~0.5)."""

    id: int
    intensity: float
    parts: tuple[Ellipsoid, ...]


# Painted in this order; later regions cover earlier ones. Everything stays inside the unit ball.
REGIONS: tuple[Region, ...] = (
    Region(688, 0.45, (Ellipsoid((0.15, 0.20, 0.0), (0.90, 0.85, 1.0)),)),
    Region(623, 0.75, (Ellipsoid((-0.10, 0.30, 0.0), (0.40, 0.35, 0.55)),)),
    Region(549, 0.95, (Ellipsoid((0.00, -0.05, 0.0), (0.30, 0.25, 0.35)),)),
    Region(313, 0.60, (Ellipsoid((-0.10, -0.35, 0.0), (0.35, 0.20, 0.35)),)),
    Region(1065, 1.10, (Ellipsoid((-0.35, -0.62, 0.0), (0.40, 0.35, 0.40)),)),
    Region(512, 0.80, (Ellipsoid((0.25, -0.75, 0.0), (0.45, 0.30, 0.70)),)),
    Region(1009, 1.40, (Ellipsoid((0.45, 0.05, 0.0), (0.10, 0.50, 0.80)),)),
    Region(73, 0.10, tuple(Ellipsoid((0.22, 0.22, side), (0.07, 0.20, 0.09)) for side in (0.25, -0.25))),
)
BRAIN_INTENSITY = 0.5


def affine_plane(matrix: npt.NDArray[np.float64], z: float, rows: tuple[int, int], cols: tuple[int, int]) -> U:
    """`u` on grid plane `z`, rows [y0, y1), columns [x0, x1), for a voxel (x, y, z, 1) -> u affine."""
    xs = np.arange(cols[0], cols[1], dtype=np.float64)[None, :]
    ys = np.arange(rows[0], rows[1], dtype=np.float64)[:, None]

    def axis(k: int) -> FloatArray:
        values = matrix[k, 0] * xs + matrix[k, 1] * ys + (matrix[k, 2] * z + matrix[k, 3])
        return np.asarray(values, dtype=np.float32)

    return axis(0), axis(1), axis(2)


def _sigmoid(values: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * values)), dtype=np.float32)


def _normalised_distance(u: U, ellipsoid: Ellipsoid) -> FloatArray:
    total = np.zeros(np.broadcast_shapes(*(a.shape for a in u)), dtype=np.float32)
    for axis in range(3):
        total += ((u[axis] - np.float32(ellipsoid.centre[axis])) / np.float32(ellipsoid.radii[axis])) ** 2
    return np.sqrt(total, dtype=np.float32)


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields, not objects
class Anatomy:
    """The brain in the atlas frame: semi-axes in µm (atlas axes) and a seeded band-limited texture.

    The texture (a sum of plane waves in `u`) gives registration and tile phase correlation features at
    every scale between ~5 % and ~20 % of the brain radius."""

    semi_axes_um: tuple[float, float, float]
    wave_vectors: npt.NDArray[np.float64] = field(repr=False)  # (n, 3), radians per unit of u
    wave_phases: npt.NDArray[np.float64] = field(repr=False)  # (n,)

    def structure(self, u: U) -> FloatArray:
        """Noise-free autofluorescence in [0, ~1.6]: region levels with soft edges, times texture."""
        brain_distance = np.sqrt(u[0] ** 2 + u[1] ** 2 + u[2] ** 2, dtype=np.float32)
        value = np.full(brain_distance.shape, BRAIN_INTENSITY, dtype=np.float32)
        for region in REGIONS:
            weight = np.zeros_like(value)
            for part in region.parts:
                edge = (1.0 - _normalised_distance(u, part)) * np.float32(min(part.radii) / EDGE_WIDTH_U)
                weight = np.maximum(weight, _sigmoid(edge))
            value += weight * (np.float32(region.intensity) - value)
        value *= _sigmoid((1.0 - brain_distance) / np.float32(EDGE_WIDTH_U))
        texture = np.zeros_like(value)
        for k, phase in zip(self.wave_vectors, self.wave_phases, strict=True):
            texture += np.cos(
                np.float32(k[0]) * u[0] + np.float32(k[1]) * u[1] + np.float32(k[2]) * u[2] + np.float32(phase)
            )
        texture *= np.float32(math.sqrt(2.0 / max(len(self.wave_phases), 1)))
        value *= np.clip(1.0 + np.float32(TEXTURE_CONTRAST) * texture, 0.0, None)
        return value.astype(np.float32, copy=False)

    def labels(self, u: U) -> LabelArray:
        """Hard region labels: 0 outside the brain, `BRAIN_LABEL` where no leaf region applies."""
        brain_distance = np.sqrt(u[0] ** 2 + u[1] ** 2 + u[2] ** 2, dtype=np.float32)
        out = np.where(brain_distance < 1.0, BRAIN_LABEL, OUTSIDE_LABEL).astype(np.uint16)
        for region in REGIONS:
            inside = np.zeros(out.shape, dtype=bool)
            for part in region.parts:
                inside |= _normalised_distance(u, part) < 1.0
            out[inside & (brain_distance < 1.0)] = region.id
        return out


def make_anatomy(semi_axes_um: tuple[float, float, float], rng: np.random.Generator, n_waves: int = 16) -> Anatomy:
    directions = rng.normal(size=(n_waves, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    wavelengths = rng.uniform(0.10, 0.40, size=n_waves)  # in units of the brain radius
    vectors = directions * (2.0 * math.pi / wavelengths)[:, None]
    phases = rng.uniform(0.0, 2.0 * math.pi, size=n_waves)
    return Anatomy(semi_axes_um=semi_axes_um, wave_vectors=vectors, wave_phases=phases)


def label_ids() -> tuple[int, ...]:
    """Every label an annotation volume can contain (0 = outside the brain)."""
    return (OUTSIDE_LABEL, BRAIN_LABEL) + tuple(region.id for region in REGIONS)


def ontology_json() -> list[dict[str, object]]:
    """Flat list, one object per structure: id, name, acronym, parent_structure_id (Allen's key)."""
    return [
        {"id": s.id, "name": s.name, "acronym": s.acronym, "parent_structure_id": s.parent_structure_id}
        for s in ONTOLOGY
    ]
