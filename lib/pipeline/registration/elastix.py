"""Registration with elastix through itk-elastix (PyPI), in this process, and the parameter files it runs on.

The registration is affine, then B-spline on top of it (`HowToCombineTransforms "Compose"`), both by
Mattes mutual information with adaptive stochastic gradient descent on smoothing pyramids. Images are
handed over with explicit spacing in µm, so physical coordinates are µm with the origin at voxel (0, 0, 0)
of each image. The settings suit volumes of ~50 to ~500 voxels per side: the 25 µm Allen template and the
small synthetic atlases of the tests alike (the B-spline grid is set in fixed voxels, the pyramids by
factors). elastix reads and writes its parameter files as its command line does, so the transform files
(`TransformParameters.N.txt`) are the same text files and chain to each other by file name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import itk  # type: ignore[import-untyped]
import numpy as np

from ..errors import PipelineError
from .volumes import Array, Matrix, Vec3

ParameterValue = str | int | float | bool | Sequence[str | int | float]

COMMON: dict[str, ParameterValue] = {
    "FixedInternalImagePixelType": "float",
    "MovingInternalImagePixelType": "float",
    "FixedImageDimension": 3,
    "MovingImageDimension": 3,
    "UseDirectionCosines": True,
    "Registration": "MultiResolutionRegistration",
    "Interpolator": "BSplineInterpolator",
    "ResampleInterpolator": "FinalBSplineInterpolator",
    "Resampler": "DefaultResampler",
    "FixedImagePyramid": "FixedSmoothingImagePyramid",
    "MovingImagePyramid": "MovingSmoothingImagePyramid",
    "Optimizer": "AdaptiveStochasticGradientDescent",
    "Metric": "AdvancedMattesMutualInformation",
    "NumberOfHistogramBins": 32,
    "HowToCombineTransforms": "Compose",
    "ImageSampler": "RandomCoordinate",
    "NewSamplesEveryIteration": True,
    "BSplineInterpolationOrder": 1,
    "FinalBSplineInterpolationOrder": 3,
    "DefaultPixelValue": 0,
    "ResultImagePixelType": "float",  # rounded and clipped to 16 bits by us
    "ResultImageFormat": "mhd",
    "CompressResultImage": False,
}

AFFINE: dict[str, ParameterValue] = {
    **COMMON,
    "Transform": "AffineTransform",
    "AutomaticScalesEstimation": True,
    "AutomaticTransformInitialization": True,
    "AutomaticTransformInitializationMethod": "CenterOfGravity",
    "NumberOfResolutions": 4,
    "MaximumNumberOfIterations": 400,
    "NumberOfSpatialSamples": 3000,
    "WriteResultImage": False,
}

BSPLINE: dict[str, ParameterValue] = {
    **COMMON,
    "Transform": "BSplineTransform",
    "FinalGridSpacingInVoxels": 12,  # 300 µm on a 25 µm atlas
    "GridSpacingSchedule": (4, 2, 1),
    "NumberOfResolutions": 3,
    "MaximumNumberOfIterations": 400,
    "NumberOfSpatialSamples": 3000,
    "WriteResultImage": True,
}


def parameter_text(parameters: Mapping[str, ParameterValue]) -> str:
    """elastix's `(Key value ...)` format: strings quoted, booleans as "true"/"false"."""

    def one(value: str | int | float | bool) -> str:
        if isinstance(value, bool):
            return '"true"' if value else '"false"'
        if isinstance(value, str):
            return f'"{value}"'
        return repr(value)

    lines = []
    for key, value in parameters.items():
        values = value if isinstance(value, list | tuple) else (value,)
        lines.append(f"({key} {' '.join(one(v) for v in values)})")
    return "\n".join(lines) + "\n"


def thread_count() -> int:
    """The CPUs Slurm gave the task, never more than this machine lets us use."""
    available = len(os.sched_getaffinity(0))
    value = os.environ.get("SLURM_CPUS_PER_TASK", "")
    return min(int(value), available) if value.isdigit() and int(value) > 0 else available


def _image(volume: Array, spacing: Vec3) -> Any:
    """A float itk image of a (z, y, x) array with (x, y, z) spacing in µm, origin 0."""
    image = itk.image_from_array(np.ascontiguousarray(volume, dtype=np.float32))
    image.SetSpacing([float(v) for v in spacing])
    return image


def _parameter_object(files: Sequence[Path]) -> Any:
    parameters = itk.ParameterObject.New()
    for path in files:
        parameters.AddParameterFile(str(path))
    return parameters


def _run(what: str, log: Path, call: Any) -> Any:
    """Run one elastix/transformix call on this stage's threads; its failure becomes a `PipelineError` with
    the log's last error lines."""
    itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(thread_count())
    try:
        return call()
    except RuntimeError as exc:
        detail = _log_tail(log) if log.is_file() else str(exc).strip().splitlines()[-1]
        raise PipelineError(f"{what} failed: {detail} (see {log.parent})") from exc


def _log_tail(log: Path, lines: int = 5) -> str:
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    errors = [line.strip() for line in text if "error" in line.lower()]
    return " | ".join((errors or text)[-lines:])


