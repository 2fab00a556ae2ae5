"""What finished stages and runs of processing trigger: `register_hooks` adds them
to the app's run hooks (`register_run_hooks` in create_app). Stage hooks fire once per (run, stage).

| event | action |
|---|---|
| `blend` / `stitch` succeeded | `blended` layer per channel (and `stitched` per channel and sheet when tiled) |
| `downsize` succeeded | `downsized` layer per channel |
| `register` succeeded | `registered` layer per channel |
| `detect` succeeded | `cells` and `cells_registered` annotation layers per cell channel |
| SmartSPIM stitching succeeded | channels count as stitched (from the run); "Flat-field needed" email once |
| `destripe` succeeded | `corrected` layer of the channel |
| any run of a processing request finished | derived states (lightserv.processing.state) |

Conversion runs are `precomputed_<product>`; `precomputed_cells` runs the single lib.precomputed stage
`annotations` (the spec's `build`).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from flask import current_app

from lib.naming import viz_dir
from lib.pipeline import layout
from lib.pipeline.params import ChannelInput
from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.layers import services as layers
from lightserv.layers.services import LayerTarget, convert_annotation_layer, convert_image_layer
from lightserv.runs.triggers import RunHooks

from . import emails, state
from .params import STAGE_LABELS
from .pipeline import IR_KEY, prepare_output, resolution_key

PROCESSING_KINDS = ("lavision_pipeline", "smartspim_stitch", "smartspim_destripe")
CONVERSION_KINDS = (*layers.KIND_OF_PRODUCT.values(), "precomputed_cells")
#: stage -> layer products made from its outputs (a re-run from a stage resets these and later ones)
PRODUCTS_OF_STAGE = {
    "setup": (),
    "blend": ("blended",),
    "stitch": ("blended", "stitched"),
    "downsize": ("downsized",),
    "register": ("registered",),
    "detect": ("cells", "cells_registered"),
}


def _root() -> Path:
    return Path(current_app.config["SETTINGS"].data_root)


def run_channels(run: dict) -> list[tuple[dict, ChannelInput]]:
    """(ProcessingChannel row, the pipeline's view of it) for each channel of a LaVision run, in the
    document's order."""
    ls = get_schemas().lightsheet
    by_index = {
        f"{c['channel_index']:02d}": c
        for c in (ls.Request.ProcessingChannel & resolution_key(run)).to_dicts(order_by=["channel_name"])
    }
    out = []
    for folder, pairs in (run["params"].get("inputdictionary") or {}).items():
        for role, index in pairs:
            row = by_index.get(str(index))
            if row is not None:
                out.append((row, ChannelInput(Path(folder), str(role), str(index))))
    return out


def _rel(run: dict, path: Path) -> str:
    """A product path of a run relative to DATA_ROOT."""
    return str(Path(run["output_dir"]) / path.relative_to(Path(run["params"]["output_dir"])))


def _target(run: dict, channel: str, product: str, *, lightsheet: str = "none", role: str = "") -> LayerTarget:
    return LayerTarget(
        run["username"], run["request_name"], run["sample_name"], run["imaging_request_number"],
        run["image_resolution"], channel, product, lightsheet=lightsheet, ventral_up=bool(run["ventral_up"]),
        processing_request_number=run["processing_request_number"], role=role,
    )  # fmt: skip


def _full_res_nm(run: dict) -> tuple[float, float, float]:
    x, y, z = (float(v) * 1000 for v in run["params"]["xyz_scale_um"])
    return (x, y, z)


def deepest_plane_folder(folder: Path) -> Path:
    """The folder holding the planes under a per-sheet stitched folder (TeraStitcher nests them)."""
    best, depth = folder, -1
    if folder.is_dir():
        for dirpath, _dirs, files in os.walk(folder):
            if any(f.lower().endswith((".tif", ".tiff")) for f in files):
                d = len(Path(dirpath).relative_to(folder).parts)
                if d > depth:
                    best, depth = Path(dirpath), d
    return best


def blended_layers(run: dict, job: dict) -> None:
    out = Path(run["params"]["output_dir"])
    planes = int(run["params"]["number_of_z_planes"])
    voxel = _full_res_nm(run)
    sheets = [s for s in ("left", "right") if (run["params"].get("lightsheets") or {}).get(s)]
    for row, ch in run_channels(run):
        name = row["channel_name"]
        convert_image_layer(
            _target(run, name, "blended"), _rel(run, layout.full_size_dir(out, ch)), voxel_size_nm=voxel,
            n_planes=planes,
        )  # fmt: skip
        if job["step_name"] == "stitch":
            for sheet in sheets:
                source = deepest_plane_folder(layout.stitched_sheet_dir(out, ch, sheet))
                convert_image_layer(
                    _target(run, name, "stitched", lightsheet=sheet), _rel(run, source), voxel_size_nm=voxel,
                    n_planes=planes,
                )  # fmt: skip


def downsized_layers(run: dict, job: dict) -> None:
    out = Path(run["params"]["output_dir"])
    voxel = tuple(float(v) * 1000 for v in run["params"]["downsized_voxel_um"])
    for row, ch in run_channels(run):
        convert_image_layer(
            _target(run, row["channel_name"], "downsized"), _rel(run, layout.downsized_volume(out, ch)),
            voxel_size_nm=voxel, n_planes=1, downsample=False,
        )  # fmt: skip


def _atlas_voxel_nm(run: dict) -> tuple[float, float, float]:
    rows = (get_schemas().lightsheet.Atlas & {"atlas_name": run["params"]["atlas_name"]}).to_dicts()
    if rows:
        return tuple(float(rows[0][f"voxel_{a}_um"]) * 1000 for a in "xyz")  # type: ignore[return-value]
    return tuple(float(v) * 1300 for v in run["params"]["downsized_voxel_um"])  # type: ignore[return-value]


def registered_layers(run: dict, job: dict) -> None:
    out = Path(run["params"]["output_dir"])
    voxel = _atlas_voxel_nm(run)
    for row, ch in run_channels(run):
        convert_image_layer(
            _target(run, row["channel_name"], "registered", role=ch.role),
            _rel(run, layout.registered_volume(out, ch, ch.role)), voxel_size_nm=voxel, n_planes=1, downsample=False,
        )  # fmt: skip


def cell_layers(run: dict, job: dict) -> None:
    out = Path(run["params"]["output_dir"])
    ls = get_schemas().lightsheet
    for row, ch in run_channels(run):
        if ch.role != "cellch":
            continue
        blended = (ls.Request.DataLayer & _target(run, row["channel_name"], "blended").key()).to_dicts()
        bound = None
        if blended and blended[0]["size_x"]:
            bound = (float(blended[0]["size_x"]), float(blended[0]["size_y"]), float(blended[0]["size_z"]))
        convert_annotation_layer(
            _target(run, row["channel_name"], "cells"), _rel(run, layout.cells_csv(out, ch)),
            voxel_size_nm=_full_res_nm(run), upper_bound=bound,
        )  # fmt: skip
        convert_annotation_layer(
            _target(run, row["channel_name"], "cells_registered"), _rel(run, layout.cells_registered_csv(out, ch)),
            voxel_size_nm=_atlas_voxel_nm(run),
        )  # fmt: skip


# --- SmartSPIM ------------------------------------------------------------------------------------


def stitching_succeeded(run: dict) -> None:
    channels = [c["wavelength"] for c in run["params"].get("channels", [])]
    emails.send_flatfield_needed(run, channels)
    _refresh(run)


def corrected_layer(run: dict) -> None:
    ls, jobs = get_schemas().lightsheet, get_schemas().jobs
    ir = {k: run[k] for k in IR_KEY}
    channel = (
        ls.Request.ImagingChannel
        & ir
        & {"image_resolution": run["image_resolution"], "ventral_up": run["ventral_up"],
           "channel_name": run["channel_name"]}
    ).to_dicts()  # fmt: skip
    stitched = (
        jobs.PipelineRun & ir & {"kind": "smartspim_stitch", "image_resolution": run["image_resolution"],
                                 "ventral_up": run["ventral_up"], "status": "succeeded"}
    ).to_dicts(order_by=["run_id DESC"], limit=1)  # fmt: skip
    settings = current_app.config["SETTINGS"]
    scale = (stitched[0]["params"] or {}).get("xyz_scale_um") if stitched else None
    if not scale:
        pixel = float(settings.pixel_size_um[run["image_resolution"]])
        scale = [pixel, pixel, float(channel[0]["z_step"]) if channel else 1.0]
    convert_image_layer(
        _target(run, run["channel_name"], "corrected"), run["output_dir"],
        voxel_size_nm=tuple(float(v) * 1000 for v in scale),  # type: ignore[arg-type]
        n_planes=int(channel[0]["number_of_z_planes"] or 1) if channel else 1,
    )  # fmt: skip
    _refresh(run)


# --- derived states on every finished run ----------------------------------------------------------


def _refresh(run: dict) -> None:
    try:
        state.refresh_run(run)
    except Exception:  # noqa: BLE001 - a hook must not stop the poller; the next event refreshes again
        current_app.logger.exception("could not refresh the processing state of run %s", run["run_id"])




# --- re-run from a stage --------------------------------------------


def superseded_paths(run: dict, from_stage: str) -> tuple[list[Path], tuple[str, ...]]:
    """Outputs of the stages from `from_stage` on (absolute) and the layer products made from them."""
    doc = run["params"]
    out = Path(doc["output_dir"])
    stages = list(doc.get("stages", []))
    later = stages[stages.index(from_stage) :] if from_stage in stages else stages
    channels = [ch for _row, ch in run_channels(run)]
    sheets = [s for s in ("left", "right") if (doc.get("lightsheets") or {}).get(s)]
    paths: list[Path] = []
    products: list[str] = []
    for stage in later:
        products += PRODUCTS_OF_STAGE.get(stage, ())
        if stage == "setup":
            paths.append(out / layout.METADATA_NAME)
        elif stage in ("blend", "stitch"):
            paths.append(out / "full_sizedatafld")
            for ch in channels:
                paths.append(layout.resized_dir(out, ch))
                paths += [layout.stitched_sheet_dir(out, ch, s) for s in sheets]
        elif stage == "downsize":
            paths += [layout.downsized_volume(out, ch) for ch in channels]
        elif stage == "register":
            paths.append(layout.elastix_dir(out))
        elif stage == "detect":
            paths.append(out / layout.CELLS_DIR)
    return paths, tuple(dict.fromkeys(products))


def move_superseded_outputs(run: dict, from_stage: str) -> None:
    """Rename the outputs of the recomputed stages into `superseded/attempt_<old attempt>/` of the output
    folder (same file system, never overwritten in place), return their layers to `pending` and move the
    old layer folders to `viz/.superseded/`. Retention deletes them after SUPERSEDED_RETENTION_DAYS."""
    root = _root()
    out = Path(run["params"]["output_dir"])
    paths, products = superseded_paths(run, from_stage)
    aside = out / "superseded" / f"attempt_{run['attempt']}"
    for path in paths:
        if path.exists():
            target = aside / path.relative_to(out)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    if not products:
        return
    ls = get_schemas().lightsheet
    layer_rows = (ls.Request.DataLayer & resolution_key(run) & [{"product": p} for p in products]).to_dicts()
    viz = root / viz_dir(*(run[k] for k in IR_KEY))
    for layer in layer_rows:
        folder = root / layer["layer_path"]
        if folder.exists():
            target = viz / ".superseded" / f"run_{run['run_id']}" / folder.relative_to(viz)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder, target)
        key = {k: layer[k] for k in layers.LAYER_KEY}
        ls.Request.DataLayer.update1({**key, "status": "pending", "ready_at": None, "failure_reason": ""})
    db.session.commit()


