"""A synthetic sample: the analytic anatomy placed in a raw acquisition grid by a known affine, plus
bright cells planted at known voxel positions.

Sample (raw, dorsal-up, horizontal) axes: x = medial-lateral, y = anterior-posterior, z = dorsal-ventral
(z = plane index). Arrays are indexed (z, y, x); points and affines use (x, y, z) in that order, acting on
column vectors (x, y, z, 1). Voxel centres sit at integer indexes; µm = index × voxel size.

The sample-to-atlas transform is `finalorientation` ("2", "1", "0") (horizontal to sagittal) followed by a small known
rotation, per-axis scale and shift: the part a
registration stage must recover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .anatomy import Anatomy, FloatArray, LabelArray, U, affine_plane, make_anatomy

Matrix = npt.NDArray[np.float64]
Points = npt.NDArray[np.float64]
Shape3 = tuple[int, int, int]
Vec3 = tuple[float, float, float]

# Default pixel sizes x = y in µm per resolution (2x at zoom body 1).
RESOLUTION_PIXEL_UM: dict[str, float] = {
    "1.1x": 5.909091,
    "1.3x": 5.0,
    "2x": 3.25,
    "4x": 1.63,
    "3.6x": 1.866,
    "15x": 0.41,
}
SEMI_AXIS_FRACTION = 0.40  # brain semi-axis / volume extent, before the random pose
# Raw horizontal (x=ML, y=AP, z=DV) to sagittal atlas axes (x=DV, y=AP, z=ML): finalorientation ("2","1","0").
HORIZONTAL_TO_SAGITTAL: Matrix = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def voxel_size_for(resolution: str, z_step_um: float) -> Vec3:
    """(x, y, z) voxel size in µm of a resolution's raw data."""
    pixel = RESOLUTION_PIXEL_UM[resolution]
    return (pixel, pixel, float(z_step_um))


@dataclass(frozen=True)
class ChannelLook:
    """How a channel sees the sample: weight of the autofluorescent structure and of the planted cells."""

    structure: float
    cells: float


def channel_look(wavelength: str) -> ChannelLook:
    """488 nm is the autofluorescence (registration) channel; longer wavelengths show the cells."""
    return ChannelLook(structure=1.0, cells=0.15) if wavelength == "488" else ChannelLook(structure=0.35, cells=1.0)


def scale_matrix(values: Vec3) -> Matrix:
    return np.diag([values[0], values[1], values[2], 1.0]).astype(np.float64)


def apply_affine(matrix: npt.ArrayLike, points_xyz: npt.ArrayLike) -> Points:
    """Map (n, 3) points (x, y, z) through a 4x4 affine."""
    affine = np.asarray(matrix, dtype=np.float64)
    points = np.asarray(points_xyz, dtype=np.float64).reshape(-1, 3)
    return np.asarray(points @ affine[:3, :3].T + affine[:3, 3], dtype=np.float64)


def ventral_up_flip(shape: Shape3) -> Matrix:
    """Raw ventral-up voxel -> dorsal sample voxel: the flip reverses axes 0 (x) and 2 (z)."""
    z_size, _, x_size = shape
    flip = np.diag([-1.0, 1.0, -1.0, 1.0])
    flip[0, 3] = x_size - 1
    flip[2, 3] = z_size - 1
    return flip


