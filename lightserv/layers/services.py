"""Registering layers and converting data into them through the cluster engine.

`convert_image_layer` registers a pending `DataLayer`, creates a conversion run (`info` → `upload` →
`downsample`, stages of `lib.precomputed`) and queues its submission, all in one transaction. When the run
succeeds the layer's `info` is read back and the layer becomes `ready`; when it fails the layer becomes `failed`
with the reason.
"""

from __future__ import annotations

import contextlib
import json
import math
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from lib.naming import layer_dir, layer_name, runs_dir
from lightserv.common.audit import record_event, utcnow
from lightserv.common.dispatch import relay_pending
from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.runs.engine import create_run
from lightserv.runs.model import Resources, StageDef
from lightserv.runs.tasks import launch_after_commit
from lightserv.runs.triggers import RunHooks

KIND_OF_PRODUCT = {
    "raw": "precomputed_raw",
    "stitched": "precomputed_stitched",
    "blended": "precomputed_blended",
    "downsized": "precomputed_downsized",
    "registered": "precomputed_registered",
    "corrected": "precomputed_corrected",
}
# default Slurm resources of the layer stages
INFO = Resources(cpus=1, mem_gb=2, time_limit="00:10:00")
UPLOAD = Resources(cpus=13, mem_gb=32, time_limit="02:00:00")
DOWNSAMPLE = Resources(cpus=12, mem_gb=32, time_limit="04:00:00")
#: scales per layer kind: raw, stitched and blended get 4 more 2x2x1 scales; corrected approaches isotropy;
#: downsized and registered have no further scales
PYRAMID = {
    "raw": {"z_downsampling": "never", "num_scales": 5},
    "stitched": {"z_downsampling": "never", "num_scales": 5},
    "blended": {"z_downsampling": "never", "num_scales": 5},
    "corrected": {"z_downsampling": "when_isotropic", "num_scales": 6},
}
PLANES_PER_TASK = 64
MAX_TASKS = 16
LAYER_KEY = (
    "username",
    "request_name",
    "sample_name",
    "imaging_request_number",
    "processing_request_number",
    "image_resolution",
    "ventral_up",
    "channel_name",
    "product",
    "lightsheet",
)


@dataclass(frozen=True)
class LayerTarget:
    username: str
    request_name: str
    sample_name: str
    imaging_request_number: int
    image_resolution: str
    channel_name: str
    product: str
    lightsheet: str = "none"
    ventral_up: bool = False
    processing_request_number: int = 0
    role: str = ""

    def key(self) -> dict:
        return {
            "username": self.username,
            "request_name": self.request_name,
            "sample_name": self.sample_name,
            "imaging_request_number": self.imaging_request_number,
            "processing_request_number": self.processing_request_number,
            "image_resolution": self.image_resolution,
            "ventral_up": int(self.ventral_up),
            "channel_name": self.channel_name,
            "product": self.product,
            "lightsheet": self.lightsheet,
        }

    def folder(self):
        return layer_dir(
            self.username,
            self.request_name,
            self.sample_name,
            self.imaging_request_number,
            product=self.product,
            channel=self.channel_name,
            image_resolution=self.image_resolution,
            ventral_up=self.ventral_up,
            lightsheet=self.lightsheet,
            processing_request_number=self.processing_request_number,
        )

    def name(self) -> str:
        return layer_name(
            self.product, self.channel_name, lightsheet=self.lightsheet, ventral_up=self.ventral_up, role=self.role
        )


def image_stages(n_planes: int, *, downsample: bool = True) -> list[StageDef]:
    tasks = max(1, min(MAX_TASKS, math.ceil(n_planes / PLANES_PER_TASK)))
    stages = [
        StageDef("info", "lib.precomputed", resources=INFO),
        StageDef("upload", "lib.precomputed", resources=UPLOAD, array_size=tasks),
    ]
    if downsample:
        stages.append(StageDef("downsample", "lib.precomputed", resources=DOWNSAMPLE, array_size=tasks))
    return stages


