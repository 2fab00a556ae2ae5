"""Re-run from a stage and cancel, from the processing log.

The engine makes the new attempt (`rerun_from_stage`: checks, superseded-output hooks, new run with
`attempt + 1`, `processing.rerun` event); this module adds what processing needs around it: the edited
parameter document (atlas, output orientation), per-stage memory and time overrides, the layer of a
re-run conversion, and the resolution and processing request back to `running`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from lightserv.common.dispatch import relay_pending
from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.layers.services import LAYER_KEY
from lightserv.runs.engine import RunError, get_run, rerun_from_stage
from lightserv.runs.failures import cancel_run
from lightserv.runs.tasks import launch_after_commit
from schemas.enums import ORIENTATION

from . import params as P
from . import pipeline
from .start import atlas_problem

TIME_RE = re.compile(r"^(\d+-)?\d{1,2}:\d{2}:\d{2}$")
MAX_MEM_GB = 2048


@dataclass
class RerunInput:
    from_index: int
    atlas_name: str = ""  # "" keeps the run's atlas
    final_orientation: str = ""
    overrides: dict[str, dict] = field(default_factory=dict)  # stage -> {"mem_gb": int, "time_limit": str}


def stages_to_recompute(jobs: list[dict], from_index: int) -> list[str]:
    return [j["step_name"] for j in jobs if j["step_index"] >= from_index]


def rerun_choices(jobs: list[dict]) -> list[dict]:
    """Stages a re-run may start at: any up to the first that did not complete (any, for a succeeded run)."""
    first_unfinished = next((j["step_index"] for j in jobs if j["state"] != "COMPLETED"), len(jobs) - 1)
    return jobs[: first_unfinished + 1]


def _check_edits(run: dict, jobs: list[dict], data: RerunInput) -> None:
    names = [j["step_name"] for j in jobs]
    if not 0 <= data.from_index < len(jobs):
        raise RunError("Choose a stage to re-run from.")
    start = data.from_index
    if (data.atlas_name or data.final_orientation) and run["kind"] != "lavision_pipeline":
        raise RunError("Only LaVision pipeline runs have an atlas and an output orientation.")
    doc = run["params"] or {}
    if data.atlas_name and data.atlas_name != doc.get("atlas_name"):
        if "register" not in names or start > names.index("register"):
            raise RunError("The atlas can be changed only when re-running from registration or an earlier stage.")
        if problem := atlas_problem(data.atlas_name):
            raise RunError(problem)
    if data.final_orientation:
        if data.final_orientation not in ORIENTATION:
            raise RunError("Please choose an output orientation.")
        if "downsize" in names and start > names.index("downsize"):
            raise RunError("The output orientation can be changed only when re-running from downsizing or earlier.")
        if "register" in doc.get("stages", []) and data.final_orientation != "sagittal":
            raise RunError("Output orientation must be sagittal when registration is selected.")
    for stage, values in data.overrides.items():
        if stage not in names[start:]:
            raise RunError(f"Stage {stage} is not re-run.")
        mem = values.get("mem_gb")
        if mem is not None and not (isinstance(mem, int) and 1 <= mem <= MAX_MEM_GB):
            raise RunError(f"Memory of {stage} must be a whole number of GB between 1 and {MAX_MEM_GB}.")
        limit = values.get("time_limit")
        if limit is not None and not TIME_RE.match(limit):
            raise RunError(f"Time limit of {stage} must look like HH:MM:SS or D-HH:MM:SS.")


def _edited_document(run: dict, rr: dict, data: RerunInput) -> dict | None:
    if not (data.atlas_name or data.final_orientation):
        return None
    doc = dict(run["params"])
    if data.atlas_name and data.atlas_name != doc.get("atlas_name"):
        atlas = pipeline.atlas_row(data.atlas_name)
        doc = P.with_atlas(doc, atlas, Path(current_app.config["SETTINGS"].atlas_root))
    if data.final_orientation:
        channels = pipeline.imaged_channels(rr)
        imaged = channels[0]["image_orientation"] if channels else "horizontal"
        doc["finalorientation"] = list(P.final_orientation(imaged, bool(rr["ventral_up"]), data.final_orientation))
    return doc


def rerun(run_id: int, data: RerunInput, actor: str) -> int:
    """A new attempt of a run from the chosen stage; returns its id. The new run, the edits, the layer and request
    states and the run's launch commit together (a task submits it after the commit)."""
    run, jobs = get_run(run_id)
    _check_edits(run, jobs, data)
    with get_schemas().connection.transaction:
        new_id = _write_rerun(run, data, actor)
    db.session.commit()
    relay_pending()
    return new_id


def _write_rerun(run: dict, data: RerunInput, actor: str) -> int:
    run_id = run["run_id"]
    ls = get_schemas().lightsheet
    rr = None
    if run["processing_request_number"]:
        rows = (ls.Request.ProcessingResolutionRequest & pipeline.resolution_key(run)).to_dicts()
        rr = rows[0] if rows else None
    edited = _edited_document(run, rr, data) if rr is not None else None
    new_id = rerun_from_stage(run_id, data.from_index, actor)
    schemas = get_schemas()
    new_run, new_jobs = get_run(new_id)
    if edited is not None:
        document = {**edited, "run_id": new_id, "output_dir": new_run["params"].get("output_dir"),
                    "data_root": new_run["params"].get("data_root")}  # fmt: skip
        schemas.jobs.PipelineRun.update1({"run_id": new_id, "params": document})
        folder = Path(current_app.config["SETTINGS"].data_root) / new_run["run_dir"]
        (folder / "params.json").write_text(json.dumps(document, indent=2, sort_keys=True))
        change = {"atlas_name": document.get("atlas_name", rr["atlas_name"])}
        if data.final_orientation:
            change["final_orientation"] = data.final_orientation
        ls.Request.ProcessingResolutionRequest.update1({**pipeline.resolution_key(rr), **change})
    for job in new_jobs:
        values = data.overrides.get(job["step_name"])
        if values:
            update = {k: v for k, v in values.items() if v is not None and k in ("mem_gb", "time_limit")}
            if update:
                schemas.jobs.PipelineRun.SlurmJob.update1({"run_id": new_id, "step_index": job["step_index"], **update})
    if run["kind"].startswith("precomputed_"):
        for layer in (ls.Request.DataLayer & {"run_id": run_id}).to_dicts():
            key = {k: layer[k] for k in LAYER_KEY}
            ls.Request.DataLayer.update1({**key, "run_id": new_id, "status": "converting", "failure_reason": ""})
    if run["processing_request_number"]:
        back_to_running(run)
    launch_after_commit([new_id])

    return new_id


def back_to_running(run: dict) -> None:
    ls = get_schemas().lightsheet
    pkey = pipeline.pr_key_of(run)
    rkey = pipeline.resolution_key(run)
    if ls.Request.ProcessingResolutionRequest & rkey:
        ls.Request.ProcessingResolutionRequest.update1({**rkey, "pipeline_status": "running"})
    rows = (ls.Request.ProcessingRequest & pkey).to_dicts()
    if rows and rows[0]["processing_progress"] in ("failed", "complete"):
        ls.Request.ProcessingRequest.update1({**pkey, "processing_progress": "running", "completed_at": None})


def cancel(run_id: int, actor: str) -> None:
    """Cancel a queued or running run; the failure hooks make the resolution and processing request
    `failed` with "Cancelled by <user>"."""
    cancel_run(run_id, actor)
