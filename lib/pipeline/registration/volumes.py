"""Volume files of the registration stages: 16-bit multi-page TIFFs (the pipeline's products), MetaImage
files (the deformation field elastix writes), and the downsized volume's JSON sidecar.

Arrays are indexed (z, y, x); spacings, points and affines are (x, y, z).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from ..errors import PipelineError

Array = npt.NDArray[Any]
Matrix = npt.NDArray[np.float64]
Vec3 = tuple[float, float, float]

# MetaImage element types we read, by numpy dtype.
MET_TYPES: dict[str, str] = {
    "uint8": "MET_UCHAR",
    "int8": "MET_CHAR",
    "uint16": "MET_USHORT",
    "int16": "MET_SHORT",
    "uint32": "MET_UINT",
    "int32": "MET_INT",
    "float32": "MET_FLOAT",
    "float64": "MET_DOUBLE",
}
NUMPY_TYPES = {met: np.dtype(name) for name, met in MET_TYPES.items()}


def read_volume(path: Path, what: str) -> Array:
    """A 3-D volume from a (multi-page) TIFF; a `PipelineError` naming `what` when it is missing or not 3-D."""
    if not path.is_file():
        raise PipelineError(f"the {what} {path} does not exist")
    try:
        volume = tifffile.imread(path)
    except (OSError, ValueError, tifffile.TiffFileError) as exc:
        raise PipelineError(f"the {what} {path} is not a readable TIFF: {exc}") from exc
    volume = np.squeeze(np.asarray(volume))
    if volume.ndim != 3 or min(volume.shape) < 2:
        raise PipelineError(f"the {what} {path} must be a 3-D stack, got shape {volume.shape}")
    return volume


def to_uint16(volume: Array) -> npt.NDArray[np.uint16]:
    """Round and clip to the 16-bit range (interpolated results can undershoot 0)."""
    if volume.dtype == np.uint16:
        return np.asarray(volume, dtype=np.uint16)
    return np.asarray(np.clip(np.rint(volume), 0, 65535), dtype=np.uint16)


def write_tiff_volume(path: Path, volume: Array) -> None:
    """Write a 16-bit multi-page TIFF atomically (a partial file never carries the final name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tifffile.imwrite(partial, to_uint16(volume), photometric="minisblack")
    partial.replace(path)


@dataclass(frozen=True)
class MetaImage:
    """A MetaImage read back: the data (z, y, x[, components]) and its grid."""

    data: Array
    spacing: Vec3
    origin: Vec3


def read_metaimage(path: Path) -> MetaImage:
    header: dict[str, str] = {}
    for line in path.read_text(encoding="ascii").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            header[key.strip()] = value.strip()
    dims = [int(v) for v in header["DimSize"].split()]
    if len(dims) != 3:
        raise ValueError(f"{path}: expected a 3-D image, got DimSize {dims}")
    components = int(header.get("ElementNumberOfChannels", "1"))
    if header.get("CompressedData", "False").lower() == "true":
        raise ValueError(f"{path}: compressed MetaImage data is not supported")
    big_endian = header.get("BinaryDataByteOrderMSB", header.get("ElementByteOrderMSB", "False")) == "True"
    dtype = NUMPY_TYPES[header["ElementType"]].newbyteorder(">" if big_endian else "<")
    data = np.fromfile(path.parent / header["ElementDataFile"], dtype=dtype)
    shape = (dims[2], dims[1], dims[0]) + ((components,) if components > 1 else ())
    spacing = [float(v) for v in header.get("ElementSpacing", "1 1 1").split()]
    origin = [float(v) for v in header.get("Offset", header.get("Origin", "0 0 0")).split()]
    return MetaImage(
        data=data.reshape(shape).astype(dtype.newbyteorder("="), copy=False),
        spacing=(spacing[0], spacing[1], spacing[2]),
        origin=(origin[0], origin[1], origin[2]),
    )


def sidecar_path(volume: Path) -> Path:
    """`<volume>.json`: the downsized volume's description, written by the downsize stage."""
    return volume.with_name(volume.name + ".json")


def _positive_vec3(value: Any, name: str, where: Path) -> Vec3:
    try:
        vec = [float(v) for v in value]
    except (TypeError, ValueError) as exc:
        raise PipelineError(f"{where}: {name} must be three numbers") from exc
    if len(vec) != 3 or not all(math.isfinite(v) and v > 0 for v in vec):
        raise PipelineError(f"{where}: {name} must be three positive numbers")
    return (vec[0], vec[1], vec[2])


@dataclass(frozen=True)
class DownsizedVolume:
    """The downsize stage's product for one channel and what its sidecar says about it."""

    path: Path
    voxel_size_um: Vec3  # (x, y, z)
    shape_zyx: tuple[int, int, int]
    full_to_downsized: Matrix | None  # full-resolution voxel (x, y, z, 1) -> downsized voxel; None without sidecar

    @classmethod
    def open(cls, path: Path, fallback_voxel_um: Vec3 | None = None) -> DownsizedVolume:
        """Read the sidecar of `path`. Without one, `fallback_voxel_um` (the parameter document's
        `downsized_voxel_um`) is used when given; the full-resolution affine is then unknown."""
        if not path.is_file():
            raise PipelineError(f"the downsized volume {path} does not exist (has the downsize stage run?)")
        sidecar = sidecar_path(path)
        if not sidecar.is_file():
            if fallback_voxel_um is None:
                raise PipelineError(f"the downsized volume's description {sidecar} does not exist")
            with tifffile.TiffFile(path) as tif:
                shape = tuple(int(n) for n in tif.series[0].shape)
            if len(shape) != 3:
                raise PipelineError(f"the downsized volume {path} must be a 3-D stack, got shape {shape}")
            return cls(path, fallback_voxel_um, (shape[0], shape[1], shape[2]), None)
        try:
            doc = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise PipelineError(f"the downsized volume's description {sidecar} is not readable JSON") from exc
        if not isinstance(doc, dict):
            raise PipelineError(f"{sidecar} must hold a JSON object")
        voxel = _positive_vec3(doc.get("voxel_size_um"), "voxel_size_um", sidecar)
        shape_value = doc.get("shape_zyx")
        if not (
            isinstance(shape_value, list) and len(shape_value) == 3 and all(isinstance(n, int) for n in shape_value)
        ):
            raise PipelineError(f"{sidecar}: shape_zyx must be three integers")
        affine_value = doc.get("full_to_downsized")
        try:
            affine = np.asarray(affine_value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise PipelineError(f"{sidecar}: full_to_downsized must be a 4x4 matrix") from exc
        if (
            affine.shape != (4, 4)
            or not np.all(np.isfinite(affine))
            or not np.allclose(affine[3], (0, 0, 0, 1))
            or abs(np.linalg.det(affine[:3, :3])) < 1e-12
        ):
            raise PipelineError(f"{sidecar}: full_to_downsized must be an invertible 4x4 affine")
        return cls(path, voxel, (shape_value[0], shape_value[1], shape_value[2]), affine)


def write_sidecar(
    volume: Path, voxel_size_um: Vec3, shape_zyx: tuple[int, int, int], full_to_downsized: Matrix
) -> None:
    """The sidecar as the downsize stage writes it (used by tests and tools)."""
    doc = {
        "voxel_size_um": list(voxel_size_um),
        "shape_zyx": list(shape_zyx),
        "full_to_downsized": np.asarray(full_to_downsized, dtype=np.float64).tolist(),
    }
    sidecar_path(volume).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
