"""The parameter documents of the pipeline runs (JSON, never pickle).

The application writes one document per run (`imaging_request_<N>/runs/<run_id>/params.json`); every
stage of the run reads it. Unknown keys are refused so that a typo fails the run at once.

LaVision (`LavisionParams`, the keys the LaVision stages read):

    run_id, data_root, output_dir        output_dir: the resolution's output folder (absolute)
    inputdictionary   {"<abs raw folder>": [["regch", "00"], ["cellch", "01"]]}: role and two-digit
                      ImSpector filter index of every channel, per raw data folder
    xyz_scale_um      [x, y, z] raw voxel size in µm
    tiling_scheme     "2x2" (columns x rows); tiling_overlap: fraction, e.g. 0.1
    lightsheets       {"left": bool, "right": bool}
    number_of_z_planes, stitchingmethod ("terastitcher"), blendtype ("sigmoidal"|"flat"),
    intensitycorrection (bool), resizefactor (int), planes_per_array_task (int),
    finalorientation  ["2", "1", "0"], atlas_name, atlasfile, annotationfile,
    downsized_voxel_um [x, y, z], stages  (names, in order)
    ontologyfile      optional: Allen-style structure JSON for region names (detect)
    cell_detection    optional: {"threshold_sigma": float, "min_distance_um": float, "cell_radius_um": float}

SmartSPIM stitching (`SmartspimParams`):

    run_id, data_root
    rawdata_dir       rawdata/resolution_<res><vu>/ (absolute), holding one subfolder per channel
    channels          [{"wavelength": "642", "subfolder": "Ex_642_Em_2", "alignment": true}, ...]
                      (alignment channel first)
    xyz_scale_um, tiling_scheme, tiling_overlap, number_of_z_planes, stages
    Output: `<rawdata_dir>/<subfolder>_stitched/` (one TIFF per plane) per channel; placement files in
    `<rawdata_dir>/<alignment subfolder>_stitched/placement.json`.

SmartSPIM destriping (`DestripeParams`):

    run_id, data_root, input_dir (`<subfolder>_stitched`), output_dir (`<subfolder>_corrected`),
    flat_path (the flat-field image), planes_per_array_task,
    destripe          {"method": "shadow" (default) | "wavelet", "line_px", "window_px", "dark", "direction",
                      "sigma": [float, float], "level": int, "wavelet": str}: see lib/pipeline/smartspim/stripes.py
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PipelineError

ROLES = ("regch", "injch", "cellch", "gench")
SHEETS = ("left", "right")
AXIS_RE = re.compile(r"^-?[012]$")


def _check_keys(document: dict[str, Any], allowed: set[str], required: set[str], what: str) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise PipelineError(f"{what}: unknown key(s) {', '.join(unknown)}")
    missing = sorted(required - set(document))
    if missing:
        raise PipelineError(f"{what}: missing key(s) {', '.join(missing)}")


def _vec3(value: Any, name: str) -> tuple[float, float, float]:
    try:
        vec = tuple(float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise PipelineError(f"{name} must be three numbers") from exc
    if len(vec) != 3 or not all(math.isfinite(v) and v > 0 for v in vec):
        raise PipelineError(f"{name} must be three positive numbers, got {value!r}")
    return (vec[0], vec[1], vec[2])


def parse_tiling(text: str) -> tuple[int, int]:
    """`"2x3"` -> (2 columns, 3 rows)."""
    match = re.fullmatch(r"(\d+)x(\d+)", str(text).strip().lower())
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise PipelineError(f"tiling_scheme must look like 2x3 (columns x rows), got {text!r}")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class ChannelInput:
    """One channel of a LaVision resolution: its raw folder, role and two-digit filter index."""

    raw_dir: Path
    role: str
    index: str  # "00"

    @property
    def subfolder(self) -> str:
        return self.raw_dir.name


@dataclass(frozen=True)
class LavisionParams:
    run_id: int
    data_root: Path
    output_dir: Path
    channels: tuple[ChannelInput, ...]
    xyz_scale_um: tuple[float, float, float]
    tiling: tuple[int, int]  # columns, rows
    tiling_overlap: float
    lightsheets: tuple[str, ...]  # the sheets used, in SHEETS order
    number_of_z_planes: int
    blendtype: str
    intensitycorrection: bool
    resizefactor: int
    planes_per_array_task: int
    finalorientation: tuple[str, str, str]
    atlas_name: str
    atlasfile: Path | None
    annotationfile: Path | None
    ontologyfile: Path | None
    downsized_voxel_um: tuple[float, float, float]
    stages: tuple[str, ...]
    cell_detection: dict[str, float] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def tiled(self) -> bool:
        return self.tiling != (1, 1)

    def channel(self, index: str) -> ChannelInput:
        for channel in self.channels:
            if channel.index == index:
                return channel
        raise PipelineError(f"no channel with index {index}")

    def channels_with_role(self, *roles: str) -> tuple[ChannelInput, ...]:
        return tuple(c for c in self.channels if c.role in roles)

    @property
    def registration_channel(self) -> ChannelInput | None:
        found = self.channels_with_role("regch")
        return found[0] if found else None

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> LavisionParams:
        allowed = {
            "run_id", "data_root", "output_dir", "inputdictionary", "xyz_scale_um", "tiling_scheme",
            "tiling_overlap", "lightsheets", "number_of_z_planes", "stitchingmethod", "blendtype",
            "intensitycorrection", "resizefactor", "planes_per_array_task", "finalorientation", "atlas_name",
            "atlasfile", "annotationfile", "ontologyfile", "downsized_voxel_um", "stages", "cell_detection",
            "code_commit",
        }  # fmt: skip
        required = {"output_dir", "inputdictionary", "xyz_scale_um", "number_of_z_planes", "stages"}
        _check_keys(doc, allowed, required, "LaVision parameters")
        channels: list[ChannelInput] = []
        inputs = doc["inputdictionary"]
        if not isinstance(inputs, dict) or not inputs:
            raise PipelineError("inputdictionary must map raw data folders to [role, index] pairs")
        for folder, pairs in inputs.items():
            for pair in pairs:
                if not (isinstance(pair, list | tuple) and len(pair) == 2):
                    raise PipelineError(f"inputdictionary entry {pair!r} must be [role, index]")
                role, index = str(pair[0]), str(pair[1])
                if role not in ROLES:
                    raise PipelineError(f"channel role {role!r} is not one of {', '.join(ROLES)}")
                if not re.fullmatch(r"\d{2}", index):
                    raise PipelineError(f"channel index {index!r} must have two digits")
                channels.append(ChannelInput(Path(folder), role, index))
        if len({c.index for c in channels}) != len(channels):
            raise PipelineError("two channels share one channel index")
        sheets_doc = doc.get("lightsheets", {"left": True, "right": True})
        sheets = tuple(s for s in SHEETS if sheets_doc.get(s))
        if not sheets:
            raise PipelineError("lightsheets: at least one light sheet must be used")
        orientation = tuple(str(a) for a in doc.get("finalorientation", ("0", "1", "2")))
        if (
            len(orientation) != 3
            or not all(AXIS_RE.match(a) for a in orientation)
            or sorted(a.lstrip("-") for a in orientation) != ["0", "1", "2"]
        ):
            raise PipelineError(f"finalorientation must name each axis 0, 1, 2 once, got {orientation!r}")
        overlap = float(doc.get("tiling_overlap", 0.1))
        if not 0.0 <= overlap < 0.5:
            raise PipelineError("tiling_overlap must be between 0 and 0.5")
        planes = int(doc["number_of_z_planes"])
        if planes < 1:
            raise PipelineError("number_of_z_planes must be at least 1")
        blendtype = str(doc.get("blendtype", "sigmoidal"))
        if blendtype not in ("sigmoidal", "flat"):
            raise PipelineError("blendtype must be sigmoidal or flat")

        def optional_path(key: str) -> Path | None:
            value = doc.get(key)
            return Path(value) if value else None

        return cls(
            run_id=int(doc.get("run_id", 0)),
            data_root=Path(doc.get("data_root", "/")),
            output_dir=Path(doc["output_dir"]),
            channels=tuple(channels),
            xyz_scale_um=_vec3(doc["xyz_scale_um"], "xyz_scale_um"),
            tiling=parse_tiling(doc.get("tiling_scheme", "1x1")),
            tiling_overlap=overlap,
            lightsheets=sheets,
            number_of_z_planes=planes,
            blendtype=blendtype,
            intensitycorrection=bool(doc.get("intensitycorrection", True)),
            resizefactor=max(1, int(doc.get("resizefactor", 3))),
            planes_per_array_task=max(1, int(doc.get("planes_per_array_task", 50))),
            finalorientation=(orientation[0], orientation[1], orientation[2]),
            atlas_name=str(doc.get("atlas_name", "")),
            atlasfile=optional_path("atlasfile"),
            annotationfile=optional_path("annotationfile"),
            ontologyfile=optional_path("ontologyfile"),
            downsized_voxel_um=_vec3(doc.get("downsized_voxel_um", (20.0, 20.0, 20.0)), "downsized_voxel_um"),
            stages=tuple(str(s) for s in doc["stages"]),
            cell_detection={str(k): float(v) for k, v in (doc.get("cell_detection") or {}).items()},
            document=doc,
        )


@dataclass(frozen=True)
class SmartspimChannel:
    wavelength: str
    subfolder: str
    alignment: bool


@dataclass(frozen=True)
class SmartspimParams:
    run_id: int
    data_root: Path
    rawdata_dir: Path
    channels: tuple[SmartspimChannel, ...]
    xyz_scale_um: tuple[float, float, float]
    tiling: tuple[int, int]
    tiling_overlap: float
    number_of_z_planes: int
    stages: tuple[str, ...]
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def alignment_channel(self) -> SmartspimChannel:
        return next(c for c in self.channels if c.alignment)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> SmartspimParams:
        allowed = {
            "run_id", "data_root", "rawdata_dir", "channels", "xyz_scale_um", "tiling_scheme", "tiling_overlap",
            "number_of_z_planes", "stages", "code_commit",
        }  # fmt: skip
        _check_keys(doc, allowed, {"rawdata_dir", "channels", "xyz_scale_um", "stages"}, "SmartSPIM parameters")
        channels = tuple(
            SmartspimChannel(str(c["wavelength"]), str(c["subfolder"]), bool(c.get("alignment")))
            for c in doc["channels"]
        )
        if sum(c.alignment for c in channels) != 1:
            raise PipelineError("exactly one SmartSPIM channel must be the alignment channel")
        for c in channels:  # imaging.md allows nested subfolders ("a/b"), never a way out of the folder
            parts = c.subfolder.split("/")
            if c.subfolder.startswith("/") or any(p in ("", ".", "..") for p in parts):
                raise PipelineError(f"channel subfolder {c.subfolder!r} must be a relative folder inside rawdata_dir")
        return cls(
            run_id=int(doc.get("run_id", 0)),
            data_root=Path(doc.get("data_root", "/")),
            rawdata_dir=Path(doc["rawdata_dir"]),
            channels=channels,
            xyz_scale_um=_vec3(doc["xyz_scale_um"], "xyz_scale_um"),
            tiling=parse_tiling(doc.get("tiling_scheme", "1x1")),
            tiling_overlap=float(doc.get("tiling_overlap", 0.1)),
            number_of_z_planes=int(doc.get("number_of_z_planes", 0)),
            stages=tuple(str(s) for s in doc["stages"]),
            document=doc,
        )


@dataclass(frozen=True)
class DestripeParams:
    run_id: int
    input_dir: Path
    output_dir: Path
    flat_path: Path | None
    sigma: tuple[float, float]
    level: int
    wavelet: str
    planes_per_array_task: int
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> DestripeParams:
        allowed = {
            "run_id", "data_root", "input_dir", "output_dir", "flat_path", "destripe", "planes_per_array_task",
            "code_commit",
        }  # fmt: skip
        _check_keys(doc, allowed, {"input_dir", "output_dir"}, "destriping parameters")
        options = doc.get("destripe") or {}
        sigma = options.get("sigma", [256.0, 256.0])
        return cls(
            run_id=int(doc.get("run_id", 0)),
            input_dir=Path(doc["input_dir"]),
            output_dir=Path(doc["output_dir"]),
            flat_path=Path(doc["flat_path"]) if doc.get("flat_path") else None,
            sigma=(float(sigma[0]), float(sigma[1])),
            level=int(options.get("level", 0)),
            wavelet=str(options.get("wavelet", "db3")),
            planes_per_array_task=max(1, int(doc.get("planes_per_array_task", 50))),
            document=doc,
        )
