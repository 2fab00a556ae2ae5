"""The parameter document of a conversion run (JSON, never pickle).

One `params.json` per run, shared by all its stages. Keys (unknown keys are refused, so a typo fails the
run at once instead of silently falling back to a default):

    layer_path             str, required   layer folder (absolute path or file:// URL; no other protocol)
    layer_name             str             the layer's name in the facility's words (error messages);
                                           default: the folder's name
    layer_type             str             "image" (default) | "segmentation" | "annotation"
    input_path             str             info, upload: a folder of single-plane TIFFs (sorted by the
                                           numbers in their names) or one multi-page TIFF
    progress_dir           str             upload, downsample: where progress markers go
                                           (`imaging_request_<N>/runs/<run_id>/progress`, never in the layer)
    data_type              str             "uint16" (default) | "uint8" | "uint32" | "uint64" | "float32"
    voxel_size_nm          [x, y, z]       info, annotations: scale-0 voxel size in nanometres (> 0)
    chunk_size             [x, y, z]       scale-0 chunk, default [1024, 1024, 1]; upload slabs are
                                           chunk_size[2] planes thick
    downsample_chunk_size  [x, y, z]       chunk of every further scale, default [128, 128, 64]
    num_scales             int             total scales including scale 0; default: halve until a scale
                                           fits in one downsample chunk in x and y
    z_downsampling         str             "when_isotropic" (default: 2x2x1 until the x/y voxel is at least
                                           the z voxel, then 2x2x2) | "never" (always 2x2x1)
    points_path            str             annotations: CSV with header x,y,z[,score][,region_id]
                                           (voxel coordinates of the image the points overlay)
    annotation_upper_bound [x, y, z]       annotations: exclusive upper bound (e.g. the image size);
                                           widened to contain every point
    spatial_limit          int             annotations: points per spatial cell, default 500000
    by_id_shard_threshold  int             annotations: above this many points `by_id` is sharded,
                                           default 100000
    ontology_path          str             segment_properties: Allen-style structure JSON (nested
                                           `children`) or CSV with header id,name[,acronym]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .errors import ConversionError

Vec3 = tuple[int, int, int]
Res3 = tuple[float, float, float]

LAYER_TYPES = ("image", "segmentation", "annotation")
DATA_TYPES = ("uint8", "uint16", "uint32", "uint64", "float32")
Z_DOWNSAMPLING = ("when_isotropic", "never")
DEFAULT_CHUNK: Vec3 = (1024, 1024, 1)
DEFAULT_DOWNSAMPLE_CHUNK: Vec3 = (128, 128, 64)
DEFAULT_SPATIAL_LIMIT = 500_000
DEFAULT_BY_ID_SHARD_THRESHOLD = 100_000

_KEYS = {
    "layer_path", "layer_name", "layer_type", "input_path", "progress_dir", "data_type", "voxel_size_nm", "chunk_size",
    "downsample_chunk_size", "num_scales", "z_downsampling", "points_path", "annotation_upper_bound",
    "spatial_limit", "by_id_shard_threshold", "ontology_path",
}  # fmt: skip


@dataclass(frozen=True)
class ConversionParams:
    """A validated parameter document. Optional paths are None when the document leaves them out."""

    layer_path: Path
    layer_type: str = "image"
    input_path: Path | None = None
    progress_dir: Path | None = None
    data_type: str = "uint16"
    voxel_size_nm: Res3 | None = None
    chunk_size: Vec3 = DEFAULT_CHUNK
    downsample_chunk_size: Vec3 = DEFAULT_DOWNSAMPLE_CHUNK
    num_scales: int | None = None
    z_downsampling: str = "when_isotropic"
    points_path: Path | None = None
    annotation_upper_bound: Res3 | None = None
    spatial_limit: int = DEFAULT_SPATIAL_LIMIT
    by_id_shard_threshold: int = DEFAULT_BY_ID_SHARD_THRESHOLD
    ontology_path: Path | None = None
    layer_name: str = ""

    @property
    def name(self) -> str:
        """The layer's name for messages: `layer_name`, or the folder's name."""
        return self.layer_name or self.layer_path.name

    @property
    def layer_url(self) -> str:
        """The `file://` URL cloud-volume is given."""
        return "file://" + str(self.layer_path)

    def require(self, *names: str) -> None:
        """Raise unless every named optional key is present (stages call this with what they read)."""
        missing = [name for name in names if getattr(self, name) is None]
        if missing:
            raise ConversionError(f"the parameter document lacks {', '.join(missing)}")

    def to_json(self) -> dict[str, Any]:
        """The document form (as written to params.json)."""
        doc: dict[str, Any] = {}
        for name in sorted(_KEYS):
            value = getattr(self, name)
            if value is None:
                continue
            doc[name] = str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
        return doc


def load_params(path: str | Path) -> ConversionParams:
    """Read and validate a parameter document; every problem is a `ConversionError` naming the key."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConversionError(f"cannot read the parameter document {path}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConversionError(f"the parameter document {path} is not JSON: {exc}") from exc
    return parse_params(doc)


