"""Derived states of processing, kept in the rows the queue and pages read.

- A **resolution request** (`pipeline_status`) is `complete` when its processing run(s) succeeded and
  every expected layer is `ready`; `failed` when the latest attempt of a run, or an expected layer, failed
  and nothing is still running; otherwise `running` (`not_started` before any run exists).
- A **processing request** is `complete` when every resolution request is (sets `completed_at`, emails
  the requester once); `failed` when one failed and none is running (sets `failure_summary`, emails the
  requester once per failure, unless staff cancelled the run); otherwise `running`. A `pending` request is
  never moved by a run started before "Start processing" (SmartSPIM auto-stitching).
"""

from __future__ import annotations

from dataclasses import dataclass

from lightserv.common.audit import record_event, utcnow
from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.runs.failures import describe_failure

from . import emails
from .pipeline import ACTIVE_RUN, PR_KEY, microscope_of, pr_key_of, resolution_key, stitch_runs


@dataclass(frozen=True)
class ResolutionState:
    status: str  # pipeline_status
    summary: str  # plain-language reason when failed
    failed_run_id: int | None = None
    cancelled: bool = False  # staff stopped the run: nothing went wrong that the requester must hear about


def expected_layers(rr: dict, run: dict | None = None) -> list[dict]:
    """Keys (channel_name, product, lightsheet) of the layers a resolution request must end with."""
    ls = get_schemas().lightsheet
    channels = (ls.Request.ProcessingChannel & resolution_key(rr)).to_dicts(order_by=["channel_name"])
    if microscope_of(rr["image_resolution"]) == "smartspim":
        return [{"channel_name": c["channel_name"], "product": "corrected", "lightsheet": "none"} for c in channels]
    if run is None:
        return []
    doc = run["params"] or {}
    stages = doc.get("stages", [])
    sheets = [s for s in ("left", "right") if (doc.get("lightsheets") or {}).get(s)]
    out = []
    for c in channels:
        name = c["channel_name"]
        out += [{"channel_name": name, "product": p, "lightsheet": "none"} for p in ("blended", "downsized")]
        if doc.get("tiling_scheme", "1x1") != "1x1":
            out += [{"channel_name": name, "product": "stitched", "lightsheet": s} for s in sheets]
        if "register" in stages:
            out.append({"channel_name": name, "product": "registered", "lightsheet": "none"})
        if "detect" in stages and c["channel_role"] == "cellch":
            out += [{"channel_name": name, "product": p, "lightsheet": "none"} for p in ("cells", "cells_registered")]
    return out


def _latest(runs: list[dict]) -> dict | None:
    live = [r for r in runs if not r["superseded_by_run_id"]]
    return max(live or runs, key=lambda r: r["run_id"]) if runs else None


def run_summary(run: dict) -> str:
    """What went wrong in words ("Registration step ran out of memory"), never scheduler details."""
    jobs = (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run["run_id"]}).to_dicts(order_by=["step_index"])
    text = describe_failure(run, jobs)
    return text[0].upper() + text[1:]


def resolution_state(rr: dict) -> ResolutionState:
    schemas = get_schemas()
    jobs, ls = schemas.jobs, schemas.lightsheet
    rkey = resolution_key(rr)
    layers = {(r["channel_name"], r["product"], r["lightsheet"]): r for r in (ls.Request.DataLayer & rkey).to_dicts()}
    prefix = f"{rr['image_resolution']}{' ventral up' if rr['ventral_up'] else ''}: "
    if microscope_of(rr["image_resolution"]) == "smartspim":
        stitch = _latest(stitch_runs(rr))
        destripes: dict[str, dict] = {}
        for r in (jobs.PipelineRun & rkey & {"kind": "smartspim_destripe"}).to_dicts(order_by=["run_id"]):
            destripes[r["channel_name"]] = r  # the newest per channel
        main = [r for r in [stitch, *destripes.values()] if r is not None]
        expected = expected_layers(rr)
        if stitch is None:
            return ResolutionState("not_started", "")
    else:
        runs = (jobs.PipelineRun & rkey & {"kind": "lavision_pipeline"}).to_dicts()
        latest = _latest(runs)
        if latest is None:
            return ResolutionState("not_started", "")
        main = [latest]
        expected = expected_layers(rr, latest)
    found = [layers.get((e["channel_name"], e["product"], e["lightsheet"])) for e in expected]
    running = any(r["status"] in ACTIVE_RUN for r in main) or any(
        f is not None and f["status"] == "converting" for f in found
    )
    failed_runs = [r for r in main if r["status"] in ("failed", "cancelled")]
    failed_layers = [f for f in found if f is not None and f["status"] == "failed"]
    if running:
        return ResolutionState("running", "")
    if failed_runs:
        run = failed_runs[0]
        return ResolutionState("failed", prefix + run_summary(run), run["run_id"], run["status"] == "cancelled")
    if failed_layers:
        layer = failed_layers[0]
        return ResolutionState(
            "failed", prefix + f"The viewer layer of channel {layer['channel_name']} could not be prepared",
            layer["run_id"],
        )
    done = all(r["status"] == "succeeded" for r in main) and all(
        f is not None and f["status"] == "ready" for f in found
    )
    if microscope_of(rr["image_resolution"]) == "smartspim":
        done = done and bool(expected) and len(destripes) == len(expected)
    return ResolutionState("complete" if done else "running", "")


