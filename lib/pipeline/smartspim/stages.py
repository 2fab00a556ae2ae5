"""The stage runners of `python -m lib.pipeline.smartspim` (signature of `lib.pipeline.cli.Runner`).

Which task does what (the stitching document lists every channel, alignment channel first):

| stage            | tasks                  | task k does                                                          |
|------------------|------------------------|----------------------------------------------------------------------|
| `import`         | one per channel        | channel k: check its tile grid, write its import manifest            |
| `displcompute`   | one                    | the alignment channel's pairwise displacements                        |
| `place`          | one                    | the alignment channel's placement                                     |
| `copy_placement` | one per channel        | channel k: copy the alignment channel's placement (nothing for it)    |
| `merge`          | one per channel        | channel k: write its stitched planes                                  |
| `destripe`       | one per plane chunk    | see `destripe.py` (a separate run with its own document)              |

"Channel k" is position k in the document's `channels`; with fewer tasks than channels task k also does
channels k + n, k + 2n, ...; surplus tasks, and tasks k > 0 of the single-task stages, do nothing.

Work files, all in the channel's `<subfolder>_stitched/` folder (beside the stitched planes):
`import_manifest.json` (every channel), `displacements.json` (alignment channel), `placement.json` (every
channel: the alignment channel's from `place`, the others' from `copy_placement`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..cli import Runner
from ..errors import PipelineError
from ..layout import smartspim_stitched_dir
from ..params import DestripeParams, SmartspimChannel, SmartspimParams
from .destripe import destripe_planes
from .displacements import DISPLACEMENTS_NAME, Displacement, compute_displacements, slabs
from .files import read_json, write_json
from .merge import merge_planes
from .placement import copy_for_channel, read_placement, solve_placement, write_placement
from .tiles import read_manifest, scan_channel, write_manifest

DISPLACEMENTS_VERSION = 1


def channels_of_task(params: SmartspimParams, task_index: int, task_count: int) -> tuple[SmartspimChannel, ...]:
    return params.channels[task_index::task_count]


def _stitched(params: SmartspimParams, channel: SmartspimChannel) -> Path:
    return smartspim_stitched_dir(params.rawdata_dir, channel.subfolder)


def run_import(document: dict[str, Any], task_index: int, task_count: int) -> str:
    params = SmartspimParams.from_document(document)
    if not params.rawdata_dir.is_dir():
        raise PipelineError(f"the raw data folder {params.rawdata_dir} does not exist")
    lines = []
    for channel in channels_of_task(params, task_index, task_count):
        tiles = scan_channel(
            params.rawdata_dir,
            channel,
            tiling=params.tiling,
            n_planes=params.number_of_z_planes,
            pixel_size_um=(params.xyz_scale_um[0], params.xyz_scale_um[1]),
        )
        write_manifest(_stitched(params, channel), tiles)
        height, width = tiles.tile_shape
        lines.append(
            f"{channel.subfolder}: {tiles.columns}x{tiles.rows} tiles of {width} x {height} px, {tiles.n_planes} planes"
        )
    return "; ".join(lines) or "no channel for this task"


def run_displcompute(document: dict[str, Any], task_index: int, task_count: int) -> str:
    params = SmartspimParams.from_document(document)
    if task_index > 0:
        return "nothing to do (displcompute runs as one task)"
    channel = params.alignment_channel
    stitched = _stitched(params, channel)
    tiles = read_manifest(stitched)
    chosen = slabs(tiles.n_planes)
    pairs = compute_displacements(tiles, chosen)
    write_json(
        stitched / DISPLACEMENTS_NAME,
        {
            "version": DISPLACEMENTS_VERSION,
            "subfolder": channel.subfolder,
            "slabs": [[slab.start, slab.stop] for slab in chosen],
            "pairs": [pair.to_json() for pair in pairs],
        },
    )
    measured = [p for p in pairs if p.measured is not None]
    lowest = min((p.score for p in measured), default=0.0)
    return f"{channel.subfolder}: {len(measured)} of {len(pairs)} tile pairs measured, lowest NCC {lowest:.2f}"


def run_place(document: dict[str, Any], task_index: int, task_count: int) -> str:
    params = SmartspimParams.from_document(document)
    if task_index > 0:
        return "nothing to do (place runs as one task)"
    channel = params.alignment_channel
    stitched = _stitched(params, channel)
    tiles = read_manifest(stitched)
    saved = read_json(stitched / DISPLACEMENTS_NAME, "displacement file", "displcompute")
    if saved.get("version") != DISPLACEMENTS_VERSION:
        raise PipelineError(f"displacement file version {saved.get('version')!r} is not {DISPLACEMENTS_VERSION}")
    try:
        pairs = [Displacement.from_json(item) for item in saved["pairs"]]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PipelineError(f"the displacement file is damaged: {exc!r}") from exc
    placement = solve_placement(tiles, pairs)
    write_placement(stitched, placement)
    used = sum(1 for item in (placement.report or {}).get("pairs", []) if item["used"])
    height, width = placement.canvas_shape
    return (
        f"{channel.subfolder}: {len(tiles.tiles)} tiles placed from {used} of {len(pairs)} pairs, "
        f"canvas {width} x {height} px"
    )


def run_copy_placement(document: dict[str, Any], task_index: int, task_count: int) -> str:
    params = SmartspimParams.from_document(document)
    alignment = params.alignment_channel
    lines = []
    for channel in channels_of_task(params, task_index, task_count):
        if channel.alignment:
            lines.append(f"{channel.subfolder} is the alignment channel: nothing to copy")
            continue
        source_dir = _stitched(params, alignment)
        source = read_placement(source_dir)
        copied = copy_for_channel(source, read_manifest(_stitched(params, channel)), read_manifest(source_dir))
        write_placement(_stitched(params, channel), copied)
        lines.append(f"{channel.subfolder}: placement of {alignment.subfolder} copied")
    return "; ".join(lines) or "no channel for this task"


def run_merge(document: dict[str, Any], task_index: int, task_count: int) -> str:
    params = SmartspimParams.from_document(document)
    lines = []
    for channel in channels_of_task(params, task_index, task_count):
        stitched = _stitched(params, channel)
        tiles = read_manifest(stitched)
        placement = read_placement(stitched, "place" if channel.alignment else "copy_placement")
        written = merge_planes(tiles, placement, stitched)
        height, width = placement.canvas_shape
        lines.append(f"{channel.subfolder}: {written} stitched planes of {width} x {height} px")
    return "; ".join(lines) or "no channel for this task"


def run_destripe(document: dict[str, Any], task_index: int, task_count: int) -> str:
    params = DestripeParams.from_document(document)
    written = destripe_planes(params, task_index, task_count)
    return f"{written} planes destriped into {params.output_dir}"


RUNNERS: dict[str, Runner] = {
    "import": run_import,
    "displcompute": run_displcompute,
    "place": run_place,
    "copy_placement": run_copy_placement,
    "merge": run_merge,
    "destripe": run_destripe,
}
