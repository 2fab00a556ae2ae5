"""Creating the processing runs through the cluster engine.

Each function writes rows only (the run, its jobs and params.json in the run folder) and joins the
caller's DataJoint transaction when one is open; `launch_after_commit` (lightserv.runs.tasks) queues the
launch, which creates the output folder (`prepare_output`) and submits the stages.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import current_app

from lib.naming import output_dir, rawdata_resolution_dir
from lib.pipeline.layout import smartspim_corrected_dir, smartspim_stitched_dir
from lib.storage import make_folders
from lightserv.common.audit import utcnow
from lightserv.db import get_schemas
from lightserv.runs.engine import create_run
from lightserv.runs.tasks import launch_after_commit

from . import params as P

PR_KEY = ("username", "request_name", "sample_name", "imaging_request_number", "processing_request_number")
IR_KEY = PR_KEY[:4]
ACTIVE_RUN = ("queued", "running")


def pr_key_of(row: dict) -> dict:
    return {k: row[k] for k in PR_KEY}


def resolution_key(row: dict) -> dict:
    return {**pr_key_of(row), "image_resolution": row["image_resolution"], "ventral_up": int(row["ventral_up"])}


def microscope_of(resolution: str) -> str:
    return "smartspim" if resolution in P.SMARTSPIM_RESOLUTIONS else "lavision"


def imaged_channels(rkey: dict) -> list[dict]:
    """ImagingChannel rows of one resolution and side."""
    ls = get_schemas().lightsheet
    key = {k: rkey[k] for k in (*IR_KEY, "image_resolution", "ventral_up")}
    return (ls.Request.ImagingChannel & key).to_dicts(order_by=["channel_name"])


def atlas_row(name: str) -> dict | None:
    rows = (get_schemas().lightsheet.Atlas & {"atlas_name": name}).to_dicts()
    return rows[0] if rows else None


def _settings():
    return current_app.config["SETTINGS"]


def lavision_plan_for(rr: dict, *, atlas_name: str | None = None, orientation: str | None = None) -> P.LavisionPlan:
    """The plan of a LaVision processing resolution request `rr` (with optional edited atlas/orientation)."""
    settings = _settings()
    atlas = atlas_row(atlas_name or rr["atlas_name"])
    if atlas is None:
        raise P.ParamsError(f"The atlas {atlas_name or rr['atlas_name']} is not known.")
    raw = Path(settings.data_root) / rawdata_resolution_dir(
        *(rr[k] for k in IR_KEY), rr["image_resolution"], bool(rr["ventral_up"])
    )
    return P.lavision_plan(
        imaged_channels(rr),
        image_resolution=rr["image_resolution"],
        ventral_up=bool(rr["ventral_up"]),
        output_orientation=orientation or rr["final_orientation"],
        atlas=atlas,
        atlas_root=Path(settings.atlas_root),
        raw_resolution_dir=raw,
        pixel_size_um=settings.pixel_size_um,
    )


def output_folder(rkey: dict) -> str:
    return str(output_dir(*(rkey[k] for k in PR_KEY), rkey["image_resolution"], bool(rkey["ventral_up"])))


def create_lavision_run(rr: dict, plan: P.LavisionPlan, created_by: str) -> int:
    rkey = resolution_key(rr)
    return create_run(
        "lavision_pipeline",
        rkey,
        plan.stages,
        plan.document,
        created_by=created_by,
        output_dir=output_folder(rkey),
    )


# --- SmartSPIM ------------------------------------------------------------------------------------


def smartspim_plan_for(rr: dict) -> P.SmartspimPlan:
    settings = _settings()
    raw = Path(settings.data_root) / rawdata_resolution_dir(
        *(rr[k] for k in IR_KEY), rr["image_resolution"], bool(rr["ventral_up"])
    )
    return P.smartspim_plan(
        imaged_channels(rr), image_resolution=rr["image_resolution"], rawdata_dir=raw,
        pixel_size_um=settings.pixel_size_um,
    )  # fmt: skip


def stitch_runs(rr: dict) -> list[dict]:
    """Stitching runs of a SmartSPIM resolution and side (any processing request: the stitched planes live
    beside the raw data), newest first."""
    jobs = get_schemas().jobs
    key = {k: rr[k] for k in (*IR_KEY, "image_resolution")} | {"ventral_up": int(rr["ventral_up"])}
    return (jobs.PipelineRun & key & {"kind": "smartspim_stitch"}).to_dicts(order_by=["run_id DESC"])


def stitching_started(rr: dict) -> bool:
    """A stitching run that is queued, running or succeeded exists (a failed one may be started again)."""
    return any(r["status"] in (*ACTIVE_RUN, "succeeded") and not r["superseded_by_run_id"] for r in stitch_runs(rr))


def ensure_processing_channels(rr: dict, rows: list[dict], started: bool) -> None:
    """Insert the ProcessingChannel rows of a resolution request that are missing (role, two-digit index,
    intensity correction on, alignment channel for SmartSPIM)."""
    ls = get_schemas().lightsheet
    rkey = resolution_key(rr)
    existing = {r["channel_name"] for r in (ls.Request.ProcessingChannel & rkey).to_dicts()}
    now = utcnow() if started else None
    for r in rows:
        if r["channel_name"] in existing:
            if started:
                current = (ls.Request.ProcessingChannel & rkey & {"channel_name": r["channel_name"]}).to_dicts()[0]
                if current["processing_started_at"] is None:
                    ls.Request.ProcessingChannel.update1(
                        {**rkey, "channel_name": r["channel_name"], "processing_started_at": now}
                    )
            continue
        ls.Request.ProcessingChannel.insert1(
            dict(
                **rkey,
                channel_name=r["channel_name"],
                channel_role=r["role"],
                channel_index=int(r["index"]),
                intensity_correction=1,
                is_alignment_channel=int(bool(r.get("alignment"))),
                flatfield_filename=None,
                processing_started_at=now,
                processing_completed_at=None,
            )
        )


def create_stitch_run(rr: dict, plan: P.SmartspimPlan, created_by: str) -> int:
    rkey = resolution_key(rr)
    rel = rawdata_resolution_dir(*(rr[k] for k in IR_KEY), rr["image_resolution"], bool(rr["ventral_up"]))
    return create_run("smartspim_stitch", rkey, plan.stages, plan.document, created_by=created_by, output_dir=str(rel))


def start_smartspim_stitching(
    username: str,
    request_name: str,
    sample_name: str,
    imaging_request_number: int,
    processing_request_number: int,
    created_by: str,
) -> list[int]:
    """Start the SmartSPIM stitching runs of one processing request: one run per
    SmartSPIM resolution and side whose stitching has not started (or failed). Called by imaging submission
    when SMARTSPIM_AUTOSTITCH is on (the caller checks the setting) and by "Start processing". Writes the
    processing channel rows (alignment channel marked) and sets `pipeline_status = running`; the runs are
    submitted by a task after the commit. Called inside an open DataJoint transaction, it joins it and the
    caller calls `launch_after_commit(run_ids)` in that transaction. Returns the new run ids."""
    schemas = get_schemas()
    conn = schemas.connection
    pkey = dict(
        username=username, request_name=request_name, sample_name=sample_name,
        imaging_request_number=imaging_request_number, processing_request_number=processing_request_number,
    )  # fmt: skip
    outer = conn.in_transaction
    if outer:
        run_ids = _create_stitching(pkey, created_by)
    else:
        with conn.transaction:
            run_ids = _create_stitching(pkey, created_by)
            launch_after_commit(run_ids)  # the launch is written in this transaction (the task outbox)
    return run_ids


def _create_stitching(pkey: dict, created_by: str) -> list[int]:
    ls = get_schemas().lightsheet
    run_ids = []
    for rr in (ls.Request.ProcessingResolutionRequest & pkey).to_dicts(order_by=["image_resolution", "ventral_up"]):
        if microscope_of(rr["image_resolution"]) != "smartspim" or stitching_started(rr):
            continue
        plan = smartspim_plan_for(rr)
        ensure_processing_channels(rr, plan.channels, started=False)
        run_ids.append(create_stitch_run(rr, plan, created_by))
        ls.Request.ProcessingResolutionRequest.update1({**resolution_key(rr), "pipeline_status": "running"})
    return run_ids


def create_destripe_run(rr: dict, channel: dict, flat_name: str, created_by: str) -> int:
    """A `smartspim_destripe` run of one channel."""
    settings = _settings()
    rel = rawdata_resolution_dir(*(rr[k] for k in IR_KEY), rr["image_resolution"], bool(rr["ventral_up"]))
    raw = Path(settings.data_root) / rel
    subfolder = str(channel["rawdata_subfolder"])
    document, stages = P.destripe_plan(
        input_dir=smartspim_stitched_dir(raw, subfolder),
        flat_path=smartspim_stitched_dir(raw, subfolder) / flat_name,
        n_planes=int(channel["number_of_z_planes"] or 1),
        options=settings.destripe_params,
    )
    target = {**resolution_key(rr), "channel_name": channel["channel_name"]}
    previous = (get_schemas().jobs.PipelineRun & target & {"kind": "smartspim_destripe"}).to_dicts()
    return create_run(
        "smartspim_destripe",
        target,
        stages,
        document,
        created_by=created_by,
        output_dir=str(smartspim_corrected_dir(Path(rel), subfolder)),
        attempt=1 + max((r["attempt"] for r in previous), default=0),
    )


# --- before submission -----------------------------------------------------------------------------


def prepare_output(run: dict) -> None:
    """Before a processing run is submitted (a before-submit hook): its output folder (mode 2770, data group)
    and, for LaVision, a copy of its parameter document there."""
    settings = _settings()
    root = Path(settings.data_root)
    make_folders(root, [run["output_dir"]], settings.data_group)
    if run["kind"] == "lavision_pipeline":
        (root / run["output_dir"] / "params.json").write_text(json.dumps(run["params"], indent=2, sort_keys=True))
