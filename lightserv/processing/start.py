"""Start processing and start destriping with flat-field files.

Every check runs before anything is written and refuses with the message the form shows. The writes
happen in one DataJoint transaction (rows, runs and the event); the runs are submitted by a task after
the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from lib.naming import rawdata_resolution_dir
from lib.pipeline.layout import smartspim_stitched_dir
from lightserv.common.audit import record_event, utcnow
from lightserv.common.errors import DomainError
from lightserv.db import get_schemas
from lightserv.runs.tasks import launch_after_commit
from lightserv.workflow.queries import lock_rows
from schemas.enums import ATLAS_LABELS, ORIENTATION

from . import params as P
from . import pipeline

NOTES_LIMIT = 1024
FLAT_LIMIT = 64
DEFAULT_FLAT = "flat.tiff"


class StartRefused(DomainError):
    """A check failed; `message` is shown on the form, `field` names the input it is about."""

    def __init__(self, message: str, field: str = "", status: int = 409):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


@dataclass
class ResolutionChoice:
    atlas_name: str | None = None  # None: keep the stored value
    final_orientation: str | None = None


@dataclass
class StartInput:
    notes: str = ""
    choices: dict[tuple[str, int], ResolutionChoice] = field(default_factory=dict)  # (resolution, ventral_up)


def field_name(kind: str, rr: dict) -> str:
    return f"{kind}|{rr['image_resolution']}|{int(rr['ventral_up'])}"


def has_registration(channels: list[dict]) -> bool:
    return any(c["registration"] for c in channels)


def progress_refusal(progress: str) -> str:
    return (
        f"Processing is {progress} for this sample. To process again, open a new processing request from the "
        "request page."
    )


def _check_prerequisites(pkey: dict, pr: dict) -> None:
    ls = get_schemas().lightsheet
    if pr["processing_progress"] != "pending":
        raise StartRefused(progress_refusal(pr["processing_progress"]))
    skey = {k: pkey[k] for k in ("username", "request_name", "sample_name")}
    member = (ls.Request.ClearingBatchSample & skey).to_dicts()
    batch = (
        (ls.Request.ClearingBatch & {**{k: skey[k] for k in ("username", "request_name")},
                                     "clearing_batch_number": member[0]["clearing_batch_number"]}).to_dicts()
        if member else []
    )  # fmt: skip
    if not batch or batch[0]["clearing_progress"] != "complete":
        raise StartRefused("The clearing batch of this sample is not complete yet.")
    imaging = (ls.Request.ImagingRequest & {k: pkey[k] for k in pipeline.IR_KEY}).to_dicts()
    if not imaging or imaging[0]["imaging_progress"] == "pending":
        raise StartRefused("Imaging of this sample is not complete yet.")
    if imaging[0]["imaging_progress"] == "skipped":
        raise StartRefused("Imaging of this sample was skipped: there is nothing to process.")


def atlas_problem(name: str) -> str | None:
    """Why an atlas cannot be used (inactive, unknown or files missing), or None."""
    row = pipeline.atlas_row(name)
    label = ATLAS_LABELS.get(name, name)
    if row is None or not row["is_active"]:
        return f"The atlas {label} is not available."
    root = Path(current_app.config["SETTINGS"].atlas_root)
    for column in ("template_path", "annotation_path"):
        if not (root / row[column]).is_file():
            return f"The files of the atlas {label} are missing ({root / row[column]})."
    return None


def _folder_has_results(folder: Path) -> bool:
    return folder.exists() and any(folder.iterdir())


@dataclass
class _Planned:
    rr: dict
    atlas_name: str
    orientation: str
    lavision: P.LavisionPlan | None = None
    smartspim: P.SmartspimPlan | None = None


def plan_start(pkey: dict, data: StartInput) -> tuple[dict, list[_Planned]]:
    """Run every check of starting processing, in order; returns the processing request and the plans.
    Writes nothing."""
    ls = get_schemas().lightsheet
    rows = (ls.Request.ProcessingRequest & pkey).to_dicts()
    if not rows:
        raise StartRefused("This processing request does not exist.", status=404)
    pr = rows[0]
    _check_prerequisites(pkey, pr)
    if len(data.notes) > NOTES_LIMIT:
        raise StartRefused(f"Notes from processing must be at most {NOTES_LIMIT} characters.", "notes", 400)
    settings = current_app.config["SETTINGS"]
    root = Path(settings.data_root)
    planned = []
    resolutions = (ls.Request.ProcessingResolutionRequest & pkey).to_dicts(order_by=["image_resolution", "ventral_up"])
    for rr in resolutions:
        choice = data.choices.get((rr["image_resolution"], int(rr["ventral_up"])), ResolutionChoice())
        channels = pipeline.imaged_channels(rr)
        reg = has_registration(channels)
        atlas = choice.atlas_name or rr["atlas_name"]
        orientation = choice.final_orientation or rr["final_orientation"]
        item = _Planned(rr, atlas, orientation)
        if pipeline.microscope_of(rr["image_resolution"]) == "lavision":
            if reg and (problem := atlas_problem(atlas)):  # check 3
                raise StartRefused(problem, field_name("atlas", rr))
            if orientation not in ORIENTATION:
                raise StartRefused("Please choose an output orientation.", field_name("orientation", rr), 400)
            if reg and orientation != "sagittal":  # check 4
                raise StartRefused(
                    f"{rr['image_resolution']}: output orientation must be sagittal when registration is selected.",
                    field_name("orientation", rr),
                )
        planned.append(item)
    for item in planned:  # check 5: raw data folders
        rr = item.rr
        if pipeline.microscope_of(rr["image_resolution"]) == "smartspim" and pipeline.stitching_started(rr):
            continue
        raw = root / rawdata_resolution_dir(*(rr[k] for k in pipeline.IR_KEY), rr["image_resolution"],
                                            bool(rr["ventral_up"]))  # fmt: skip
        for c in pipeline.imaged_channels(rr):
            folder = raw / (c["rawdata_subfolder"] or "")
            if not c["rawdata_subfolder"] or not folder.is_dir():
                raise StartRefused(
                    f"The raw data folder of channel {c['channel_name']} at {rr['image_resolution']}"
                    f"{' (ventral up)' if c['ventral_up'] else ''} was not found: {folder}"
                )
    for item in planned:  # check 6: the output folder
        rr = item.rr
        if pipeline.microscope_of(rr["image_resolution"]) != "lavision":
            continue
        if _folder_has_results(root / pipeline.output_folder(pipeline.resolution_key(rr))):
            raise StartRefused("The output folder already contains results.")
    for item in planned:  # the parameter documents (channels must agree)
        try:
            if pipeline.microscope_of(item.rr["image_resolution"]) == "lavision":
                item.lavision = pipeline.lavision_plan_for(
                    item.rr, atlas_name=item.atlas_name, orientation=item.orientation
                )
            elif not pipeline.stitching_started(item.rr):
                item.smartspim = pipeline.smartspim_plan_for(item.rr)
        except P.ParamsError as exc:
            raise StartRefused(str(exc)) from exc
    return pr, planned


def start_processing(pkey: dict, data: StartInput, actor: str) -> list[int]:
    """Check, then mark the request and its resolutions running and create the runs, in one transaction;
    the runs are submitted after the commit. Returns the run ids."""
    pr, planned = plan_start(pkey, data)
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    now = utcnow()
    run_ids: list[int] = []
    with conn.transaction:
        locked = lock_rows(conn, ls.Request.ProcessingRequest, pkey, pipeline.PR_KEY, columns="processing_progress")
        progress = locked[0]["processing_progress"] if locked else "gone"
        if progress != "pending":
            raise StartRefused(progress_refusal(progress))
        ls.Request.ProcessingRequest.update1(
            {**pkey, "processor": actor, "started_at": now, "processing_progress": "running",
             "notes_from_processing": data.notes.strip(), "failure_summary": ""}
        )  # fmt: skip
        described = []
        for item in planned:
            rr = item.rr
            rkey = pipeline.resolution_key(rr)
            if item.lavision is not None:
                pipeline.ensure_processing_channels(rr, item.lavision.channels, started=True)
                run_ids.append(pipeline.create_lavision_run(rr, item.lavision, actor))
                out = pipeline.output_folder(rkey)
            else:
                if item.smartspim is not None:
                    pipeline.ensure_processing_channels(rr, item.smartspim.channels, started=True)
                    run_ids.append(pipeline.create_stitch_run(rr, item.smartspim, actor))
                else:  # stitching was started at imaging submission
                    plan = pipeline.smartspim_plan_for(rr)
                    pipeline.ensure_processing_channels(rr, plan.channels, started=True)
                out = str(rawdata_resolution_dir(*(rr[k] for k in pipeline.IR_KEY), rr["image_resolution"],
                                                 bool(rr["ventral_up"])))  # fmt: skip
            ls.Request.ProcessingResolutionRequest.update1(
                {**rkey, "atlas_name": item.atlas_name, "final_orientation": item.orientation,
                 "pipeline_status": "running", "output_dir": out}
            )  # fmt: skip
            described.append(
                {"image_resolution": rr["image_resolution"], "ventral_up": bool(rr["ventral_up"]),
                 "atlas_name": item.atlas_name, "final_orientation": item.orientation}
            )  # fmt: skip
        record_event(
            "processing.started",
            "processing_request",
            pkey,
            f"Processing of {pkey['sample_name']} (imaging request {pkey['imaging_request_number']}, processing "
            f"request {pkey['processing_request_number']}) started; runs {', '.join(map(str, run_ids)) or 'none'}",
            request_key=(pkey["username"], pkey["request_name"]),
            before={"processing_progress": pr["processing_progress"]},
            after={"processing_progress": "running", "processor": actor, "resolutions": described, "runs": run_ids},
            actor=actor,
            dj_conn=conn,
        )
        launch_after_commit(run_ids)  # the launch is written in this transaction (the task outbox)
    return run_ids


# --- flat-field and destriping -----------------------------------------------------


def flat_problem(name: str) -> str | None:
    if not name or len(name) > FLAT_LIMIT or "/" in name or "\\" in name or name in (".", ".."):
        return f"The flat-field file name must be a bare file name (no /) of at most {FLAT_LIMIT} characters."
    return None


def destripe_state(rkey: dict) -> dict[str, dict]:
    """channel -> its newest destripe run (if any)."""
    runs = (get_schemas().jobs.PipelineRun & rkey & {"kind": "smartspim_destripe"}).to_dicts(order_by=["run_id"])
    return {r["channel_name"]: r for r in runs}


def start_destriping(pkey: dict, rkey_part: tuple[str, int], names: dict[str, str], channels: list[str] | None,
                     actor: str) -> list[int]:  # fmt: skip
    """Set the flat-field file of the chosen channels (`channels`; None = every channel whose destriping
    has not started) and submit one `smartspim_destripe` run per channel. The actor becomes the processor if
    none is set; a pending processing request becomes running."""
    ls = get_schemas().lightsheet
    resolution, ventral_up = rkey_part
    rkey = {**pkey, "image_resolution": resolution, "ventral_up": int(ventral_up)}
    rows = (ls.Request.ProcessingResolutionRequest & rkey).to_dicts()
    if not rows or pipeline.microscope_of(resolution) != "smartspim":
        raise StartRefused("Choose a SmartSPIM resolution of this processing request.", status=400)
    rr = rows[0]
    stitch = [r for r in pipeline.stitch_runs(rr) if not r["superseded_by_run_id"]]
    if not stitch or stitch[0]["status"] != "succeeded":
        raise StartRefused(f"Stitching of {resolution} has not succeeded yet.")
    pr = (ls.Request.ProcessingRequest & pkey).to_dicts()[0]
    if pr["processing_progress"] == "complete":
        raise StartRefused(progress_refusal("complete"))
    imaged = {c["channel_name"]: c for c in pipeline.imaged_channels(rr)}
    started = {c for c, r in destripe_state(rkey).items() if r["status"] in ("queued", "running", "succeeded")}
    if channels is None:
        chosen = [c for c in imaged if c not in started]
        if not chosen:
            raise StartRefused(f"Destriping has started for every channel at {resolution}.")
    else:
        chosen = list(channels)
        for c in chosen:
            if c not in imaged:
                raise StartRefused(f"Channel {c} was not imaged at {resolution}.", status=400)
            if c in started:
                raise StartRefused(f"Destriping of channel {c} at {resolution} has already started.")
    root = Path(current_app.config["SETTINGS"].data_root)
    raw = root / rawdata_resolution_dir(*(rr[k] for k in pipeline.IR_KEY), resolution, bool(ventral_up))
    flats = {}
    for c in chosen:
        name = (names.get(c) or DEFAULT_FLAT).strip()
        if problem := flat_problem(name):
            raise StartRefused(problem, f"flat|{resolution}|{int(ventral_up)}|{c}", 400)
        folder = smartspim_stitched_dir(raw, str(imaged[c]["rawdata_subfolder"]))
        if not (folder / name).is_file():
            raise StartRefused(
                f"Flat-field file {name} was not found in {folder}.", f"flat|{resolution}|{int(ventral_up)}|{c}"
            )
        flats[c] = name
    schemas = get_schemas()
    conn = schemas.connection
    now = utcnow()
    run_ids = []
    with conn.transaction:
        plan = pipeline.smartspim_plan_for(rr)
        pipeline.ensure_processing_channels(rr, plan.channels, started=False)
        update: dict = {**pkey}
        if not pr["processor"]:
            update["processor"] = actor
        if pr["processing_progress"] == "pending":
            update.update(processing_progress="running", started_at=now)
        if len(update) > len(pkey):
            ls.Request.ProcessingRequest.update1(update)
        for c in chosen:
            ckey = {**rkey, "channel_name": c}
            current = (ls.Request.ProcessingChannel & ckey).to_dicts()[0]
            change = {**ckey, "flatfield_filename": flats[c]}
            if current["processing_started_at"] is None:
                change["processing_started_at"] = now
            ls.Request.ProcessingChannel.update1(change)
            run_ids.append(pipeline.create_destripe_run(rr, imaged[c], flats[c], actor))
        ls.Request.ProcessingResolutionRequest.update1({**rkey, "pipeline_status": "running"})
        record_event(
            "processing.flatfield_set",
            "processing_resolution_request",
            rkey,
            f"Flat-field set and destriping started for {pkey['sample_name']} {resolution}: "
            + ", ".join(f"{c} ({flats[c]})" for c in chosen),
            request_key=(pkey["username"], pkey["request_name"]),
            after={"flatfield": flats, "runs": run_ids},
            actor=actor,
            dj_conn=conn,
        )
        launch_after_commit(run_ids)  # the launch is written in this transaction (the task outbox)
    return run_ids
