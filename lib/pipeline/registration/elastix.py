"""Running Debian's `elastix` and `transformix` commands (argv lists, never a shell) and the parameter files
our code writes for them.

The registration is affine, then B-spline on top of it (`HowToCombineTransforms "Compose"`), both by
Mattes mutual information with adaptive stochastic gradient descent on smoothing pyramids. Images are
handed over as MetaImage files with explicit spacing in µm, so physical coordinates are µm with the origin
at voxel (0, 0, 0) of each image. The settings suit volumes of ~50 to ~500 voxels per side: the 25 µm
Allen template and the small synthetic atlases of the tests alike (the B-spline grid is set in fixed
voxels, the pyramids by factors).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PipelineError
from .volumes import Matrix

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


def executable(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PipelineError(f"{name} is not installed on this node (Debian package elastix)")
    return found


def thread_count() -> int:
    """The CPUs Slurm gave the task, else the machine's."""
    value = os.environ.get("SLURM_CPUS_PER_TASK", "")
    return int(value) if value.isdigit() and int(value) > 0 else max(1, os.cpu_count() or 1)


def _log_tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "no log"
    errors = [line.strip() for line in text if "error" in line.lower()]
    return " | ".join((errors or text)[-lines:])


def run_tool(argv: Sequence[str], out_dir: Path, log_name: str, heartbeat: Callable[[], None] | None = None) -> None:
    """Run elastix or transformix writing into `out_dir`; `heartbeat` is called every 30 s while it runs.
    A non-zero exit raises `PipelineError` with the tool's last error lines."""
    out_dir.mkdir(parents=True, exist_ok=True)
    console = out_dir / f"{log_name}.console.txt"
    with console.open("wb") as sink:
        process = subprocess.Popen(list(argv), stdout=sink, stderr=subprocess.STDOUT)  # noqa: S603
        while True:
            try:
                code = process.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                if heartbeat is not None:
                    heartbeat()
    if code != 0:
        log = out_dir / f"{log_name}.log"
        detail = _log_tail(log if log.is_file() else console)
        raise PipelineError(f"{Path(argv[0]).name} failed with exit status {code}: {detail} (see {out_dir})")


def run_elastix(
    fixed: Path,
    moving: Path,
    parameter_files: Sequence[Path],
    out_dir: Path,
    heartbeat: Callable[[], None] | None = None,
) -> None:
    argv = [executable("elastix"), "-f", str(fixed), "-m", str(moving), "-out", str(out_dir)]
    for path in parameter_files:
        argv += ["-p", str(path)]
    run_tool([*argv, "-threads", str(thread_count())], out_dir, "elastix", heartbeat)


def run_transformix(
    transform: Path,
    out_dir: Path,
    moving: Path | None = None,
    deformation: bool = False,
    heartbeat: Callable[[], None] | None = None,
) -> None:
    """Resample `moving` into the fixed grid (`result.mhd`) and/or write the deformation field
    (`deformationField.mhd`: fixed-point displacement to the moving point, µm)."""
    argv = [executable("transformix"), "-tp", str(transform), "-out", str(out_dir)]
    if moving is not None:
        argv += ["-in", str(moving)]
    if deformation:
        argv += ["-def", "all"]
    run_tool([*argv, "-threads", str(thread_count())], out_dir, "transformix", heartbeat)


# --- transform parameter files ----------------------------------------------------------------------------

_ENTRY = re.compile(r"^\((\w+)\s+(.*)\)\s*$")


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
        if match and match.group(1) in rendered:
            lines.append(rendered.pop(match.group(1)))
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