def _rotation(axis: npt.NDArray[np.float64], angle: float) -> Matrix:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(4)
    rotation[:3, :3] = np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)
    return rotation


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields, not objects
class Brain:
    """One synthetic sample. `cells_xyz` are planted cell centres in dorsal sample voxels (integers)."""

    shape: Shape3  # (z, y, x) voxels
    voxel_size_um: Vec3  # (x, y, z)
    seed: int
    anatomy: Anatomy
    sample_to_atlas_um: Matrix = field(repr=False)  # sample µm -> atlas-frame µm (origin = brain centre)
    cells_xyz: Points = field(repr=False)  # (n, 3)
    cell_brightness: npt.NDArray[np.float64] = field(repr=False)  # (n,), around 1
    cell_sigma_px: Vec3 = (1.5, 1.5, 1.0)  # Gaussian sigma of a cell, (x, y, z) voxels

    @property
    def sample_vox_to_u(self) -> Matrix:
        semi = self.anatomy.semi_axes_um
        to_u = scale_matrix((1 / semi[0], 1 / semi[1], 1 / semi[2]))
        return np.asarray(to_u @ self.sample_to_atlas_um @ scale_matrix(self.voxel_size_um), dtype=np.float64)

    def cells_raw(self, raw_to_sample: Matrix | None = None) -> Points:
        """Cell centres in raw voxel coordinates (identity for dorsal data, the flip for ventral-up)."""
        if raw_to_sample is None:
            return self.cells_xyz.copy()
        return apply_affine(np.linalg.inv(raw_to_sample), self.cells_xyz)

    def u_plane(self, z: float, rows: tuple[int, int], cols: tuple[int, int], raw_to_sample: Matrix | None) -> U:
        """Normalised anatomy coordinates of raw plane `z`, rows [y0, y1), columns [x0, x1)."""
        matrix = self.sample_vox_to_u if raw_to_sample is None else self.sample_vox_to_u @ raw_to_sample
        return affine_plane(matrix, z, rows, cols)

    def structure_plane(
        self, z: int, rows: tuple[int, int], cols: tuple[int, int], raw_to_sample: Matrix | None = None
    ) -> FloatArray:
        return self.anatomy.structure(self.u_plane(z, rows, cols, raw_to_sample))

    def labels_plane(
        self, z: int, rows: tuple[int, int], cols: tuple[int, int], raw_to_sample: Matrix | None = None
    ) -> LabelArray:
        return self.anatomy.labels(self.u_plane(z, rows, cols, raw_to_sample))

    def cell_plane(
        self, z: int, rows: tuple[int, int], cols: tuple[int, int], raw_to_sample: Matrix | None = None
    ) -> FloatArray:
        """Sum of the cells' Gaussians on raw plane `z` (peak = cell brightness)."""
        out = np.zeros((rows[1] - rows[0], cols[1] - cols[0]), dtype=np.float32)
        # Sigma in raw voxels: raw_to_sample is axis-aligned (flips and per-axis scales only).
        scales = (1.0, 1.0, 1.0) if raw_to_sample is None else tuple(abs(raw_to_sample[k, k]) for k in range(3))
        sx, sy, sz = (sigma / scale for sigma, scale in zip(self.cell_sigma_px, scales, strict=True))
        reach = (math.ceil(3 * sx), math.ceil(3 * sy), 3 * sz)
        cells = self.cells_raw(raw_to_sample)
        near = (
            (np.abs(cells[:, 2] - z) <= reach[2])
            & (cells[:, 0] >= cols[0] - reach[0])
            & (cells[:, 0] < cols[1] + reach[0])
            & (cells[:, 1] >= rows[0] - reach[1])
            & (cells[:, 1] < rows[1] + reach[1])
        )
        for (cx, cy, cz), brightness in zip(cells[near], self.cell_brightness[near], strict=True):
            x0, x1 = max(int(cx) - reach[0], cols[0]), min(int(cx) + reach[0] + 1, cols[1])
            y0, y1 = max(int(cy) - reach[1], rows[0]), min(int(cy) + reach[1] + 1, rows[1])
            if x0 >= x1 or y0 >= y1:
                continue
            gx = np.exp(-((np.arange(x0, x1) - cx) ** 2) / (2 * sx * sx))
            gy = np.exp(-((np.arange(y0, y1) - cy) ** 2) / (2 * sy * sy))
            amplitude = brightness * math.exp(-((z - cz) ** 2) / (2 * sz * sz))
            out[y0 - rows[0] : y1 - rows[0], x0 - cols[0] : x1 - cols[0]] += (amplitude * np.outer(gy, gx)).astype(
                np.float32
            )
        return out

    def render(
        self,
        z: int,
        look: ChannelLook,
        rows: tuple[int, int] | None = None,
        cols: tuple[int, int] | None = None,
        raw_to_sample: Matrix | None = None,
    ) -> FloatArray:
        """Noise-free signal of one channel on raw plane `z` (structure ~0.5–1, cell peaks ~1)."""
        rows = rows or (0, self.shape[1])
        cols = cols or (0, self.shape[2])
        signal = np.float32(look.structure) * self.structure_plane(z, rows, cols, raw_to_sample)
        if look.cells:
            signal += np.float32(look.cells) * self.cell_plane(z, rows, cols, raw_to_sample)
        return signal

    def volume(self, look: ChannelLook, raw_to_sample: Matrix | None = None) -> FloatArray:
        """The whole noise-free channel volume (z, y, x); for small brains in tests."""
        return np.stack([self.render(z, look, raw_to_sample=raw_to_sample) for z in range(self.shape[0])])


