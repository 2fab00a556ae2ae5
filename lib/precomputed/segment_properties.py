"""The `segment_properties` stage: region names for an atlas overlay. Writes
`<layer>/segment_properties/info` (`neuroglancer_segment_properties`, inline: ids, a `label` property
with the region names and, when the ontology has acronyms, a `description` property with them) and
points the layer's `info` at it.

Ontology input: Allen-style JSON (a node, a list of nodes, or `{"msg": [...]}`; nodes have `id`, `name`,
optional `acronym` and nested `children`) or CSV with header `id,name[,acronym]`.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

from cloudvolume import CloudVolume

from .errors import ConversionError
from .params import ConversionParams
from .progress import write_atomically
from .report import StageReport

Region = tuple[int, str, str]  # id, name, acronym ("" when unknown)
SEGMENT_PROPERTIES_KEY = "segment_properties"


def read_ontology(path: Path) -> list[Region]:
    """Regions sorted by id; duplicate or negative ids are refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConversionError(f"cannot read the ontology {path}: {exc.strerror or exc}") from exc
    regions = _from_csv(path, text) if path.suffix.lower() == ".csv" else _from_json(path, text)
    seen: set[int] = set()
    for region_id, _, _ in regions:
        if region_id in seen:
            raise ConversionError(f"the ontology {path} lists region id {region_id} twice")
        if not 0 <= region_id < 2**64:
            raise ConversionError(f"the ontology {path} has region id {region_id}, outside 0..2**64-1")
        seen.add(region_id)
    if not regions:
        raise ConversionError(f"the ontology {path} lists no regions")
    return sorted(regions)


def _from_json(path: Path, text: str) -> list[Region]:
    try:
        doc: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConversionError(f"the ontology {path} is not JSON: {exc}") from exc
    if isinstance(doc, dict) and "msg" in doc:
        doc = doc["msg"]
    stack = list(doc) if isinstance(doc, list) else [doc]
    regions: list[Region] = []
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or "id" not in node or "name" not in node:
            raise ConversionError(f"the ontology {path} has a node without id and name")
        try:
            regions.append((int(node["id"]), str(node["name"]), str(node.get("acronym") or "")))
        except (TypeError, ValueError) as exc:
            raise ConversionError(f"the ontology {path} has a non-integer id {node['id']!r}") from exc
        stack.extend(node.get("children") or [])
    return regions


def _from_csv(path: Path, text: str) -> list[Region]:
    rows = list(csv.reader(text.splitlines()))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "id" not in header or "name" not in header:
        raise ConversionError(f"the ontology {path} needs a header with columns id and name")
    i_id, i_name = header.index("id"), header.index("name")
    i_acronym = header.index("acronym") if "acronym" in header else None
    regions: list[Region] = []
    for row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue
        try:
            acronym = row[i_acronym].strip() if i_acronym is not None else ""
            regions.append((int(row[i_id]), row[i_name].strip(), acronym))
        except (ValueError, IndexError) as exc:
            raise ConversionError(f"the ontology {path} has a malformed row: {','.join(row)}") from exc
    return regions


def segment_properties_document(regions: list[Region]) -> dict[str, Any]:
    properties: list[dict[str, Any]] = [{"id": "label", "type": "label", "values": [r[1] for r in regions]}]
    if any(r[2] for r in regions):
        properties.append({"id": "description", "type": "description", "values": [r[2] for r in regions]})
    return {
        "@type": "neuroglancer_segment_properties",
        "inline": {"ids": [str(r[0]) for r in regions], "properties": properties},
    }


def write_segment_properties(params: ConversionParams) -> StageReport:
    started = time.monotonic()
    params.require("ontology_path")
    assert params.ontology_path is not None
    if not (params.layer_path / "info").is_file():
        raise ConversionError(f"the layer {params.layer_path} has no info file; run the info stage first")
    volume = CloudVolume(params.layer_url, progress=False)
    if volume.info.get("type") != "segmentation":
        raise ConversionError(f"{params.layer_path} is not a segmentation layer")
    regions = read_ontology(params.ontology_path)
    document = segment_properties_document(regions)
    write_atomically(params.layer_path / SEGMENT_PROPERTIES_KEY / "info", json.dumps(document) + "\n")
    volume.info["segment_properties"] = SEGMENT_PROPERTIES_KEY
    volume.commit_info()
    return StageReport("segment_properties", 0, 1, len(regions), 0, time.monotonic() - started, "regions named")
