"""The `upload` stage: scale 0 from the TIFF input, in z-slabs one chunk thick.

Task k of n writes a contiguous range of slabs; memory holds one slab (x * y * chunk z voxels). Each
finished slab leaves a marker (progress.py), and a restarted task skips slabs already marked.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .errors import ConversionError
from .geometry import Scale, task_slabs
from .info import open_volume, read_scales
from .params import ConversionParams
from .progress import Progress
from .report import StageReport
from .tiffsource import TiffStack


def upload(params: ConversionParams, task_index: int, task_count: int) -> StageReport:
    started = time.monotonic()
    params.require("input_path", "progress_dir")
    assert params.input_path is not None and params.progress_dir is not None
    info, scales = read_scales(params)
    with TiffStack(params.input_path) as stack:
        written, skipped = _upload_slabs(params, info, scales[0], stack, task_index, task_count)
    return StageReport("upload", task_index, task_count, written, skipped, time.monotonic() - started)


def _upload_slabs(
    params: ConversionParams, info: dict[str, Any], base: Scale, stack: TiffStack, task_index: int, task_count: int
) -> tuple[int, int]:
    """Returns (slabs written now, slabs found done)."""
    assert params.progress_dir is not None
    if stack.shape != base.size:
        raise ConversionError(
            f"the input is {stack.shape[0]}x{stack.shape[1]}x{stack.shape[2]} (x, y, z) but the layer's info "
            f"says {base.size[0]}x{base.size[1]}x{base.size[2]}; the input changed after the info stage"
        )
    progress = Progress(params.progress_dir, "upload")
    dtype = np.dtype(info["data_type"])
    volume = open_volume(params, 0, info)
    written = skipped = 0
    for z0, z1 in task_slabs(base.size[2], base.chunk[2], task_index, task_count):
        if progress.is_done(z0, z1):
            skipped += 1
            continue
        volume[:, :, z0:z1] = stack.read_slab(z0, z1, dtype)
        progress.mark_done(z0, z1, task_index)
        written += 1
    return written, skipped
