"""Cell detection on full-resolution planes, a z slab at a time within a memory budget (never the whole
volume unless it fits the budget).

The detection scale is σ = `cell_radius_um / 3` per axis (at least `MIN_SIGMA_VOX` voxels): a little
under a cell's own Gaussian sigma (about radius / 2), which favours cells over the smoother texture of
autofluorescent tissue (measured on the synthetic samples: the margin between the dimmest cell and the
strongest non-cell doubles against a filter matched to the cell). In each slab:

1. difference of Gaussians: G(σ) * I minus its background G(3σ) * I, a band-pass at the cell's scale;
2. candidates: local maxima of the DoG within ±`min_distance_um` per axis;
3. blob test: at a candidate the scale-normalised Hessian of G(σ) * I must be negative definite with its
   eigenvalues within a factor `1 / BLOB_RATIO` of each other: this rejects sheets and tubes (tissue
   boundaries, fibre tracts) whose DoG can be as strong as a dim cell's;
4. threshold: DoG ≥ `threshold_sigma` × the noise of the DoG in tissue, a robust estimate (1.4826 × median
   absolute deviation over the brighter half of the voxels of `NOISE_SLABS` thin slabs at 1/4, 1/2 and
   3/4 of the depth, computed once per channel so every slab uses the same threshold);
5. sub-voxel position: a parabola through the DoG at the maximum and its two neighbours per axis.

Slabs overlap by the filters' reach, and a maximum is kept only by the slab whose core holds it, so the
result does not depend on the slab depth.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import tifffile
from scipy import ndimage  # type: ignore[import-untyped]

from ..errors import PipelineError

FloatVolume = npt.NDArray[np.float32]
Points = npt.NDArray[np.float64]

BACKGROUND_SCALE = 3.0  # background Gaussian = 3 × the cell's sigma
BLOB_RATIO = 0.4  # least / most negative Hessian eigenvalue at a cell, at least
TRUNCATE = 4.0  # Gaussian kernels reach 4 sigma
MIN_SIGMA_VOX = 0.7
NOISE_SLABS = 3
NOISE_SLAB_PLANES = 8
NOISE_SAMPLES_PER_SLAB = 2_000_000
SLAB_BUDGET_BYTES = 16 * 1024**3  # working memory of one slab (about six float32 copies) ...
SLAB_SHARE_OF_SLURM_MEMORY = 0.25  # ... or a quarter of the task's Slurm memory when that is less
DEFAULTS = {"cell_radius_um": 8.0, "threshold_sigma": 8.0}
PLANE_RE = re.compile(r"^plane_(\d{4,})\.tif$")


@dataclass(frozen=True)
class DetectionSettings:
    sigma_vox: tuple[float, float, float]  # (z, y, x), the detection scale
    min_distance_vox: tuple[int, int, int]  # (z, y, x) half-width of the local-maximum window
    threshold_sigma: float

    @classmethod
    def from_options(cls, options: Mapping[str, float], voxel_um: tuple[float, float, float]) -> DetectionSettings:
        """From the parameter document's `cell_detection` and the (x, y, z) full-resolution voxel size."""
        unknown = sorted(set(options) - {"cell_radius_um", "threshold_sigma", "min_distance_um"})
        if unknown:
            raise PipelineError(f"cell_detection: unknown option(s) {', '.join(unknown)}")
        radius = float(options.get("cell_radius_um", DEFAULTS["cell_radius_um"]))
        distance = float(options.get("min_distance_um", radius))
        threshold = float(options.get("threshold_sigma", DEFAULTS["threshold_sigma"]))
        if not (radius > 0 and distance > 0 and threshold > 0):
            raise PipelineError("cell_detection: cell_radius_um, min_distance_um and threshold_sigma must be > 0")
        zyx = (voxel_um[2], voxel_um[1], voxel_um[0])
        sigma = tuple(max(MIN_SIGMA_VOX, radius / 3 / v) for v in zyx)
        window = tuple(max(1, round(distance / v)) for v in zyx)
        return cls((sigma[0], sigma[1], sigma[2]), (window[0], window[1], window[2]), threshold)

    @property
    def reach_z(self) -> int:
        """Planes a slab needs beyond its core so its values equal those of the whole volume."""

        def radius(sigma: float) -> int:
            return int(TRUNCATE * sigma + 0.5)

        background = self.sigma_vox[0] * math.sqrt(BACKGROUND_SCALE**2 - 1)
        return radius(self.sigma_vox[0]) + radius(background) + self.min_distance_vox[0] + 1


