"""The `downsample` stage: every further scale of the layer, each computed from the scale below.

Work goes slab by slab (one chunk row in z of the scale being written), so memory holds one slab of that
scale plus a few chunks of the scale below, never a whole scale. Task k of n owns a range of scale-0
planes aligned so that it can compute scales 1..D of that range on its own (geometry.downsample_plan).
When z is halved, the coarsest scales may have fewer chunk rows than there are tasks; those scales (D+1
and up) are computed by the task that finishes the parallel part last: each task records its finished
range in a ledger under an exclusive lock, and the one whose record completes the coverage computes them
while holding the lock.
Every slab leaves a progress marker; a restarted task skips marked slabs.

Two things keep reads down: a block just computed feeds the next scale straight from memory while that
scale's slab covers the same planes (2 x 2 x 1 steps with equal chunk depth: every scale of a raw layer
comes from one read of scale 0), and the scale below is read a few whole chunks at a time and pooled
piece by piece, so a slab of scale 0 is never held whole.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ConversionError
from .geometry import Scale, downsample_plan, level_range, slabs
from .info import open_volume, read_scales
from .params import ConversionParams
from .pooling import downsample_block
from .progress import Ledger, Progress, covers
from .report import StageReport


def downsample(params: ConversionParams, task_index: int, task_count: int) -> StageReport:
    started = time.monotonic()
    params.require("progress_dir")
    assert params.progress_dir is not None
    info, scales = read_scales(params)
    last = len(scales) - 1
    if last == 0:
        return StageReport("downsample", task_index, task_count, note="the layer has one scale only")
    plan = downsample_plan(scales, task_count)
    b0, b1 = plan.task_range(scales, task_index, task_count)
    job = _Levels(params, info, scales, task_index)
    if b0 < b1:
        job.run(1, plan.depth, b0, b1)
    note = ""
    if plan.depth < last and b0 < b1:
        ledger = Ledger(params.progress_dir / "downsample" / "ledger.json")
        with ledger.locked():
            doc = ledger.read()
            # keyed by depth: ranges recorded by an attempt with another task count (another depth)
            # say nothing about the scales this attempt's finisher needs
            ranges: list[list[int]] = doc.setdefault(f"parallel_done_depth{plan.depth}", [])
            if [b0, b1] not in ranges:
                ranges.append([b0, b1])
                ledger.write(doc)
            if covers(ranges, scales[0].size[2]) and not doc.get("finished"):
                job.run(plan.depth + 1, last, 0, scales[0].size[2])
                doc["finished"] = True
                ledger.write(doc)
                note = f"computed scales {plan.depth + 1}-{last} for the whole volume"
    return StageReport("downsample", task_index, task_count, job.written, job.skipped, time.monotonic() - started, note)


class _Levels:
    """Computes slabs of scales from the scale below, skipping slabs marked done."""

    def __init__(self, params: ConversionParams, info: dict[str, Any], scales: list[Scale], task_index: int):
        assert params.progress_dir is not None
        self.params = params
        self.info = info
        self.layer_type = str(info["type"])
        self.dtype = np.dtype(info["data_type"])
        self.scales = scales
        self.task_index = task_index
        self.progress_dir = params.progress_dir
        self.volumes: dict[int, Any] = {}
        self.done_now: set[tuple[int, int, int]] = set()
        self.written = 0
        self.skipped = 0

    def run(self, first: int, last: int, b0: int, b1: int) -> None:
        """Scales first..last over scale-0 planes [b0, b1): a cascade from memory where it applies, then
        every slab still unmarked, scale by scale."""
        z0, z1 = level_range(self.scales, first, b0, b1)
        for s0, s1 in slabs(z0, z1, self.scales[first].chunk[2]):
            block: npt.NDArray[Any] | None = None
            for level in range(first, last + 1):
                if level > first and not self._feeds(level):
                    break
                block = self._slab(level, s0, s1, block)
        for level in range(first, last + 1):
            for s0, s1 in slabs(*level_range(self.scales, level, b0, b1), self.scales[level].chunk[2]):
                self._slab(level, s0, s1, None)

    def _feeds(self, level: int) -> bool:
        """Whether a slab of `level` covers exactly the planes of the same slab of the scale below."""
        scale, below = self.scales[level], self.scales[level - 1]
        return scale.factor[2] == 1 and scale.chunk[2] == below.chunk[2]

    def _slab(self, level: int, s0: int, s1: int, source: npt.NDArray[Any] | None) -> npt.NDArray[Any] | None:
        """Write planes [s0, s1) of `level` unless done; returns them when computed (for the next scale)."""
        if (level, s0, s1) in self.done_now:
            return None
        progress = Progress(self.progress_dir, f"downsample/mip{level}")
        if progress.is_done(s0, s1):
            self.skipped += 1
            return None
        block = self._compute(level, s0, s1, source)
        scale = self.scales[level]
        if block.shape != (scale.size[0], scale.size[1], s1 - s0):
            raise ConversionError(f"scale {scale.key}: the pyramid in info does not match the data below it")
        self._volume(level)[:, :, s0:s1] = block
        progress.mark_done(s0, s1, self.task_index)
        self.done_now.add((level, s0, s1))
        self.written += 1
        return block

    def _compute(self, level: int, s0: int, s1: int, source: npt.NDArray[Any] | None) -> npt.NDArray[Any]:
        scale, below = self.scales[level], self.scales[level - 1]
        if source is not None:
            return downsample_block(source, scale.factor, self.layer_type)
        fz = scale.factor[2]
        b0, b1 = s0 * fz, min(s1 * fz, below.size[2])
        step = math.lcm(below.chunk[2], fz)  # whole chunks of the scale below, whole cells in z
        out = np.empty((scale.size[0], scale.size[1], s1 - s0), dtype=self.dtype, order="F")
        for r0 in range(b0, b1, step):
            r1 = min(r0 + step, b1)
            part = np.asarray(self._volume(level - 1)[:, :, r0:r1])[..., 0]
            pooled = downsample_block(part, scale.factor, self.layer_type)
            start = (r0 - b0) // fz
            out[:, :, start : start + pooled.shape[2]] = pooled
        return out

    def _volume(self, level: int) -> Any:
        if level not in self.volumes:
            self.volumes[level] = open_volume(self.params, level, self.info)
        return self.volumes[level]