def register(
    fixed: Array,
    fixed_spacing: Vec3,
    moving: Array,
    moving_spacing: Vec3,
    parameter_files: Sequence[Path],
    out_dir: Path,
) -> Array:
    """Register `moving` to `fixed` with the parameter files in order; writes `TransformParameters.<n>.txt`
    (each chained to the one before by file name) and `elastix.log` into `out_dir`, returns the moving
    volume resampled onto the fixed grid (float, (z, y, x))."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result, _ = _run(
        "elastix",
        out_dir / "elastix.log",
        lambda: itk.elastix_registration_method(
            _image(fixed, fixed_spacing),
            _image(moving, moving_spacing),
            parameter_object=_parameter_object(parameter_files),
            output_directory=str(out_dir),
            log_to_file=True,
            log_to_console=False,
            number_of_threads=thread_count(),
        ),
    )
    return np.asarray(itk.array_from_image(result))


def _transformix(function: Any, transform_file: Path, moving: Any, out_dir: Path) -> Any:
    """One transformix call (`itk.transformix_filter` or `itk.transformix_deformation_field`) with a
    transform file and the files it chains to; logs into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return _run(
        "transformix",
        out_dir / "transformix.log",
        lambda: function(
            moving,
            transform_parameter_object=_parameter_object([transform_file]),
            output_directory=str(out_dir),
            log_to_file=True,
            log_to_console=False,
        ),
    )


def transform(transform_file: Path, moving: Array, moving_spacing: Vec3, out_dir: Path) -> Array:
    """Resample `moving` onto the fixed grid of a transform file."""
    result = _transformix(itk.transformix_filter, transform_file, _image(moving, moving_spacing), out_dir)
    return np.asarray(itk.array_from_image(result))


def write_deformation_field(transform_file: Path, target: Path) -> None:
    """The transform's deformation field on the grid of its file (fixed-point displacement to the moving
    point, µm) as the MetaImage pair `target` (.mhd) and its .raw beside it."""
    moving = _image(np.zeros((2, 2, 2)), (1.0, 1.0, 1.0))  # transformix wants one; the grid is the file's
    field = _transformix(itk.transformix_deformation_field, transform_file, moving, target.parent)
    itk.imwrite(field, str(target), compression=False)


# --- transform parameter files ----------------------------------------------------------------------------

_ENTRY = re.compile(r"^\((\w+)\s+(.*)\)\s*$")
INITIAL_TRANSFORM = "InitialTransformParameterFileName"  # the file name of the transform this one composes on
_RENAMED = {"InitialTransformParametersFileName": INITIAL_TRANSFORM}  # spelling of elastix before 5.1


def read_parameters(path: Path) -> dict[str, list[str]]:
    """A parameter file's entries, values unquoted."""
    entries: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _ENTRY.match(line.strip())
        if match:
            entries[match.group(1)] = [v.strip('"') for v in re.findall(r'"[^"]*"|\S+', match.group(2))]
    return entries


def rewrite_parameters(source: Path, target: Path, changes: Mapping[str, ParameterValue]) -> None:
    """Copy a parameter file, replacing (or appending) the given entries."""
    rendered = {key: parameter_text({key: value}).strip() for key, value in changes.items()}
    lines = []
    for line in source.read_text(encoding="utf-8").splitlines():
        match = _ENTRY.match(line.strip())
        key = match and _RENAMED.get(match.group(1), match.group(1))
        if key and key in rendered:
            lines.append(rendered.pop(key))
        else:
            lines.append(line)
    lines.extend(rendered.values())
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Grid:
    """An image grid of a transform parameter file (direction cosines must be the identity)."""

    size: tuple[int, int, int]  # (x, y, z)
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]


def read_grid(entries: Mapping[str, list[str]]) -> Grid:
    size = [int(v) for v in entries["Size"]]
    spacing = [float(v) for v in entries["Spacing"]]
    origin = [float(v) for v in entries["Origin"]]
    direction = [float(v) for v in entries.get("Direction", ["1", "0", "0", "0", "1", "0", "0", "0", "1"])]
    if not np.allclose(direction, np.eye(3).ravel()):
        raise PipelineError("the registration's direction cosines are not the identity")
    return Grid((size[0], size[1], size[2]), (spacing[0], spacing[1], spacing[2]), (origin[0], origin[1], origin[2]))


def read_affine(path: Path) -> Matrix:
    """The 4x4 matrix of an elastix `AffineTransform` file (fixed µm -> moving µm):
    y = M (x - c) + c + t, with parameters M row by row, then t, and c the centre of rotation."""
    entries = read_parameters(path)
    if entries.get("Transform", [""])[0] != "AffineTransform":
        raise PipelineError(f"{path} is not an elastix affine transform")
    values = [float(v) for v in entries["TransformParameters"]]
    centre = np.array([float(v) for v in entries["CenterOfRotationPoint"]])
    matrix = np.asarray(values[:9], dtype=np.float64).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = matrix
    affine[:3, 3] = centre + np.asarray(values[9:12]) - matrix @ centre
    return affine