def remove_superseded(older_than_days: int) -> int:
    """The retention job: delete `superseded/attempt_*` and `viz/.superseded/run_*` folders whose
    modification time is older than the retention period. Returns the number of folders removed."""
    root = _root()
    limit = time.time() - older_than_days * 86400
    removed = 0
    patterns = ("*/*/*/imaging_request_*/output/processing_request_*/*/superseded/attempt_*",
                "*/*/*/imaging_request_*/viz/.superseded/run_*")  # fmt: skip
    for pattern in patterns:
        for folder in root.glob(pattern):
            if folder.is_dir() and folder.stat().st_mtime < limit:
                shutil.rmtree(folder)
                removed += 1
    return removed


def register_hooks(hooks: RunHooks) -> None:
    """Layers from finished stages, the SmartSPIM steps, superseded outputs on a re-run, and the derived states
    on every finished run. Added after the layers' own hooks (`register_run_hooks`), so the refresh reads a
    layer's new status."""
    for stage in ("blend", "stitch"):
        hooks.on_stage_success("lavision_pipeline", stage, blended_layers)
    hooks.on_stage_success("lavision_pipeline", "downsize", downsized_layers)
    hooks.on_stage_success("lavision_pipeline", "register", registered_layers)
    hooks.on_stage_success("lavision_pipeline", "detect", cell_layers)
    hooks.on_run_success("smartspim_stitch", stitching_succeeded)
    hooks.on_run_success("smartspim_destripe", corrected_layer)
    for kind in ("lavision_pipeline", *CONVERSION_KINDS):
        hooks.on_run_success(kind, _refresh)
    for kind in (*PROCESSING_KINDS, *CONVERSION_KINDS):
        hooks.on_run_failure(kind, _refresh)
    hooks.on_rerun("lavision_pipeline", move_superseded_outputs)
    for kind in PROCESSING_KINDS:
        hooks.on_before_submit(kind, prepare_output)
    hooks.name_stages(STAGE_LABELS)