class PlaneStack:
    """The blended full-resolution planes of one channel: `plane_<zzzz>.tif`, z = 0 .. n - 1."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise PipelineError(f"the full-resolution plane folder {folder} does not exist (has the stitch stage run?)")
        numbered = {}
        for path in folder.iterdir():
            match = PLANE_RE.match(path.name)
            if match:
                numbered[int(match.group(1))] = path
        if not numbered:
            raise PipelineError(f"the full-resolution plane folder {folder} holds no plane_<zzzz>.tif files")
        missing = sorted(set(range(max(numbered) + 1)) - set(numbered))
        if missing:
            raise PipelineError(f"{folder} lacks plane {missing[0]} ({len(missing)} plane(s) missing)")
        self.folder = folder
        self.paths = [numbered[z] for z in range(len(numbered))]
        first = tifffile.imread(self.paths[0])
        if first.ndim != 2:
            raise PipelineError(f"{self.paths[0]} is not a single 2-D plane")
        self.plane_shape: tuple[int, int] = (int(first.shape[0]), int(first.shape[1]))

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, z0: int, z1: int) -> FloatVolume:
        out = np.empty((z1 - z0, *self.plane_shape), dtype=np.float32)
        for k, z in enumerate(range(z0, z1)):
            plane = tifffile.imread(self.paths[z])
            if plane.shape != self.plane_shape:
                raise PipelineError(f"{self.paths[z]} has shape {plane.shape}, plane 0 has {self.plane_shape}")
            out[k] = plane
        return out


def slab_budget_bytes() -> int:
    budget = SLAB_BUDGET_BYTES
    slurm_mb = os.environ.get("SLURM_MEM_PER_NODE", "")
    if slurm_mb.isdigit() and int(slurm_mb) > 0:
        budget = min(budget, int(SLAB_SHARE_OF_SLURM_MEMORY * int(slurm_mb) * 1024**2))
    return budget


def default_slab_planes(stack: PlaneStack, settings: DetectionSettings) -> int:
    """Core planes per slab within the memory budget (at least one, whatever the budget)."""
    plane_bytes = 6 * 4 * stack.plane_shape[0] * stack.plane_shape[1]
    return max(1, slab_budget_bytes() // plane_bytes - 2 * settings.reach_z)


@dataclass(frozen=True)
class Slab:
    smooth: FloatVolume  # G(σ) * I over planes [start, start + len)
    dog: FloatVolume
    start: int  # first plane held
    core: tuple[int, int]  # planes this slab answers for


def filtered_slabs(
    stack: PlaneStack, settings: DetectionSettings, slab_planes: int, cores: list[int] | None = None
) -> Iterator[Slab]:
    """DoG slabs with cores [z, z + slab_planes) for every z of `cores` (default: all, in order)."""
    reach, n = settings.reach_z, len(stack)
    background = tuple(s * math.sqrt(BACKGROUND_SCALE**2 - 1) for s in settings.sigma_vox)
    for core0 in range(0, n, slab_planes) if cores is None else cores:
        core1 = min(n, core0 + slab_planes)
        start, stop = max(0, core0 - reach), min(n, core1 + reach)
        smooth = ndimage.gaussian_filter(stack.read(start, stop), settings.sigma_vox, truncate=TRUNCATE)
        dog = smooth - ndimage.gaussian_filter(smooth, background, truncate=TRUNCATE)
        yield Slab(np.asarray(smooth, dtype=np.float32), np.asarray(dog, dtype=np.float32), start, (core0, core1))


def tissue_noise(stack: PlaneStack, settings: DetectionSettings) -> float:
    """Robust spread of the DoG in tissue (see the module docstring): from `NOISE_SLABS` slabs of
    `NOISE_SLAB_PLANES` planes at fixed depths, so it depends neither on the slab depth nor on memory."""
    n = len(stack)
    depth = min(n, NOISE_SLAB_PLANES)
    count = min(NOISE_SLABS, max(1, n // depth))
    cores = sorted({min(max(0, round(n * (k + 1) / (count + 1) - depth / 2)), n - depth) for k in range(count)})
    samples = []
    for slab in filtered_slabs(stack, settings, depth, cores):
        lo, hi = slab.core[0] - slab.start, slab.core[1] - slab.start
        smooth, dog = slab.smooth[lo:hi].ravel(), slab.dog[lo:hi].ravel()
        step = max(1, math.ceil(smooth.size / NOISE_SAMPLES_PER_SLAB))
        smooth, dog = smooth[::step], dog[::step]
        samples.append(dog[smooth > np.median(smooth)])
    values = np.concatenate(samples)
    if values.size == 0:
        return 1.0
    spread = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    return spread if spread > 0 else 1.0


def _values_at(volume: FloatVolume, points: npt.NDArray[np.int64], offset: npt.NDArray[np.int64]) -> Points:
    index = np.clip(points + offset, 0, np.asarray(volume.shape) - 1)
    return np.asarray(volume[index[:, 0], index[:, 1], index[:, 2]], dtype=np.float64)


def is_blob(
    smooth: FloatVolume, points: npt.NDArray[np.int64], sigma: tuple[float, float, float]
) -> npt.NDArray[np.bool_]:
    """The Hessian test of step 3 at integer points (z, y, x) of `smooth`."""
    hessian = np.zeros((len(points), 3, 3))
    unit = np.eye(3, dtype=np.int64)
    centre = _values_at(smooth, points, np.zeros(3, dtype=np.int64))
    for a in range(3):
        along = _values_at(smooth, points, unit[a]) - 2 * centre + _values_at(smooth, points, -unit[a])
        hessian[:, a, a] = along * sigma[a] ** 2
        for b in range(a + 1, 3):
            cross = (
                _values_at(smooth, points, unit[a] + unit[b])
                - _values_at(smooth, points, unit[a] - unit[b])
                - _values_at(smooth, points, unit[b] - unit[a])
                + _values_at(smooth, points, -unit[a] - unit[b])
            ) / 4
            hessian[:, a, b] = hessian[:, b, a] = cross * sigma[a] * sigma[b]
    eigen = np.linalg.eigvalsh(hessian) if len(points) else np.zeros((0, 3))  # ascending
    return np.asarray((eigen[:, 2] < 0) & (eigen[:, 2] <= BLOB_RATIO * eigen[:, 0]), dtype=np.bool_)


def _refine(dog: FloatVolume, points: npt.NDArray[np.int64]) -> Points:
    refined = points.astype(np.float64)
    unit = np.eye(3, dtype=np.int64)
    centre = _values_at(dog, points, np.zeros(3, dtype=np.int64))
    for a in range(3):
        minus, plus = _values_at(dog, points, -unit[a]), _values_at(dog, points, unit[a])
        curvature = minus - 2 * centre + plus
        inside = (points[:, a] > 0) & (points[:, a] < dog.shape[a] - 1) & (curvature < 0)
        step = np.where(inside, 0.5 * (minus - plus) / np.where(curvature < 0, curvature, -1.0), 0.0)
        refined[:, a] += np.clip(step, -0.5, 0.5)
    return refined


def detect_cells(
    stack: PlaneStack, settings: DetectionSettings, slab_planes: int | None = None
) -> tuple[Points, npt.NDArray[np.float64], float]:
    """Cells of one channel: (n, 3) centres (x, y, z) in full-resolution voxels, their scores (DoG in units
    of the tissue noise) and that noise."""
    noise = tissue_noise(stack, settings)
    planes = slab_planes or default_slab_planes(stack, settings)
    window = tuple(2 * w + 1 for w in settings.min_distance_vox)
    found: list[Points] = []
    scores: list[npt.NDArray[np.float64]] = []
    for slab in filtered_slabs(stack, settings, planes):
        floor = settings.threshold_sigma * noise
        peaks = (slab.dog == ndimage.maximum_filter(slab.dog, size=window, mode="nearest")) & (slab.dog >= floor)
        lo, hi = slab.core[0] - slab.start, slab.core[1] - slab.start
        peaks[:lo] = False
        peaks[hi:] = False
        points = np.argwhere(peaks).astype(np.int64)
        points = points[is_blob(slab.smooth, points, settings.sigma_vox)]
        refined = _refine(slab.dog, points)
        refined[:, 0] += slab.start
        found.append(refined[:, ::-1])  # (z, y, x) -> (x, y, z)
        scores.append(_values_at(slab.dog, points, np.zeros(3, dtype=np.int64)) / noise)
    return np.concatenate(found), np.concatenate(scores), noise
