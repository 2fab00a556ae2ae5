"""Reorientation and per-axis resampling of volumes, with the affines (voxel
coordinates, (x, y, z) order, voxel centres at integers) that say where each input voxel goes.

Arrays are indexed [z, y, x]; spatial axis a (0 = x, 1 = y, 2 = z) is array axis 2 − a.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]


def parse_orientation(orientation: Sequence[str]) -> list[tuple[int, bool]]:
    """`("-2", "1", "0")` -> [(2, True), (1, False), (0, False)]: per output axis, the input axis that
    supplies it and whether it is reversed."""
    return [(int(text.lstrip("-")), text.startswith("-")) for text in orientation]


def orient_volume(volume: npt.NDArray[Any], orientation: Sequence[str]) -> npt.NDArray[Any]:
    """Output axis i takes input axis int(orientation[i]), reversed when the entry starts with '-'.
    Returns a view of `volume` ([z, y, x] in and out)."""
    axes = parse_orientation(orientation)
    out = np.transpose(volume, [2 - axes[2 - p][0] for p in range(3)])
    for i, (_, flipped) in enumerate(axes):
        if flipped:
            out = np.flip(out, axis=2 - i)
    return out


def oriented_shape_xyz(shape_xyz: Sequence[int], orientation: Sequence[str]) -> tuple[int, int, int]:
    axes = parse_orientation(orientation)
    return (shape_xyz[axes[0][0]], shape_xyz[axes[1][0]], shape_xyz[axes[2][0]])


def orientation_affine(orientation: Sequence[str], shape_xyz: Sequence[int]) -> Matrix:
    """4x4: input voxel (x, y, z, 1) of a volume of `shape_xyz` -> its voxel in `orient_volume`'s output:
    out_i = in_a, or (n_a − 1) − in_a when reversed."""
    matrix = np.zeros((4, 4))
    matrix[3, 3] = 1.0
    for i, (axis, flipped) in enumerate(parse_orientation(orientation)):
        matrix[i, axis] = -1.0 if flipped else 1.0
        matrix[i, 3] = shape_xyz[axis] - 1 if flipped else 0.0
    return matrix


@dataclass(frozen=True)
class AxisResampling:
    """Resampling of one axis from voxels of size v_in to voxels of size v_out (ratio r = v_out / v_in):
    n_out = max(1, round(n_in / r)) voxels, output voxel j covering input [j·r, (j + 1)·r) in edge units,
    so its centre is input coordinate (j + 0.5)·r − 0.5. Each output voxel is a normalised weighted sum of
    `taps` input voxels: the area-weighted mean of the input voxels it covers when r > 1 (mean-preserving
    downsampling), linear interpolation at its centre when r ≤ 1."""

    n_in: int
    n_out: int
    ratio: float
    index: npt.NDArray[np.intp]  # (n_out, taps)
    weight: npt.NDArray[np.float32]  # (n_out, taps), rows sum to 1

    def apply(self, data: npt.NDArray[Any], axis: int) -> npt.NDArray[np.float32]:
        """Resample `data` along array axis `axis`."""
        if self.ratio == 1.0:
            return np.asarray(data, dtype=np.float32)
        shape = [1] * data.ndim
        shape[axis] = self.n_out
        out_shape = list(data.shape)
        out_shape[axis] = self.n_out
        out = np.zeros(out_shape, dtype=np.float32)
        for tap in range(self.index.shape[1]):
            out += np.take(data, self.index[:, tap], axis=axis) * self.weight[:, tap].reshape(shape)
        return out

    def taps(self, j: int) -> list[tuple[int, float]]:
        """(input index, weight) of output voxel j, ascending, weights > 0."""
        return [(int(k), float(w)) for k, w in zip(self.index[j], self.weight[j], strict=True) if w > 0]

    def affine_1d(self) -> tuple[float, float]:
        """(scale, offset) with output coordinate = scale · input coordinate + offset."""
        return 1.0 / self.ratio, 0.5 / self.ratio - 0.5


def axis_resampling(n_in: int, voxel_in: float, voxel_out: float) -> AxisResampling:
    ratio = voxel_out / voxel_in
    n_out = max(1, round(n_in / ratio))
    rows: list[list[tuple[int, float]]] = []
    for j in range(n_out):
        if ratio > 1:
            low, high = j * ratio, min((j + 1) * ratio, n_in)
            first, last = int(np.floor(low)), min(n_in, int(np.ceil(high)))
            taps = [(k, min(high, k + 1) - max(low, k)) for k in range(first, last)]
            taps = [(k, w) for k, w in taps if w > 0] or [(min(first, n_in - 1), 1.0)]
        else:
            centre = min(max((j + 0.5) * ratio - 0.5, 0.0), n_in - 1.0)
            below = int(np.floor(centre))
            above = min(below + 1, n_in - 1)
            taps = [(below, 1.0 - (centre - below)), (above, centre - below)]
        rows.append(taps)
    width = max(len(taps) for taps in rows)
    index = np.zeros((n_out, width), dtype=np.intp)
    weight = np.zeros((n_out, width), dtype=np.float64)
    for j, taps in enumerate(rows):
        total = sum(w for _, w in taps)
        for t, (k, w) in enumerate(taps):
            index[j, t], weight[j, t] = k, w / total
    return AxisResampling(n_in, n_out, ratio, index, weight.astype(np.float32))


def resampling_affine(axes_xyz: Sequence[AxisResampling]) -> Matrix:
    """4x4: input voxel (x, y, z, 1) -> resampled voxel, per axis (x + 0.5) / r − 0.5."""
    matrix = np.eye(4)
    for axis, resampling in enumerate(axes_xyz):
        matrix[axis, axis], matrix[axis, 3] = resampling.affine_1d()
    return matrix


def block_mean_affine(factor: int) -> Matrix:
    """4x4: full-size voxel -> voxel of the planes resized in-plane by `factor` (planes.block_mean):
    x' = (x + 0.5) / f − 0.5, likewise y; z unchanged."""
    matrix = np.eye(4)
    for axis in (0, 1):
        matrix[axis, axis], matrix[axis, 3] = 1.0 / factor, 0.5 / factor - 0.5
    return matrix
