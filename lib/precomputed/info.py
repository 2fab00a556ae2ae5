"""The `info` stage: one `info` file listing every scale of the layer, written through
cloud-volume. Later stages read the scales back from it, so the layer's own `info` is the single source
of truth for sizes, chunks and factors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudvolume import CloudVolume

from .errors import ConversionError
from .geometry import Scale, plan_scales
from .params import ConversionParams, Res3, Vec3
from .tiffsource import TiffStack


def build_info(scales: list[Scale], layer_type: str, data_type: str) -> dict[str, Any]:
    """An `info` document: one channel, raw encoding, voxel offset 0, one chunk size per scale."""
    base = scales[0]
    info: dict[str, Any] = CloudVolume.create_new_info(
        num_channels=1,
        layer_type=layer_type,
        data_type=data_type,
        encoding="raw",
        resolution=list(base.resolution),
        voxel_offset=[0, 0, 0],
        volume_size=list(base.size),
        chunk_size=list(base.chunk),
    )
    info["@type"] = "neuroglancer_multiscale_volume"
    info["scales"] = [
        {
            "key": s.key,
            "resolution": [_number(r) for r in s.resolution],
            "size": list(s.size),
            "voxel_offset": [0, 0, 0],
            "chunk_sizes": [list(s.chunk)],
            "encoding": "raw",
        }
        for s in scales
    ]
    return info


def write_info(params: ConversionParams) -> dict[str, Any]:
    """Check the whole input (every plane header) and write the layer's `info`. Returns the info."""
    if params.layer_type == "annotation":
        raise ConversionError("the info stage makes image and segmentation layers; use the annotations stage")
    params.require("input_path", "voxel_size_nm")
    assert params.input_path is not None and params.voxel_size_nm is not None
    stack = TiffStack(params.input_path)
    stack.check_all_planes()
    scales = plan_scales(
        stack.shape,
        params.voxel_size_nm,
        params.chunk_size,
        params.downsample_chunk_size,
        params.num_scales,
        params.z_downsampling,
    )
    info = build_info(scales, params.layer_type, params.data_type)
    params.layer_path.mkdir(parents=True, exist_ok=True)
    CloudVolume(params.layer_url, info=info, progress=False).commit_info()
    return info


def open_volume(params: ConversionParams, mip: int, info: dict[str, Any] | None = None) -> Any:
    """A cloud-volume handle of one scale: raw chunks, no compression, no cache, missing chunks an error."""
    return CloudVolume(
        params.layer_url,
        mip=mip,
        info=info,
        compress=False,
        fill_missing=False,
        progress=False,
        parallel=1,
        cache=False,
    )


def read_scales(params: ConversionParams) -> tuple[dict[str, Any], list[Scale]]:
    """The layer's info and its scales; refuses an info this converter could not have written."""
    if not (params.layer_path / "info").is_file():
        raise ConversionError(f"the layer {params.layer_path} has no info file; run the info stage first")
    info: dict[str, Any] = CloudVolume(params.layer_url, progress=False).info
    scales: list[Scale] = []
    for entry in info["scales"]:
        res: Res3 = (float(entry["resolution"][0]), float(entry["resolution"][1]), float(entry["resolution"][2]))
        size: Vec3 = (int(entry["size"][0]), int(entry["size"][1]), int(entry["size"][2]))
        chunk_list = entry["chunk_sizes"][0]
        chunk: Vec3 = (int(chunk_list[0]), int(chunk_list[1]), int(chunk_list[2]))
        factor: Vec3 = (1, 1, 1)
        if scales:
            prev = scales[-1].resolution
            ratios = [res[i] / prev[i] for i in range(3)]
            if any(abs(r - 1) > 1e-6 and abs(r - 2) > 1e-6 for r in ratios):
                raise ConversionError(f"scale {entry['key']} is not a 1x or 2x downsampling of the one below")
            factor = (round(ratios[0]), round(ratios[1]), round(ratios[2]))
        if any(entry.get("voxel_offset", [0, 0, 0])) or entry.get("encoding") != "raw":
            raise ConversionError(f"scale {entry['key']} must have voxel offset 0 and raw encoding")
        scales.append(Scale(str(entry["key"]), res, size, chunk, factor))
    return info, scales


@dataclass(frozen=True)
class LayerSummary:
    """What the DataLayer registry records about a finished layer."""

    layer_type: str  # image | segmentation | annotation
    data_type: str  # "" for annotation layers
    voxel_nm: Res3  # scale 0 (annotations: the dimensions, in nm)
    size: Vec3  # scale 0 (annotations: the upper bound, rounded up)
    num_scales: int  # annotations: spatial index levels
    scale_keys: tuple[str, ...] = ()


def describe_layer(layer_path: Path) -> LayerSummary:
    """Read a layer's `info` (image, segmentation or annotation) without touching its data."""
    try:
        info = json.loads((layer_path / "info").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConversionError(f"cannot read the info of the layer {layer_path}: {exc}") from exc
    if info.get("@type") == "neuroglancer_annotations_v1":
        dims = [round(info["dimensions"][axis][0] * 1e9, 6) for axis in ("x", "y", "z")]
        upper = [-int(-float(v) // 1) for v in info["upper_bound"]]
        return LayerSummary(
            "annotation", "", (dims[0], dims[1], dims[2]), (upper[0], upper[1], upper[2]), len(info["spatial"])
        )
    base = info["scales"][0]
    res, size = base["resolution"], base["size"]
    return LayerSummary(
        str(info["type"]),
        str(info["data_type"]),
        (float(res[0]), float(res[1]), float(res[2])),
        (int(size[0]), int(size[1]), int(size[2])),
        len(info["scales"]),
        tuple(str(scale["key"]) for scale in info["scales"]),
    )


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)
