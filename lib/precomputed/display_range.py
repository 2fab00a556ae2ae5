"""The contrast a viewer starts with: low and high percentiles of an image layer's values, read from a few planes
of its coarsest scale (a bounded read, a few megabytes at most, however large the layer).

Only raw-encoded scales are read (what this converter writes); anything else gives None and the viewer keeps
its fixed gain.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

#: percentiles of the values that map to black and to white
LOW_PERCENTILE = 1.0
HIGH_PERCENTILE = 99.5
#: voxels read at most (planes are whole: a coarsest-scale plane is small by construction), and the evenly
#: spaced share of them the percentiles are taken from
VOXEL_BUDGET = 1 << 21
SAMPLE_SIZE = 1 << 18
MAX_PLANES = 16


def display_range(layer_path: Path, budget: int = VOXEL_BUDGET) -> tuple[float, float] | None:
    """(low, high) percentiles of the coarsest scale's values, or None when they cannot be read or are equal."""
    try:
        info = json.loads((Path(layer_path) / "info").read_text(encoding="utf-8"))
        scale = info["scales"][-1]
        if info.get("type") != "image" or scale.get("encoding") != "raw" or int(info.get("num_channels", 1)) != 1:
            return None
        dtype = np.dtype(str(info["data_type"])).newbyteorder("<")
        size = [int(v) for v in scale["size"]]
        chunk = [int(v) for v in scale["chunk_sizes"][0]]
        offset = [int(v) for v in scale.get("voxel_offset", [0, 0, 0])]
        folder = Path(layer_path) / str(scale["key"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    planes = max(1, min(MAX_PLANES, size[2], budget // max(1, size[0] * size[1])))
    values = [
        part
        for i in range(planes)
        for part in _plane(folder, dtype, size, chunk, offset, (2 * i + 1) * size[2] // (2 * planes))
    ]
    if not values:
        return None
    sample = np.concatenate(values)
    sample = sample[:: max(1, sample.size // SAMPLE_SIZE)]
    low, high = (float(v) for v in np.percentile(sample, [LOW_PERCENTILE, HIGH_PERCENTILE]))
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return None
    if dtype.kind in "ui":
        low, high = float(math.floor(low)), float(math.ceil(high))
    return low, high


def _plane(
    folder: Path, dtype: np.dtype, size: list[int], chunk: list[int], offset: list[int], z: int
) -> Iterator[np.ndarray]:
    """The values of plane `z` (relative to the voxel offset), chunk by chunk; missing chunks are skipped."""
    z0 = (z // chunk[2]) * chunk[2]
    depth = min(chunk[2], size[2] - z0)
    for y0 in range(0, size[1], chunk[1]):
        for x0 in range(0, size[0], chunk[0]):
            width, height = min(chunk[0], size[0] - x0), min(chunk[1], size[1] - y0)
            spans = ((x0, width), (y0, height), (z0, depth))
            name = "_".join(f"{offset[a] + lo}-{offset[a] + lo + n}" for a, (lo, n) in enumerate(spans))
            count = width * height
            try:
                # raw chunks are x-fastest (Fortran order): plane z is one contiguous run of the file
                data = np.fromfile(folder / name, dtype=dtype, count=count, offset=(z - z0) * count * dtype.itemsize)
            except (OSError, ValueError):
                continue
            if data.size == count:
                yield data
