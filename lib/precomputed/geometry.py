"""Pure arithmetic of a precomputed volume: the scale pyramid, z-slabs, and how array tasks share them.

Everything is in voxels of the scale concerned, axes x, y, z; a range `(z0, z1)` is half-open.

Downsampling in parallel: scale m is computed from scale m-1 slab by slab (one slab = one chunk row in z
of scale m). A task that owns a z-range of scale 0 whose bounds are multiples of every scale's chunk z
extent (in scale-0 planes) can compute all those scales for its range without waiting for any other
task. `downsample_plan` picks the deepest scale D for which such ranges still give every task work (or
as many tasks as scale 1 allows); scales above D (tiny, when z is halved and one chunk spans more than a
task's range) are computed by whichever task completes the set (see downsample.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from .params import Res3, Vec3

MAX_SCALES = 16


@dataclass(frozen=True)
class Scale:
    """One entry of `info["scales"]` plus the factor relative to the scale below (1, 1, 1 for scale 0)."""

    key: str
    resolution: Res3
    size: Vec3
    chunk: Vec3
    factor: Vec3


def scale_key(resolution: Res3) -> str:
    """`5000_5000_10000` for whole numbers, the shortest float text otherwise."""
    return "_".join(str(int(r)) if float(r).is_integer() else repr(float(r)) for r in resolution)


def next_factor(resolution: Res3, size: Vec3, z_downsampling: str) -> Vec3:
    """2 x 2 x 1, or 2 x 2 x 2 once the x/y voxel is at least the z voxel (corrected)."""
    halve_z = z_downsampling == "when_isotropic" and min(resolution[0], resolution[1]) >= resolution[2]
    return (2, 2, 2 if halve_z and size[2] > 1 else 1)


def plan_scales(
    size: Vec3,
    voxel_size_nm: Res3,
    chunk_size: Vec3,
    downsample_chunk_size: Vec3,
    num_scales: int | None = None,
    z_downsampling: str = "when_isotropic",
) -> list[Scale]:
    """Scale 0 plus every further scale. Without `num_scales`, halve until a scale fits in one
    downsample chunk in x and y. Sizes round up (an odd edge keeps its last voxel)."""
    scales = [Scale(scale_key(voxel_size_nm), voxel_size_nm, size, chunk_size, (1, 1, 1))]
    wanted = min(num_scales, MAX_SCALES) if num_scales is not None else MAX_SCALES
    while len(scales) < wanted:
        last = scales[-1]
        if num_scales is None and max(last.size[0], last.size[1]) <= max(downsample_chunk_size[:2]):
            break
        f = next_factor(last.resolution, last.size, z_downsampling)
        res: Res3 = (last.resolution[0] * f[0], last.resolution[1] * f[1], last.resolution[2] * f[2])
        new_size: Vec3 = (ceil_div(last.size[0], f[0]), ceil_div(last.size[1], f[1]), ceil_div(last.size[2], f[2]))
        scales.append(Scale(scale_key(res), res, new_size, downsample_chunk_size, f))
    return scales


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def slabs(z0: int, z1: int, thickness: int) -> Iterator[tuple[int, int]]:
    """Consecutive ranges of `thickness` planes covering [z0, z1); z0 must be aligned to `thickness`."""
    for start in range(z0, z1, thickness):
        yield start, min(start + thickness, z1)


def share(count: int, task_index: int, task_count: int) -> tuple[int, int]:
    """The contiguous part [i0, i1) of `count` items that task k of n handles (balanced, in order)."""
    if task_count < 1 or not 0 <= task_index < task_count:
        raise ValueError(f"task {task_index} of {task_count} does not exist")
    return count * task_index // task_count, count * (task_index + 1) // task_count


def task_slabs(total: int, thickness: int, task_index: int, task_count: int) -> list[tuple[int, int]]:
    """The upload slabs (chunk rows of scale 0) of one array task."""
    all_slabs = list(slabs(0, total, thickness))
    i0, i1 = share(len(all_slabs), task_index, task_count)
    return all_slabs[i0:i1]


def cumulative_z(scales: list[Scale], level: int) -> int:
    """How many scale-0 planes one plane of `level` covers."""
    return math.prod(s.factor[2] for s in scales[1 : level + 1])


def unit_planes(scales: list[Scale], depth: int) -> int:
    """Scale-0 planes per indivisible unit when one task computes scales 1..depth of its units alone."""
    unit = 1
    for level in range(1, depth + 1):
        unit = math.lcm(unit, scales[level].chunk[2] * cumulative_z(scales, level))
    return unit


@dataclass(frozen=True)
class DownsamplePlan:
    depth: int  # scales 1..depth are computed per task range; depth+1..last by the completing task
    unit: int  # scale-0 planes per unit of work in the parallel part

    def task_range(self, scales: list[Scale], task_index: int, task_count: int) -> tuple[int, int]:
        """The scale-0 planes [b0, b1) whose scales 1..depth this task computes (may be empty)."""
        total = scales[0].size[2]
        u0, u1 = share(ceil_div(total, self.unit), task_index, task_count)
        return min(u0 * self.unit, total), min(u1 * self.unit, total)


def downsample_plan(scales: list[Scale], task_count: int) -> DownsamplePlan:
    last = len(scales) - 1
    if last == 0:
        return DownsamplePlan(0, 1)
    total = scales[0].size[2]
    target = min(task_count, ceil_div(total, unit_planes(scales, 1)))
    depth = 1
    while depth < last and ceil_div(total, unit_planes(scales, depth + 1)) >= target:
        depth += 1
    return DownsamplePlan(depth, unit_planes(scales, depth))


def level_range(scales: list[Scale], level: int, b0: int, b1: int) -> tuple[int, int]:
    """Planes of `level` covering scale-0 planes [b0, b1) (b0 aligned, b1 aligned or the end)."""
    c = cumulative_z(scales, level)
    return b0 // c, min(ceil_div(b1, c), scales[level].size[2])
