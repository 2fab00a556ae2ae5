"""The `annotations` stage: a point layer (cells) in Neuroglancer's precomputed annotation format: `info` with `@type:
neuroglancer_annotations_v1`, a `by_id` index (sharded above
`by_id_shard_threshold` points, so a million cells are a handful of files, not a million) and a
multi-level spatial index: one level (grid 1 x 1 x 1) while the points fit in `spatial_limit`, finer
levels below it otherwise, built as the format's documentation prescribes (uniform random subsets).

Input: a CSV file with header `x,y,z` and optional `score` (float32) and `region_id` (uint32); other
columns are ignored. Coordinates are voxel positions in the image the layer overlays, stored as given.
Annotation ids are the row numbers, starting at 1.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from cloudvolume.datasource.precomputed.sharding import (
    ShardingSpecification,
    compute_shard_params_for_hashed,
    synthesize_shard_files,
)

from .errors import ConversionError
from .params import ConversionParams
from .report import StageReport

PROPERTY_TYPES = {"score": "float32", "region_id": "uint32"}  # all 4-byte: no padding in the encoding
MAX_SPATIAL_LEVELS = 12
Cell = tuple[int, int, int]


@dataclass(frozen=True)
class Points:
    xyz: npt.NDArray[np.float32]  # (n, 3)
    properties: dict[str, npt.NDArray[Any]]  # in info order

    @property
    def count(self) -> int:
        return int(self.xyz.shape[0])

    def records(self) -> npt.NDArray[Any]:
        """Each point's single-annotation encoding, as one structured row (little endian)."""
        fields: list[tuple[str, str] | tuple[str, str, int]] = [("position", "<f4", 3)]
        fields += [(name, "<f4" if PROPERTY_TYPES[name] == "float32" else "<u4") for name in self.properties]
        rows = np.zeros(self.count, dtype=np.dtype(fields))
        rows["position"] = self.xyz
        for name, values in self.properties.items():
            rows[name] = values
        return rows


