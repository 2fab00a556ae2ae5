"""The `detect` stage (stage 4): array, one task per `cellch` channel in channel order.

Per channel: detect cells on the blended full-resolution planes (`cells.py`), write `cells.csv`
(x, y, z full-resolution voxels, score), map them full resolution -> downsized volume (the sidecar's
`full_to_downsized`) -> atlas (the inverse of the registration, `transform.py`), look up each cell's
annotation label and write `cells_registered.csv` and `cell_counts_by_region.csv`.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import PipelineError
from ..layout import cell_counts_csv, cells_csv, cells_registered_csv, downsized_volume, elastix_dir, full_size_dir
from ..params import ChannelInput, LavisionParams
from .cells import DetectionSettings, PlaneStack, detect_cells
from .regions import count_by_region, ensure_labels, read_ontology, region_at
from .register import atlas_path, registration_channel
from .transform import RegistrationTransform, apply_affine
from .volumes import DownsizedVolume, read_volume


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Written beside the target and renamed, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with partial.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    partial.replace(path)


def _xyz_rows(points: npt.NDArray[np.float64], extra: Sequence[Any]) -> Iterable[list[Any]]:
    for (x, y, z), value in zip(points, extra, strict=True):
        yield [f"{x:.2f}", f"{y:.2f}", f"{z:.2f}", value]


def detect_channel(
    params: LavisionParams,
    channel: ChannelInput,
    transform: RegistrationTransform,
    annotation: npt.NDArray[Any],
    names: dict[int, str],
    slab_planes: int | None = None,
) -> str:
    out = params.output_dir
    stack = PlaneStack(full_size_dir(out, channel))
    # The full-resolution -> downsized affine is the same for every channel of the run; prefer this one's.
    sidecar_channel = channel if downsized_volume(out, channel).is_file() else registration_channel(params)
    downsized = DownsizedVolume.open(downsized_volume(out, sidecar_channel))
    if downsized.full_to_downsized is None:  # pragma: no cover - open() without fallback always has one
        raise PipelineError(f"{downsized.path} has no full-resolution affine")
    settings = DetectionSettings.from_options(params.cell_detection, params.xyz_scale_um)
    started = time.monotonic()
    cells, scores, noise = detect_cells(stack, settings, slab_planes)
    detected_s = time.monotonic() - started
    write_csv(cells_csv(out, channel), ("x", "y", "z", "score"), _xyz_rows(cells, [f"{s:.1f}" for s in scores]))
    atlas = transform.downsized_to_atlas(apply_affine(downsized.full_to_downsized, cells))
    regions = region_at(annotation, atlas)
    write_csv(cells_registered_csv(out, channel), ("x", "y", "z", "region_id"), _xyz_rows(atlas, regions.tolist()))
    counts = count_by_region(regions, names)
    write_csv(cell_counts_csv(out, channel), ("region_id", "region_name", "count"), counts)
    inside = int(np.count_nonzero(regions))
    return (
        f"ch{channel.index}: {len(cells)} cells ({inside} inside the brain, {len(counts)} regions; "
        f"noise {noise:.1f}, detection {detected_s:.0f} s)"
    )


def run_detect(document: dict[str, Any], task_index: int, task_count: int) -> str:
    params = LavisionParams.from_document(document)
    registration_channel(params)
    channels = params.channels_with_role("cellch")
    if not channels:
        raise PipelineError("detect needs a cell channel (role cellch) and the run has none")
    annotation_path = atlas_path(params.annotationfile, "annotationfile", "atlas annotation")
    names = read_ontology(params.ontologyfile)
    mine = channels[task_index::task_count]
    if not mine:
        return "no cell channel for this task"
    for channel in mine:  # fail fast on this task's own inputs
        PlaneStack(full_size_dir(params.output_dir, channel))
    transform = RegistrationTransform.load(elastix_dir(params.output_dir))
    annotation = ensure_labels(read_volume(annotation_path, "atlas annotation"), annotation_path)
    if annotation.shape != transform.fixed_shape_zyx:
        raise PipelineError(
            f"the atlas annotation {annotation_path} has shape {annotation.shape} (z, y, x), "
            f"the template registered to has {transform.fixed_shape_zyx}"
        )
    return "; ".join(detect_channel(params, channel, transform, annotation, names) for channel in mine)