def _random_pose(rng: np.random.Generator, max_rotation_deg: float, max_scale_change: float) -> Matrix:
    axis = rng.normal(size=3)
    angle = math.radians(rng.uniform(-max_rotation_deg, max_rotation_deg))
    scales = rng.uniform(1 - max_scale_change, 1 + max_scale_change, size=3)
    return np.asarray(_rotation(axis, angle) @ scale_matrix((scales[0], scales[1], scales[2])), dtype=np.float64)


def _plant_cells(
    brain: Brain, rng: np.random.Generator, n_cells: int, margin: int, spacing: float
) -> tuple[Points, npt.NDArray[np.float64]]:
    z_size, y_size, x_size = brain.shape
    if min(x_size, y_size, z_size) <= 2 * margin:
        raise ValueError(f"shape {brain.shape} is too small to hold cells")
    cells = np.empty((n_cells, 3), dtype=np.float64)
    placed = idle_rounds = 0
    while placed < n_cells and idle_rounds < 10:
        before = placed
        candidates = np.stack(
            [
                rng.integers(margin, x_size - margin, size=4 * n_cells),
                rng.integers(margin, y_size - margin, size=4 * n_cells),
                rng.integers(margin, z_size - margin, size=4 * n_cells),
            ],
            axis=1,
        ).astype(np.float64)
        inside = np.linalg.norm(apply_affine(brain.sample_vox_to_u, candidates), axis=1) < 0.95
        for point in candidates[inside]:
            if placed == n_cells:
                break
            if placed == 0 or np.min(np.sum((cells[:placed] - point) ** 2, axis=1)) >= spacing**2:
                cells[placed] = point
                placed += 1
        idle_rounds = idle_rounds + 1 if placed == before else 0
    if placed < n_cells:
        raise ValueError(f"only {placed} of {n_cells} cells fit in shape {brain.shape} at this spacing")
    return cells, rng.uniform(0.8, 1.2, size=len(cells))


def make_brain(
    shape: Shape3 = (48, 128, 128),
    seed: int = 0,
    *,
    voxel_size_um: Vec3 = (5.0, 5.0, 10.0),
    n_cells: int = 100,
    cell_sigma_px: Vec3 = (1.5, 1.5, 1.0),
    max_rotation_deg: float = 6.0,
    max_scale_change: float = 0.05,
    max_shift_fraction: float = 0.03,
) -> Brain:
    """A deterministic synthetic sample filling most of `shape` (z, y, x), with `n_cells` planted cells."""
    if any(n < 4 for n in shape):
        raise ValueError(f"shape must be at least 4 voxels per axis, got {shape}")
    rng = np.random.default_rng(seed)
    extent = np.array([shape[2], shape[1], shape[0]], dtype=np.float64) * np.asarray(voxel_size_um)
    sample_semi = SEMI_AXIS_FRACTION * extent
    atlas_semi = apply_affine(HORIZONTAL_TO_SAGITTAL, sample_semi)[0]
    anatomy = make_anatomy((float(atlas_semi[0]), float(atlas_semi[1]), float(atlas_semi[2])), rng)
    pose = _random_pose(rng, max_rotation_deg, max_scale_change)
    centre = (extent - np.asarray(voxel_size_um)) / 2 + rng.uniform(-1, 1, size=3) * max_shift_fraction * extent
    to_centre = np.eye(4)
    to_centre[:3, 3] = -centre
    sample_to_atlas = pose @ HORIZONTAL_TO_SAGITTAL @ to_centre
    brain = Brain(
        shape=shape,
        voxel_size_um=voxel_size_um,
        seed=seed,
        anatomy=anatomy,
        sample_to_atlas_um=sample_to_atlas,
        cells_xyz=np.zeros((0, 3)),
        cell_brightness=np.zeros(0),
        cell_sigma_px=cell_sigma_px,
    )
    margin = math.ceil(3 * max(cell_sigma_px[:2])) + 1
    spacing = 6.0 * max(cell_sigma_px)
    cells, brightness = np.zeros((0, 3)), np.zeros(0)
    if n_cells:
        cells, brightness = _plant_cells(brain, rng, n_cells, min(margin, min(shape) // 4), spacing)
    return Brain(
        shape=shape,
        voxel_size_um=voxel_size_um,
        seed=seed,
        anatomy=anatomy,
        sample_to_atlas_um=sample_to_atlas,
        cells_xyz=cells,
        cell_brightness=brightness,
        cell_sigma_px=cell_sigma_px,
    )
