"""Plane files of the products (one 16-bit TIFF per z plane, `layout.plane_name`), the in-plane area
average of the resized planes, and how array tasks share out their work."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import tifffile

from ..errors import PipelineError
from ..layout import plane_name
from .raw import read_image

FloatImage = npt.NDArray[np.float32]
PLANE_RE = re.compile(r"^plane_(\d{4,})\.tif$")


def to_uint16(image: npt.NDArray[np.floating]) -> npt.NDArray[np.uint16]:
    """Round to the nearest count and clip to 0..65535."""
    return np.asarray(np.clip(np.rint(image), 0, 65535), dtype=np.uint16)


def write_plane(folder: Path, z: int, image: npt.NDArray[np.floating]) -> Path:
    """Write `plane_<zzzz>.tif` (16-bit) under a temporary name and rename it, so a plane file that
    exists is always complete, also after a killed task."""
    path = folder / plane_name(z)
    partial = folder / f".{path.name}.partial"
    tifffile.imwrite(partial, to_uint16(image), photometric="minisblack")
    os.replace(partial, path)
    return path


def read_plane(folder: Path, z: int) -> FloatImage:
    path = folder / plane_name(z)
    if not path.is_file():
        raise PipelineError(f"plane {path.name} is missing in {folder}: did the previous stage finish?")
    return read_image(path)


def plane_numbers(folder: Path) -> list[int]:
    """The z numbers of the plane files in `folder`, ascending."""
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for name in os.listdir(folder) if (m := PLANE_RE.match(name)))


def block_mean(image: npt.NDArray[np.floating], factor: int) -> FloatImage:
    """Area-averaging downscale by an integer factor: output pixel (i, j) is the mean of input pixels
    [i·f, i·f + f) × [j·f, j·f + f); the last row and column of blocks average only the pixels that exist,
    so the output shape is ceil(shape / f)."""
    data = np.asarray(image, dtype=np.float32)
    if factor == 1:
        return data
    for axis in (0, 1):
        starts = np.arange(0, data.shape[axis], factor)
        counts = np.diff(np.append(starts, data.shape[axis])).astype(np.float32)
        sums = np.add.reduceat(data, starts, axis=axis)
        data = np.asarray(sums / (counts[:, None] if axis == 0 else counts[None, :]), dtype=np.float32)
    return data


def task_items(task_index: int, task_count: int, items: int) -> range:
    """Items k, k + N, k + 2N, ... of task k of N: with N = items, task k does item k."""
    return range(task_index, items, task_count)


def plane_chunk(chunk: int, per_task: int, planes: int) -> range:
    """Planes [chunk·per_task, (chunk + 1)·per_task) that exist."""
    return range(chunk * per_task, min((chunk + 1) * per_task, planes))