def convert_image_layer(
    target: LayerTarget,
    source: str,
    *,
    voxel_size_nm: tuple[float, float, float],
    n_planes: int,
    created_by: str = "system",
    downsample: bool = True,
) -> int:
    """Register (or reset) the layer and start its conversion run; returns the run id.

    `source` is relative to DATA_ROOT: a folder of single-plane TIFFs or one multi-page TIFF."""
    settings = current_app.config["SETTINGS"]
    root = Path(settings.data_root)
    folder = target.folder()
    key = target.key()
    kind = KIND_OF_PRODUCT[target.product]
    run_target = {
        k: key[k]
        for k in (
            "username",
            "request_name",
            "sample_name",
            "imaging_request_number",
            "processing_request_number",
            "image_resolution",
            "ventral_up",
            "channel_name",
            "lightsheet",
        )
    }
    previous = (get_schemas().jobs.PipelineRun & {k: v for k, v in run_target.items()} & {"kind": kind}).to_dicts()
    attempt = 1 + max((r["attempt"] for r in previous), default=0)
    params = {
        "layer_path": str(root / folder),
        "layer_name": target.name(),
        "layer_type": "image",
        "input_path": str(root / source),
        "data_type": "uint16",
        "voxel_size_nm": list(voxel_size_nm),
        "progress_dir": None,
        **PYRAMID.get(target.product, {"num_scales": 1}),
    }
    # the progress folder lives in the run folder, whose id we know only after the insert: use a per-layer
    # folder under runs/ so a re-run of the same layer resumes finished slabs. The layer name alone is not
    # unique within an imaging request (the same channel at two resolutions, a ventral-up pass, a second
    # processing request): the folder names all of them, or a second layer would "resume" the first's slabs
    layer_key = (
        f"{target.image_resolution}{'_ventral_up' if target.ventral_up else ''}"
        f"_processing_{target.processing_request_number}"
    )
    params["progress_dir"] = str(
        root
        / runs_dir(target.username, target.request_name, target.sample_name, target.imaging_request_number)
        / "progress"
        / layer_key
        / target.name()
        / f"attempt_{attempt}_{secrets.token_hex(4)}"  # never an older run's (a deleted and re-filed request)
    )
    with _one_transaction():
        run_id = create_run(
            kind,
            run_target,
            image_stages(n_planes, downsample=downsample),
            params,
            created_by=created_by,
            output_dir=str(folder),
            attempt=attempt,
        )
        return _register_and_submit(target, key, run_id, "image", "uint16", str(folder), source)


#: the annotation layer stage `build` (4 CPUs, 16 GB, 1 h). lib.precomputed names that stage `annotations`.
BUILD = Resources(cpus=4, mem_gb=16, time_limit="01:00:00")
ANNOTATION_PRODUCTS = ("cells", "cells_registered")


def convert_annotation_layer(
    target: LayerTarget,
    points: str,
    *,
    voxel_size_nm: tuple[float, float, float],
    upper_bound: tuple[float, float, float] | None = None,
    created_by: str = "system",
) -> int:
    """Register (or reset) a point-annotation layer (`cells`, `cells_registered`) and start its
    `precomputed_cells` run: one stage, `annotations` of lib.precomputed (the spec's `build`). `points` is a
    CSV relative to DATA_ROOT with header x,y,z[,score][,region_id] in the voxels of `voxel_size_nm`.
    One run per layer; the attempt counts earlier runs of the same layer folder. Returns the run id."""
    if target.product not in ANNOTATION_PRODUCTS:
        raise ValueError(f"{target.product} is not an annotation product")
    settings = current_app.config["SETTINGS"]
    root = Path(settings.data_root)
    folder = target.folder()
    key = target.key()
    run_target = {k: key[k] for k in key if k != "product"}
    previous = (get_schemas().jobs.PipelineRun & run_target & {"kind": "precomputed_cells"}).to_dicts()
    layer_path = str(root / folder)
    attempt = 1 + sum(1 for r in previous if (r["params"] or {}).get("layer_path") == layer_path)
    params = {
        "layer_path": layer_path,
        "layer_type": "annotation",
        "points_path": str(root / points),
        "voxel_size_nm": [float(v) for v in voxel_size_nm],
    }
    if upper_bound is not None:
        params["annotation_upper_bound"] = [float(v) for v in upper_bound]
    with _one_transaction():
        run_id = create_run(
            "precomputed_cells",
            run_target,
            [StageDef("annotations", "lib.precomputed", resources=BUILD)],
            params,
            created_by=created_by,
            output_dir=str(folder),
            attempt=attempt,
        )
        return _register_and_submit(target, key, run_id, "annotation", "float32", str(folder), points)


def mark_annotation_ready(run: dict) -> None:
    """An annotation layer's `info` has dimensions (metres per voxel) and bounds instead of scales: fill
    voxel size (nm), size (upper bound) and the number of spatial index levels; the layer becomes ready."""
    layer = _layer_of_run(run)
    if layer is None or layer["status"] == "ready":
        return
    root = Path(current_app.config["SETTINGS"].data_root)
    info = json.loads((root / layer["layer_path"] / "info").read_text())
    dims = [info["dimensions"][axis][0] * 1e9 for axis in "xyz"]
    upper = [int(math.ceil(v)) for v in info["upper_bound"]]
    key = {k: layer[k] for k in LAYER_KEY}
    get_schemas().lightsheet.Request.DataLayer.update1(
        {
            **key,
            "status": "ready",
            "ready_at": utcnow(),
            "voxel_x_nm": dims[0],
            "voxel_y_nm": dims[1],
            "voxel_z_nm": dims[2],
            "size_x": upper[0],
            "size_y": upper[1],
            "size_z": upper[2],
            "num_scales": len(info.get("spatial", [])),
        }
    )
    record_event(
        "layer.ready",
        "layer",
        key,
        f"Layer {layer['layer_name']} of {layer['sample_name']} is ready",
        actor=None,
        request_key=(layer["username"], layer["request_name"]),
        dj_conn=get_schemas().connection,  # with the layer's status (a settler's transaction when one is open)
    )


