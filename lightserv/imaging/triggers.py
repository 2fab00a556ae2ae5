"""What a submitted sample triggers: raw precomputed layers for single-tile LaVision
channels, per channel row (dorsal and ventral) and per light sheet used.

LaVision writes every channel and sheet of an acquisition into one folder, so each layer gets its own
folder of symlinks under `…/imaging_request_<N>/runs/raw_input/` holding only its planes, in plane
order. Raw files are never renamed or moved.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from flask import current_app

from lib.naming import rawdata_dir, resolution_folder_name, runs_dir
from lib.rawdata.validate import LAVISION_NAME_RE, MICROSCOPE_OF_RESOLUTION
from lightserv.common.audit import record_event
from lightserv.db import get_schemas
from lightserv.layers.services import LayerTarget, convert_image_layer
from lightserv.processing.pipeline import start_smartspim_stitching
from lightserv.runs.tasks import launch_after_commit

#: camera pixel size in µm at each LaVision resolution (x = y)
PIXEL_UM = {"1.1x": 5.909091, "1.3x": 5.0, "2x": 3.25, "4x": 1.63}


def sheet_codes(left: bool, right: bool) -> dict[str, int]:
    """Used sheet -> its `C<LL>` number: C00 = left, or the only sheet used; C01 = right when both."""
    if left and right:
        return {"left": 0, "right": 1}
    return {"left": 0} if left else {"right": 0}


def _link_planes(source: Path, target: Path, channel_index: int, sheet_code: int) -> int:
    """Fill `target` with `Z<zzzz>.tif` symlinks to the single-tile planes of one channel and sheet."""
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        if old.is_symlink():
            old.unlink()
    count = 0
    with os.scandir(source) as entries:
        for entry in entries:
            match = LAVISION_NAME_RE.match(entry.name)
            if not match or int(match["filter"]) != channel_index or int(match["sheet"]) != sheet_code:
                continue
            if int(match["column"] or 0) or int(match["row"] or 0):
                continue
            (target / f"Z{int(match['z']):04d}.tif").symlink_to(Path(entry.path))
            count += 1
    return count


def start_raw_conversions(member: dict, created_by: str = "system", since: dt.datetime | None = None) -> list[int]:
    """Register a `raw` layer and create its conversion run for every single-tile LaVision channel row
    and used sheet of a completed imaging request. A retry passes `since`, the (UTC) time of the first attempt:
    layers registered from then on are left alone. Returns the run ids."""
    root = Path(current_app.config["SETTINGS"].data_root)
    ls = get_schemas().lightsheet
    rows = (ls.Request.ImagingChannel & member).to_dicts(order_by=["image_resolution", "channel_name", "ventral_up"])
    ids = (member["username"], member["request_name"], member["sample_name"], member["imaging_request_number"])
    run_ids = []
    for row in rows:
        res = row["image_resolution"]
        if MICROSCOPE_OF_RESOLUTION.get(res) != "lavision" or row["tiling_scheme"] != "1x1":
            continue
        if row["imspector_channel_index"] is None or not row["rawdata_subfolder"]:
            continue
        folder = resolution_folder_name(res, bool(row["ventral_up"]))
        source = root / rawdata_dir(*ids) / folder / row["rawdata_subfolder"]
        pixel_nm = PIXEL_UM[res] * 1000
        for sheet, code in sheet_codes(bool(row["left_lightsheet_used"]), bool(row["right_lightsheet_used"])).items():
            target = LayerTarget(*ids, res, row["channel_name"], "raw", lightsheet=sheet,
                                 ventral_up=bool(row["ventral_up"]))  # fmt: skip
            if since is not None and ls.Request.DataLayer & target.key() & f"created_at >= '{since:%Y-%m-%d %H:%M:%S}'":
                continue  # started by the attempt this one retries (DATA_ROOT could not be written half-way)
            input_rel = runs_dir(*ids) / "raw_input" / folder / f"ch{row['channel_name']}_{sheet}"
            if not _link_planes(source, root / input_rel, row["imspector_channel_index"], code):
                continue
            run_ids.append(
                convert_image_layer(
                    target,
                    str(input_rel),
                    voxel_size_nm=(pixel_nm, pixel_nm, float(row["z_step"]) * 1000),
                    n_planes=int(row["number_of_z_planes"]),
                    created_by=created_by,
                )
            )
    return run_ids


def start_autostitch(member: dict, created_by: str = "system") -> list[int]:
    """SmartSPIM: when `SMARTSPIM_AUTOSTITCH` is on, start the stitching runs of every
    pending or running processing request of this imaging request that has SmartSPIM resolutions.

    A processing request whose resolutions are all SmartSPIM becomes `running` (the processor stays empty
    until staff act); one that also holds LaVision resolutions stays `pending`, so that staff can still
    start those with "Start processing" (which skips the stitching already started)."""
    if not current_app.config["SETTINGS"].smartspim_autostitch:
        return []
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    smartspim = {r for r, m in MICROSCOPE_OF_RESOLUTION.items() if m == "smartspim"}
    run_ids: list[int] = []
    requests = (ls.Request.ProcessingRequest & member & "processing_progress in ('pending', 'running')").to_dicts()
    for pr in requests:
        pkey = {k: pr[k] for k in (*member, "processing_request_number")}
        resolutions = {r["image_resolution"] for r in (ls.Request.ProcessingResolutionRequest & pkey).to_dicts()}
        if not resolutions & smartspim:
            continue
        with conn.transaction:
            started = start_smartspim_stitching(**pkey, created_by=created_by)
            if started and resolutions <= smartspim and pr["processing_progress"] == "pending":
                ls.Request.ProcessingRequest.update1({**pkey, "processing_progress": "running"})
            if started:
                record_event(
                    "processing.autostitch",
                    "processing_request",
                    pkey,
                    f"SmartSPIM stitching of {member['sample_name']} started automatically ({len(started)} runs)",
                    actor=None,
                    request_key=(member["username"], member["request_name"]),
                    dj_conn=conn,
                )
            launch_after_commit(started)  # the launch is written in this transaction (the task outbox)
        run_ids += started
    return run_ids
