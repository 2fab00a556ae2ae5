"""Atlas regions: the annotation lookup and region names from an ontology JSON.

Ontology files come in the Allen shapes: the structure graph (`{"msg": [root]}` or a bare root object,
each structure with nested `children`) or a flat list of structures (with `parent_structure_id`). Only
`id` and `name` are used. Cells are counted per annotation label (the finest region a voxel carries);
label 0 is outside the brain.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import PipelineError

OUTSIDE_ID = 0
OUTSIDE_NAME = "outside the brain"
UNKNOWN_NAME = "unknown"


def _walk(node: Any, names: dict[int, str]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, names)
    elif isinstance(node, dict):
        if "msg" in node and "id" not in node:
            _walk(node["msg"], names)
            return
        if "id" in node:
            try:
                names[int(node["id"])] = str(node.get("name", ""))
            except (TypeError, ValueError):
                pass
        _walk(node.get("children", []), names)


def read_ontology(path: Path | None) -> dict[int, str]:
    """Region id -> name; empty without an ontology file."""
    if path is None:
        return {}
    if not path.is_file():
        raise PipelineError(f"the atlas ontology {path} does not exist (ontologyfile)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PipelineError(f"the atlas ontology {path} is not readable JSON") from exc
    names: dict[int, str] = {}
    _walk(document, names)
    if not names:
        raise PipelineError(f"the atlas ontology {path} names no structures (no objects with an id)")
    return names


def region_at(annotation: npt.NDArray[Any], atlas_xyz: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """The label of the atlas voxel nearest each (x, y, z) point; 0 outside the annotation volume."""
    index = np.rint(atlas_xyz).astype(np.int64) if len(atlas_xyz) else np.zeros((0, 3), dtype=np.int64)
    shape_xyz = np.array(annotation.shape[::-1])
    inside = np.all((index >= 0) & (index < shape_xyz), axis=1)
    labels = np.zeros(len(index), dtype=np.int64)
    hits = index[inside]
    labels[inside] = annotation[hits[:, 2], hits[:, 1], hits[:, 0]]
    return labels


def count_by_region(region_ids: Iterable[int], names: dict[int, str]) -> list[tuple[int, str, int]]:
    """(region_id, region_name, count) rows, most cells first, then by id."""
    counts = Counter(int(r) for r in region_ids)

    def name(region: int) -> str:
        if region in names:
            return names[region]
        return OUTSIDE_NAME if region == OUTSIDE_ID else UNKNOWN_NAME

    return [(region, name(region), count) for region, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def ensure_labels(annotation: npt.NDArray[Any], path: Path) -> npt.NDArray[Any]:
    if annotation.dtype.kind not in "iu":
        if not np.all(np.mod(annotation, 1) == 0):
            raise PipelineError(f"the atlas annotation {path} holds non-integer labels")
        annotation = annotation.astype(np.int64)
    return annotation