@contextlib.contextmanager
def _one_transaction() -> Iterator[None]:
    """The run, the layer row and the run's launch commit together: the caller's DataJoint transaction when one
    is open (a run's hooks), else one of their own. A failure half-way leaves none of them (no run that nothing
    launches, no launch of a run that does not exist)."""
    conn = get_schemas().connection
    if conn.in_transaction:
        yield
        return
    with conn.transaction:
        yield
    db.session.commit()
    relay_pending()


def _register_and_submit(
    target: LayerTarget, key: dict, run_id: int, layer_type: str, data_type: str, folder: str, source: str
) -> int:
    """The layer row (`converting`, replacing an older row of the same key) for a created conversion run, and
    its launch, in the open transaction."""
    ls = get_schemas().lightsheet
    row = dict(
        **key, layer_name=target.name(), layer_type=layer_type, layer_path=folder, source_path=source,
        status="converting", data_type=data_type, voxel_x_nm=None, voxel_y_nm=None, voxel_z_nm=None,
        size_x=None, size_y=None, size_z=None, num_scales=None, run_id=run_id, created_at=utcnow(),
        ready_at=None, failure_reason="",
    )  # fmt: skip
    if ls.Request.DataLayer & key:
        (ls.Request.DataLayer & key).delete(prompt=False, part_integrity="ignore")
    ls.Request.DataLayer.insert1(row)
    launch_after_commit([run_id])
    return run_id


def _layer_of_run(run: dict) -> dict | None:
    rows = (get_schemas().lightsheet.Request.DataLayer & {"run_id": run["run_id"]}).to_dicts()
    return rows[0] if rows else None


def mark_ready(run: dict) -> None:
    """Fill size, voxel size and scale count from the layer's info; the layer becomes ready."""
    layer = _layer_of_run(run)
    if layer is None or layer["status"] == "ready":
        return
    root = Path(current_app.config["SETTINGS"].data_root)
    info = json.loads((root / layer["layer_path"] / "info").read_text())
    scale = info["scales"][0]
    key = {k: layer[k] for k in LAYER_KEY}
    get_schemas().lightsheet.Request.DataLayer.update1(
        {
            **key,
            "status": "ready",
            "ready_at": utcnow(),
            "voxel_x_nm": scale["resolution"][0],
            "voxel_y_nm": scale["resolution"][1],
            "voxel_z_nm": scale["resolution"][2],
            "size_x": scale["size"][0],
            "size_y": scale["size"][1],
            "size_z": scale["size"][2],
            "num_scales": len(info["scales"]),
            "data_type": info.get("data_type", "uint16"),
        }
    )
    record_event(
        "layer.ready",
        "layer",
        key,
        f"Layer {layer['layer_name']} of {layer['sample_name']} is ready",
        actor=None,
        request_key=(layer["username"], layer["request_name"]),
        dj_conn=get_schemas().connection,  # with the layer's status (a settler's transaction when one is open)
    )


def mark_failed(run: dict) -> None:
    layer = _layer_of_run(run)
    if layer is None or layer["status"] in ("ready", "failed"):
        return
    key = {k: layer[k] for k in LAYER_KEY}
    reason = (run.get("failure_reason") or "conversion failed")[:512]
    get_schemas().lightsheet.Request.DataLayer.update1({**key, "status": "failed", "failure_reason": reason})
    record_event(
        "layer.failed",
        "layer",
        key,
        f"Layer {layer['layer_name']} of {layer['sample_name']} failed: {reason}",
        actor=None,
        request_key=(layer["username"], layer["request_name"]),
        dj_conn=get_schemas().connection,  # with the layer's status (a settler's transaction when one is open)
    )


def register_hooks(hooks: RunHooks) -> None:
    """A layer's conversion run marks it ready or failed."""
    for kind in KIND_OF_PRODUCT.values():
        hooks.on_run_success(kind, mark_ready)
        hooks.on_run_failure(kind, mark_failed)
    hooks.on_run_success("precomputed_cells", mark_annotation_ready)
    hooks.on_run_failure("precomputed_cells", mark_failed)
