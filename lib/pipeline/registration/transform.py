"""The registration transform in both directions.

elastix's transform T maps a fixed (atlas) point to the moving (sample) point whose intensity it shows:
that is what resampling a sample volume into atlas space needs. Mapping detected cells goes the other way,
sample -> atlas, so we invert T numerically instead of running a second, inverse registration (which
would cost as much as the first and agree with it only approximately):

- T = affine A (TransformParameters.0.txt, read exactly) followed by a smooth B-spline correction. The
  residual R(x) = T(x) - A(x) is sampled on a grid over the atlas from transformix's deformation field
  (every `FIELD_STRIDE` atlas voxels) and interpolated trilinearly; outside that grid it is extended by its
  nearest value.
- T⁻¹(p) solves A(x) + R(x) = p by the iteration x ← x - M⁻¹ (T(x) - p) from x = A⁻¹(p), where M is A's
  linear part. It converges whenever the B-spline part is locally invertible (its Jacobian relative to A
  stays close to the identity), which elastix's smooth B-spline grids give; the inverse is accurate to
  about 0.001 atlas voxel on the sampled grid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage  # type: ignore[import-untyped]

from ..errors import PipelineError
from .elastix import read_affine
from .volumes import Matrix, Vec3, read_metaimage

FIELD_STRIDE = 2  # the deformation field is sampled every 2 atlas voxels (B-spline grids are ≥ 12 voxels)
AFFINE_NAME = "TransformParameters.0.txt"
BSPLINE_NAME = "TransformParameters.1.txt"
FIELD_NAME = "deformationField.mhd"
FIELD_DATA_NAME = "deformationField.raw"
DONE_NAME = "registration.json"

Points = npt.NDArray[np.float64]
FloatArray = npt.NDArray[np.float32]


def apply_affine(matrix: Matrix, points: npt.ArrayLike) -> Points:
    """(n, 3) points (x, y, z) through a 4x4 affine."""
    array = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return np.asarray(array @ matrix[:3, :3].T + matrix[:3, 3], dtype=np.float64)


@dataclass(frozen=True, eq=False)  # holds arrays
class RegistrationTransform:
    """Atlas voxel <-> downsized-volume voxel, from a finished registration's `elastix/` folder."""

    affine: Matrix  # fixed µm -> moving µm
    residual: tuple[FloatArray, FloatArray, FloatArray] = field(repr=False)  # (z, y, x) grids, µm
    field_origin: Vec3
    field_spacing: Vec3
    fixed_voxel_um: Vec3  # atlas
    fixed_shape_zyx: tuple[int, int, int]  # the atlas template's grid
    moving_voxel_um: Vec3  # downsized volume

    @classmethod
    def load(cls, elastix_dir: Path) -> RegistrationTransform:
        done = elastix_dir / DONE_NAME
        try:
            record: dict[str, Any] = json.loads(done.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise PipelineError(f"no finished registration in {elastix_dir} (has the register stage run?)") from exc
        affine = read_affine(elastix_dir / AFFINE_NAME)
        image = read_metaimage(elastix_dir / FIELD_NAME)
        displacement = image.data
        if displacement.ndim != 4 or displacement.shape[3] != 3:
            raise PipelineError(f"{elastix_dir / FIELD_NAME} is not a 3-D vector field")
        nz, ny, nx = displacement.shape[:3]
        xs, ys, zs = (image.origin[k] + image.spacing[k] * np.arange(n) for k, n in enumerate((nx, ny, nz)))
        residual = []
        for k in range(3):  # R_k = x_k + D_k(x) - A_k(x), built by broadcasting one axis at a time
            linear = np.eye(3)[k] - affine[k, :3]
            component = displacement[..., k].astype(np.float32)
            component += (linear[0] * xs).astype(np.float32)[None, None, :]
            component += (linear[1] * ys).astype(np.float32)[None, :, None]
            component += (linear[2] * zs - affine[k, 3]).astype(np.float32)[:, None, None]
            residual.append(component)
        return cls(
            affine=affine,
            residual=(residual[0], residual[1], residual[2]),
            field_origin=image.origin,
            field_spacing=image.spacing,
            fixed_voxel_um=_vec3(record["fixed_voxel_um"]),
            fixed_shape_zyx=(
                int(record["fixed_shape_zyx"][0]),
                int(record["fixed_shape_zyx"][1]),
                int(record["fixed_shape_zyx"][2]),
            ),
            moving_voxel_um=_vec3(record["moving_voxel_um"]),
        )

    def _residual_at(self, points_um: Points) -> Points:
        index = (points_um - np.asarray(self.field_origin)) / np.asarray(self.field_spacing)
        coords = index[:, ::-1].T  # (z, y, x) rows for map_coordinates
        return np.stack(
            [ndimage.map_coordinates(c, coords, order=1, mode="nearest") for c in self.residual], axis=1
        ).astype(np.float64)

    def fixed_to_moving_um(self, points_um: npt.ArrayLike) -> Points:
        """T: atlas µm -> sample µm."""
        points = np.asarray(points_um, dtype=np.float64).reshape(-1, 3)
        return apply_affine(self.affine, points) + self._residual_at(points)

    def moving_to_fixed_um(self, points_um: npt.ArrayLike, iterations: int = 50) -> Points:
        """T⁻¹: sample µm -> atlas µm (see the module docstring)."""
        target = np.asarray(points_um, dtype=np.float64).reshape(-1, 3)
        inverse_linear = np.linalg.inv(self.affine[:3, :3])
        estimate = (target - self.affine[:3, 3]) @ inverse_linear.T
        tolerance = 1e-4 * min(self.fixed_voxel_um)
        for _ in range(iterations):
            step = (self.fixed_to_moving_um(estimate) - target) @ inverse_linear.T
            estimate -= step
            if not len(step) or float(np.max(np.abs(step))) < tolerance:
                break
        return estimate

    def atlas_to_downsized(self, atlas_vox: npt.ArrayLike) -> Points:
        fixed = np.asarray(atlas_vox, dtype=np.float64).reshape(-1, 3) * np.asarray(self.fixed_voxel_um)
        return np.asarray(self.fixed_to_moving_um(fixed) / np.asarray(self.moving_voxel_um), dtype=np.float64)

    def downsized_to_atlas(self, downsized_vox: npt.ArrayLike) -> Points:
        moving = np.asarray(downsized_vox, dtype=np.float64).reshape(-1, 3) * np.asarray(self.moving_voxel_um)
        return np.asarray(self.moving_to_fixed_um(moving) / np.asarray(self.fixed_voxel_um), dtype=np.float64)


def _vec3(value: Any) -> Vec3:
    return (float(value[0]), float(value[1]), float(value[2]))