def refresh(pkey: dict) -> str:
    """Recompute every resolution request of a processing request and the request itself; act on a
    change (completed_at, failure_summary, emails). Returns the processing progress."""
    ls = get_schemas().lightsheet
    pkey = pr_key_of(pkey)
    rows = (ls.Request.ProcessingRequest & pkey).to_dicts()
    if not rows:
        return ""
    pr = rows[0]
    states = {}
    for rr in (ls.Request.ProcessingResolutionRequest & pkey).to_dicts(order_by=["image_resolution", "ventral_up"]):
        state = resolution_state(rr)
        states[(rr["image_resolution"], rr["ventral_up"])] = state
        if state.status != rr["pipeline_status"] and not (state.status == "not_started"):
            ls.Request.ProcessingResolutionRequest.update1({**resolution_key(rr), "pipeline_status": state.status})
        if state.status == "complete" and rr["pipeline_status"] != "complete":
            now = utcnow()
            for c in (ls.Request.ProcessingChannel & resolution_key(rr)).to_dicts():
                if c["processing_completed_at"] is None:
                    ls.Request.ProcessingChannel.update1(
                        {**resolution_key(rr), "channel_name": c["channel_name"], "processing_completed_at": now}
                    )
    if pr["processing_progress"] == "pending" or not states:
        return pr["processing_progress"]
    values = [s.status for s in states.values()]
    if all(v == "complete" for v in values):
        progress = "complete"
    elif any(v == "failed" for v in values) and not any(v == "running" for v in values):
        progress = "failed"
    else:
        progress = "running"
    if progress == pr["processing_progress"]:
        return progress
    update: dict = {**pkey, "processing_progress": progress}
    summary = ""
    if progress == "complete":
        update["completed_at"] = utcnow()
        update["failure_summary"] = ""
    elif progress == "failed":
        summary = "; ".join(s.summary for s in states.values() if s.status == "failed")[:1024]
        update["failure_summary"] = summary
    ls.Request.ProcessingRequest.update1(update)
    if progress in ("complete", "failed"):
        record_event(
            "processing.completed" if progress == "complete" else "processing.failed",
            "processing_request",
            pkey,
            f"Processing request {pkey['processing_request_number']} of {pkey['sample_name']} is {progress}"
            + (f": {summary}" if summary else ""),
            actor=None,
            request_key=(pkey["username"], pkey["request_name"]),
            before={"processing_progress": pr["processing_progress"]},
            after={"processing_progress": progress},
        )
    db.session.commit()
    if progress == "complete":
        emails.send_complete(pkey)
    elif progress == "failed" and any(s.status == "failed" and not s.cancelled for s in states.values()):
        failed_ids = [s.failed_run_id for s in states.values() if s.status == "failed"]
        emails.send_failed(pkey, summary, failed_ids)
    return progress


def refresh_run(run: dict) -> None:
    """Refresh the processing request a run belongs to (imaging-level runs have none)."""
    if run["kind"] == "smartspim_stitch":
        refresh_stitching(run)
    elif run.get("processing_request_number"):
        refresh({k: run[k] for k in PR_KEY})


def refresh_stitching(run: dict) -> None:
    """A stitching run is shared by every processing request of its imaging request: refresh them all."""
    ls = get_schemas().lightsheet
    key = {k: run[k] for k in PR_KEY[:4]}
    for pr in (ls.Request.ProcessingRequest & key).to_dicts():
        refresh(pr_key_of(pr))