def read_points(path: Path) -> Points:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = [h.strip().lower() for h in next(reader, [])]
            rows = [row for row in reader if row and any(cell.strip() for cell in row)]
    except OSError as exc:
        raise ConversionError(f"cannot read the points file {path}: {exc.strerror or exc}") from exc
    if not {"x", "y", "z"} <= set(header):
        raise ConversionError(f"the points file {path} needs a header with columns x, y, z")
    wanted = ["x", "y", "z"] + [name for name in PROPERTY_TYPES if name in header]
    columns = [header.index(name) for name in wanted]
    try:
        table = np.array([[float(row[c]) for c in columns] for row in rows], dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise ConversionError(f"the points file {path} has a row that is not numbers in every column") from exc
    table = table.reshape(len(rows), len(wanted))
    if not np.isfinite(table).all():
        raise ConversionError(f"the points file {path} contains a value that is not a finite number")
    properties: dict[str, npt.NDArray[Any]] = {}
    for i, name in enumerate(wanted[3:], start=3):
        properties[name] = table[:, i].astype(np.float32 if PROPERTY_TYPES[name] == "float32" else np.uint32)
    return Points(table[:, :3].astype(np.float32), properties)


def encode_multiple(rows: npt.NDArray[Any], ids: npt.NDArray[np.uint64]) -> bytes:
    """The multiple-annotation encoding: uint64 count, the annotations, then their uint64 ids."""
    count = np.array([len(ids)], dtype="<u8")
    return count.tobytes() + rows.tobytes() + ids.astype("<u8").tobytes()


@dataclass(frozen=True)
class SpatialLevel:
    grid_shape: tuple[int, int, int]
    chunk_size: tuple[float, float, float]
    cells: dict[Cell, npt.NDArray[np.int64]]  # row indices per cell, in random order


def spatial_levels(
    xyz: npt.NDArray[np.float32],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    scale: npt.NDArray[np.float64],
    limit: int,
    seed: int = 0,
) -> list[SpatialLevel]:
    """Levels from coarse to fine; each point is in exactly one level."""
    rng = np.random.default_rng(seed)
    grid = np.ones(3, dtype=np.int64)
    remaining: dict[Cell, npt.NDArray[np.int64]] = {(0, 0, 0): rng.permutation(len(xyz))}
    levels: list[SpatialLevel] = []
    while True:
        chunk = (upper - lower) / grid
        max_count = max(len(v) for v in remaining.values())
        last = max_count <= limit or len(levels) == MAX_SPATIAL_LEVELS - 1
        p = 1.0 if last else limit / max_count
        emitted: dict[Cell, npt.NDArray[np.int64]] = {}
        rest: list[npt.NDArray[np.int64]] = []
        for cell, rows in remaining.items():
            keep = rng.random(len(rows)) < p
            emitted[cell] = rows[keep]
            rest.append(rows[~keep])
        levels.append(SpatialLevel(_ints(grid), _floats(chunk), emitted))
        left = np.concatenate(rest)
        if last or len(left) == 0:
            return levels
        physical = chunk * scale
        grid = grid * np.where(physical > physical.max() / 2, 2, 1)
        chunk = (upper - lower) / grid
        index = np.clip(np.floor((xyz[left] - lower) / chunk).astype(np.int64), 0, grid - 1)
        remaining = {}
        order = np.lexsort(index.T[::-1])
        left, index = left[order], index[order]
        bounds = np.flatnonzero(np.any(np.diff(index, axis=0) != 0, axis=1)) + 1
        for part_rows, part_index in zip(np.split(left, bounds), np.split(index, bounds), strict=True):
            remaining[_ints(part_index[0])] = rng.permutation(part_rows)


def build_annotations(params: ConversionParams) -> StageReport:
    started = time.monotonic()
    params.require("points_path", "voxel_size_nm")
    assert params.points_path is not None and params.voxel_size_nm is not None
    points = read_points(params.points_path)
    scale = np.array(params.voxel_size_nm, dtype=np.float64) / 1e9
    lower = np.minimum(0.0, np.floor(points.xyz.min(axis=0))) if points.count else np.zeros(3)
    upper = np.array(params.annotation_upper_bound or (1.0, 1.0, 1.0), dtype=np.float64)
    if points.count:
        upper = np.maximum(upper, np.floor(points.xyz.max(axis=0)) + 1)
    rows = points.records()
    ids = np.arange(1, points.count + 1, dtype=np.uint64)
    levels = spatial_levels(points.xyz, lower, upper, scale, params.spatial_limit)

    target = params.layer_path
    building = target.with_name(f".{target.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    (building / "by_id").mkdir(parents=True)
    by_id = _write_by_id(building / "by_id", rows, ids, params.by_id_shard_threshold)
    spatial = []
    for number, level in enumerate(levels):
        folder = building / f"spatial{number}"
        folder.mkdir()
        for cell, members in level.cells.items():
            (folder / "_".join(map(str, cell))).write_bytes(encode_multiple(rows[members], ids[members]))
        spatial.append(
            {"key": folder.name, "grid_shape": list(level.grid_shape), "chunk_size": list(level.chunk_size),
             "limit": max([1, *(len(members) for members in level.cells.values())])}
        )  # fmt: skip  (Neuroglancer reads `limit` as the most annotations any cell of the level holds)
    info = {
        "@type": "neuroglancer_annotations_v1",
        "annotation_type": "POINT",
        "dimensions": {axis: [float(s), "m"] for axis, s in zip("xyz", scale, strict=True)},
        "lower_bound": _floats(lower),
        "upper_bound": _floats(upper),
        "properties": [{"id": name, "type": PROPERTY_TYPES[name]} for name in points.properties],
        "relationships": [],
        "by_id": by_id,
        "spatial": spatial,
    }
    (building / "info").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    _replace(building, target)
    note = f"{points.count} points, {len(levels)} spatial level(s)"
    return StageReport("annotations", 0, 1, points.count, 0, time.monotonic() - started, note)


def _write_by_id(folder: Path, rows: npt.NDArray[Any], ids: npt.NDArray[np.uint64], threshold: int) -> dict[str, Any]:
    if len(ids) <= threshold:
        for row, annotation_id in zip(rows, ids, strict=True):
            (folder / str(int(annotation_id))).write_bytes(row.tobytes())
        return {"key": "by_id"}
    shard_bits, minishard_bits, preshift_bits = compute_shard_params_for_hashed(len(ids))
    sharding = {
        "@type": "neuroglancer_uint64_sharded_v1",
        "preshift_bits": preshift_bits,
        "hash": "murmurhash3_x86_128",
        "minishard_bits": minishard_bits,
        "shard_bits": shard_bits,
        "minishard_index_encoding": "gzip",
        "data_encoding": "raw",
    }
    spec = ShardingSpecification.from_dict(sharding)
    data = {int(annotation_id): row.tobytes() for row, annotation_id in zip(rows, ids, strict=True)}
    for name, content in synthesize_shard_files(spec, data).items():
        (folder / name).write_bytes(content)
    return {"key": "by_id", "sharding": sharding}


def _replace(building: Path, target: Path) -> None:
    """Put the new layer in place; an earlier annotation layer at the same path is removed."""
    if target.exists():
        info = target / "info"
        if not info.is_file() or "neuroglancer_annotations_v1" not in info.read_text(encoding="utf-8"):
            shutil.rmtree(building, ignore_errors=True)
            raise ConversionError(f"{target} exists and is not an annotation layer; refusing to replace it")
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(building, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(building, target)


def _ints(values: Any) -> tuple[int, int, int]:
    return (int(values[0]), int(values[1]), int(values[2]))


def _floats(values: Any) -> tuple[float, float, float]:
    return (float(values[0]), float(values[1]), float(values[2]))