def parse_params(doc: object) -> ConversionParams:
    if not isinstance(doc, dict):
        raise ConversionError("the parameter document must be a JSON object")
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise ConversionError(f"unknown key(s) in the parameter document: {', '.join(unknown)}")
    if "layer_path" not in doc:
        raise ConversionError("the parameter document lacks layer_path")
    return ConversionParams(
        layer_path=_layer_path(doc["layer_path"]),
        layer_type=_choice(doc, "layer_type", LAYER_TYPES, "image"),
        input_path=_path(doc, "input_path"),
        progress_dir=_path(doc, "progress_dir"),
        data_type=_choice(doc, "data_type", DATA_TYPES, "uint16"),
        voxel_size_nm=_positive_floats(doc, "voxel_size_nm"),
        chunk_size=_positive_ints(doc, "chunk_size") or DEFAULT_CHUNK,
        downsample_chunk_size=_positive_ints(doc, "downsample_chunk_size") or DEFAULT_DOWNSAMPLE_CHUNK,
        num_scales=_positive_int(doc, "num_scales"),
        z_downsampling=_choice(doc, "z_downsampling", Z_DOWNSAMPLING, "when_isotropic"),
        points_path=_path(doc, "points_path"),
        annotation_upper_bound=_positive_floats(doc, "annotation_upper_bound"),
        spatial_limit=_positive_int(doc, "spatial_limit") or DEFAULT_SPATIAL_LIMIT,
        by_id_shard_threshold=_positive_int(doc, "by_id_shard_threshold") or DEFAULT_BY_ID_SHARD_THRESHOLD,
        ontology_path=_path(doc, "ontology_path"),
        layer_name=str(doc.get("layer_name") or ""),
    )


def _layer_path(value: object) -> Path:
    if not isinstance(value, str) or not value:
        raise ConversionError("layer_path must be a non-empty string")
    if "://" in value:
        parsed = urlparse(value)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise ConversionError(f"layer_path must be a local path or a file:// URL, not {value!r}")
        value = unquote(parsed.path)
    path = Path(value)
    if not path.is_absolute():
        raise ConversionError(f"layer_path must be absolute, not {value!r}")
    return path


def _path(doc: dict[str, Any], key: str) -> Path | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConversionError(f"{key} must be a non-empty string")
    return Path(value)


def _choice(doc: dict[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    value = doc.get(key, default)
    if value not in choices:
        raise ConversionError(f"{key} must be one of {', '.join(choices)}, not {value!r}")
    return str(value)


def _positive_int(doc: dict[str, Any], key: str) -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConversionError(f"{key} must be a positive integer, not {value!r}")
    return value


def _positive_ints(doc: dict[str, Any], key: str) -> Vec3 | None:
    value = doc.get(key)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 3
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)
    ):
        raise ConversionError(f"{key} must be three positive integers [x, y, z], not {value!r}")
    return (value[0], value[1], value[2])


def _positive_floats(doc: dict[str, Any], key: str) -> Res3 | None:
    value = doc.get(key)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 3
        or any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0 for v in value)
    ):
        raise ConversionError(f"{key} must be three positive numbers [x, y, z], not {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))
