"""Building the parameter documents and stage lists of the processing runs.

Pure functions over plain rows (no database, no Flask), so the documents can be tested against the
dataclasses of `lib.pipeline.params` that read them (`LavisionParams`, `SmartspimParams`,
`DestripeParams`; they refuse unknown keys). Paths in documents are absolute; `run_id`, `data_root` and
`output_dir` are left `None` for the engine to fill once the run id is known.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lightserv.common.errors import DomainError
from lightserv.runs.model import Resources, StageDef

LAVISION_RESOLUTIONS = ("1.1x", "1.3x", "4x")
SMARTSPIM_RESOLUTIONS = ("3.6x", "15x")
#: in-plane resize factor of the LaVision pipeline
RESIZE_FACTOR = {"1.1x": 3, "1.3x": 3, "4x": 5}
PLANES_PER_ARRAY_TASK = 50
#: the downsized target voxel is the atlas voxel ÷ 1.3
DOWNSIZE_DIVISOR = 1.3
#: SmartSPIM alignment-channel preference
SMARTSPIM_ALIGNMENT_ORDER = ("785", "642", "561", "488")

LAVISION_MODULE = "lib.pipeline.lavision"
REGISTRATION_MODULE = "lib.pipeline.registration"
SMARTSPIM_MODULE = "lib.pipeline.smartspim"

#: default Slurm resources of each LaVision stage (SLURM_STAGE_RESOURCES overrides them in the engine)
LAVISION_RESOURCES = {
    "setup": Resources(cpus=1, mem_gb=4, time_limit="00:30:00"),
    "blend": Resources(cpus=4, mem_gb=16, time_limit="02:00:00"),
    "stitch": Resources(cpus=12, mem_gb=64, time_limit="12:00:00"),
    "downsize": Resources(cpus=4, mem_gb=32, time_limit="02:00:00"),
    "register": Resources(cpus=8, mem_gb=32, time_limit="06:00:00"),
    "detect": Resources(cpus=16, mem_gb=128, time_limit="24:00:00"),
}
SMARTSPIM_RESOURCES = Resources(cpus=16, mem_gb=64, time_limit="12:00:00")
DESTRIPE_RESOURCES = Resources(cpus=32, mem_gb=64, time_limit="06:00:00")
STAGE_MODULE = {
    "setup": LAVISION_MODULE,
    "blend": LAVISION_MODULE,
    "stitch": LAVISION_MODULE,
    "downsize": LAVISION_MODULE,
    "register": REGISTRATION_MODULE,
    "detect": REGISTRATION_MODULE,
}
#: plain names of the stages for progress texts and failure summaries
STAGE_LABELS = {
    "setup": "setup",
    "blend": "blending",
    "stitch": "stitching",
    "downsize": "downsizing",
    "register": "registration",
    "detect": "cell detection",
    "import": "tile import",
    "displcompute": "tile displacements",
    "place": "tile placement",
    "copy_placement": "copying the placement",
    "merge": "merging",
    "destripe": "destriping",
    "info": "layer setup",
    "upload": "upload",
    "downsample": "downsampling",
    "annotations": "cell layer",
}

# (imaged orientation, ventral up, output orientation) -> finalorientation
_ORIENTATION: dict[tuple[str, bool, str], tuple[str, str, str]] = {
    ("sagittal", False, "sagittal"): ("0", "1", "2"),
    ("horizontal", False, "sagittal"): ("2", "1", "0"),
    ("horizontal", True, "sagittal"): ("-2", "1", "-0"),
    ("coronal", False, "sagittal"): ("0", "2", "1"),
    ("sagittal", False, "horizontal"): ("2", "1", "0"),
    ("horizontal", False, "horizontal"): ("0", "1", "2"),
    ("horizontal", True, "horizontal"): ("-0", "1", "-2"),
    ("coronal", False, "horizontal"): ("1", "2", "0"),
    ("sagittal", False, "coronal"): ("0", "2", "1"),
    ("horizontal", False, "coronal"): ("2", "0", "1"),
    ("horizontal", True, "coronal"): ("-2", "-0", "1"),
    ("coronal", False, "coronal"): ("0", "1", "2"),
}


class ParamsError(DomainError, ValueError):
    """The imaged channels cannot make one consistent parameter document (the message is shown)."""


def final_orientation(imaged: str, ventral_up: bool, output: str) -> tuple[str, str, str]:
    """The final orientation for an imaged orientation and ventral-up flag.
    Ventral-up data is always imaged horizontally."""
    key = ("horizontal" if ventral_up else imaged, bool(ventral_up), output)
    return _ORIENTATION[key]


def channel_role(channel: Mapping) -> str:
    """The role of a channel, first match wins: regch > injch (injection or probe detection) > cellch > gench."""
    if channel.get("registration"):
        return "regch"
    if channel.get("injection_detection") or channel.get("probe_detection"):
        return "injch"
    if channel.get("cell_detection"):
        return "cellch"
    return "gench"


def channel_index(channel: Mapping, position: int) -> int:
    """The ImSpector filter index (LaVision); SmartSPIM channels have none and use their position."""
    value = channel.get("imspector_channel_index")
    return int(value) if value is not None else position


def two_digit(index: int) -> str:
    return f"{int(index):02d}"


def downsized_voxel(atlas: Mapping) -> list[float]:
    return [round(float(atlas[f"voxel_{a}_um"]) / DOWNSIZE_DIVISOR, 4) for a in ("x", "y", "z")]


def smartspim_order(channels: Iterable[Mapping]) -> list[Mapping]:
    """Alignment channel first (785, 642, 561, 488 preference), the others in the same order."""
    rank = {c: i for i, c in enumerate(SMARTSPIM_ALIGNMENT_ORDER)}
    return sorted(channels, key=lambda c: rank.get(str(c["channel_name"]), 99))


@dataclass(frozen=True)
class LavisionPlan:
    """One LaVision resolution and side: its parameter document and stages."""

    document: dict
    stages: list[StageDef]
    channels: list[dict]  # the imaging channel rows with role, index (int) and raw_dir (absolute)


def _shared(channels: list[Mapping], column: str, what: str):
    values = {c[column] for c in channels}
    if len(values) != 1:
        raise ParamsError(f"The channels of this resolution disagree on the {what} ({', '.join(map(str, values))}).")
    return values.pop()


def _lavision_channels(channels: list[dict], image_resolution: str, raw_resolution_dir: Path) -> list[dict]:
    """The channel rows by name, each with its role, filter index and raw data folder; every channel has a
    folder and its own index."""
    rows = []
    for position, c in enumerate(sorted(channels, key=lambda c: str(c["channel_name"]))):
        if not c.get("rawdata_subfolder"):
            raise ParamsError(f"Channel {c['channel_name']} at {image_resolution} has no raw data folder.")
        rows.append(
            dict(
                c,
                role=channel_role(c),
                index=channel_index(c, position),
                raw_dir=raw_resolution_dir / str(c["rawdata_subfolder"]),
            )
        )
    if len({r["index"] for r in rows}) != len(rows):
        raise ParamsError(f"Two channels at {image_resolution} share one channel index.")
    return rows


def _lavision_stages(rows: list[dict], tiling: str, planes: int) -> list[StageDef]:
    """Setup, stitching (tiled) or blending, downsizing; registration with a registration channel, and cell
    detection when a channel is also for cells. Array stages run one task per channel (blending: per 50 planes)."""
    has_reg = any(r["role"] == "regch" for r in rows)
    cell_channels = sum(r["role"] == "cellch" for r in rows)
    names = ["setup", "stitch" if tiling != "1x1" else "blend", "downsize"]
    if has_reg:
        names.append("register")
        if cell_channels:
            names.append("detect")
    sizes = {
        "setup": None,
        "blend": math.ceil(planes / PLANES_PER_ARRAY_TASK),
        "stitch": len(rows),
        "downsize": len(rows),
        "register": len(rows),
        "detect": cell_channels,
    }
    return [StageDef(n, STAGE_MODULE[n], resources=LAVISION_RESOURCES[n], array_size=sizes[n]) for n in names]


def _atlas_files(atlas: Mapping, atlas_root: Path) -> dict[str, str]:
    """The registration files of an atlas; its ontology only when it is installed."""
    files = {
        "atlasfile": str(atlas_root / atlas["template_path"]),
        "annotationfile": str(atlas_root / atlas["annotation_path"]),
    }
    ontology = atlas_root / str(atlas["atlas_name"]) / "ontology.json"
    if ontology.exists():
        files["ontologyfile"] = str(ontology)
    return files


def lavision_plan(
    channels: list[dict],
    *,
    image_resolution: str,
    ventral_up: bool,
    output_orientation: str,
    atlas: Mapping,
    atlas_root: Path,
    raw_resolution_dir: Path,
    pixel_size_um: Mapping[str, float],
) -> LavisionPlan:
    """The parameter document and stages of one LaVision resolution request,
    built from all its imaged channels. `channels` are ImagingChannel rows of that side."""
    if not channels:
        raise ParamsError(f"No channel was imaged at {image_resolution}.")
    rows = _lavision_channels(channels, image_resolution, raw_resolution_dir)
    tiling = str(_shared(rows, "tiling_scheme", "tiling scheme"))
    overlap = float(_shared(rows, "tiling_overlap", "tiling overlap"))
    z_step = float(_shared(rows, "z_step", "z step"))
    imaged = str(_shared(rows, "image_orientation", "image orientation"))
    planes = max(int(r["number_of_z_planes"] or 0) for r in rows)
    if planes < 1:
        raise ParamsError(f"The number of z planes at {image_resolution} is not known.")
    stages = _lavision_stages(rows, tiling, planes)
    inputs: dict[str, list[list[str]]] = {}
    for r in rows:
        inputs.setdefault(str(r["raw_dir"]), []).append([r["role"], two_digit(r["index"])])
    pixel = float(pixel_size_um[image_resolution])
    document: dict = {
        "run_id": None,
        "data_root": None,
        "output_dir": None,
        "inputdictionary": inputs,
        "xyz_scale_um": [pixel, pixel, z_step],
        "tiling_scheme": tiling,
        "tiling_overlap": overlap,
        "lightsheets": {
            "left": any(bool(r["left_lightsheet_used"]) for r in rows),
            "right": any(bool(r["right_lightsheet_used"]) for r in rows),
        },
        "number_of_z_planes": planes,
        "stitchingmethod": "terastitcher",
        "blendtype": "sigmoidal",
        "intensitycorrection": True,
        "resizefactor": RESIZE_FACTOR[image_resolution],
        "planes_per_array_task": PLANES_PER_ARRAY_TASK,
        "finalorientation": list(final_orientation(imaged, ventral_up, output_orientation)),
        "atlas_name": str(atlas["atlas_name"]),
        "downsized_voxel_um": downsized_voxel(atlas),
        "stages": [s.name for s in stages],
    }
    if "register" in document["stages"]:
        document.update(_atlas_files(atlas, atlas_root))
    return LavisionPlan(document, stages, rows)


def with_atlas(document: dict, atlas: Mapping, atlas_root: Path) -> dict:
    """A copy of a LaVision document using another atlas (re-run with an edited atlas)."""
    doc = dict(document)
    doc["atlas_name"] = str(atlas["atlas_name"])
    doc["downsized_voxel_um"] = downsized_voxel(atlas)
    if "atlasfile" in doc or "register" in doc.get("stages", []):
        files = _atlas_files(atlas, atlas_root)
        doc.update(files)
        if "ontologyfile" not in files:
            doc.pop("ontologyfile", None)
    return doc


@dataclass(frozen=True)
class SmartspimPlan:
    document: dict
    stages: list[StageDef]
    channels: list[dict]  # alignment channel first, with role, index and alignment flag


def smartspim_plan(
    channels: list[dict], *, image_resolution: str, rawdata_dir: Path, pixel_size_um: Mapping[str, float]
) -> SmartspimPlan:
    """The stitching run of one SmartSPIM resolution and side: `import`,
    `copy_placement` and `merge` are arrays with one task per channel in document order (alignment channel
    first); `displcompute` and `place` are single jobs."""
    if not channels:
        raise ParamsError(f"No channel was imaged at {image_resolution}.")
    ordered = []
    for position, c in enumerate(smartspim_order(channels)):
        if not c.get("rawdata_subfolder"):
            raise ParamsError(f"Channel {c['channel_name']} at {image_resolution} has no raw data folder.")
        ordered.append(dict(c, role=channel_role(c), index=channel_index(c, position), alignment=position == 0))
    pixel = float(pixel_size_um[image_resolution])
    z_step = float(_shared(ordered, "z_step", "z step"))
    document = {
        "run_id": None,
        "data_root": None,
        "rawdata_dir": str(rawdata_dir),
        "channels": [
            {
                "wavelength": str(c["channel_name"]),
                "subfolder": str(c["rawdata_subfolder"]),
                "alignment": c["alignment"],
            }
            for c in ordered
        ],
        "xyz_scale_um": [pixel, pixel, z_step],
        "tiling_scheme": str(_shared(ordered, "tiling_scheme", "tiling scheme")),
        "tiling_overlap": float(_shared(ordered, "tiling_overlap", "tiling overlap")),
        "number_of_z_planes": max(int(c["number_of_z_planes"] or 0) for c in ordered),
        "stages": ["import", "displcompute", "place", "copy_placement", "merge"],
    }
    n = len(ordered)
    stages = [
        StageDef("import", SMARTSPIM_MODULE, resources=SMARTSPIM_RESOURCES, array_size=n),
        StageDef("displcompute", SMARTSPIM_MODULE, resources=SMARTSPIM_RESOURCES),
        StageDef("place", SMARTSPIM_MODULE, resources=SMARTSPIM_RESOURCES),
        StageDef("copy_placement", SMARTSPIM_MODULE, resources=SMARTSPIM_RESOURCES, array_size=n),
        StageDef("merge", SMARTSPIM_MODULE, resources=SMARTSPIM_RESOURCES, array_size=n),
    ]
    return SmartspimPlan(document, stages, ordered)


def destripe_plan(*, input_dir: Path, flat_path: Path, n_planes: int, options: Mapping) -> tuple[dict, list[StageDef]]:
    """One destriping run of one SmartSPIM channel: an array over plane ranges."""
    document = {
        "run_id": None,
        "data_root": None,
        "input_dir": str(input_dir),
        "output_dir": None,
        "flat_path": str(flat_path),
        "destripe": dict(options),
        "planes_per_array_task": PLANES_PER_ARRAY_TASK,
    }
    tasks = max(1, math.ceil(max(1, n_planes) / PLANES_PER_ARRAY_TASK))
    return document, [StageDef("destripe", SMARTSPIM_MODULE, resources=DESTRIPE_RESOURCES, array_size=tasks)]
