"""Emails when the raw layers of an imaging request settle.

- Every used light sheet of every single-tile LaVision channel of a sample's imaging request has a ready
  raw layer: the requester is told once ("Raw data ready to view").
- A raw conversion failed: processing staff and admins get the details, the requester a plain notice;
  both once per imaging request (the outbox's dedupe keys make "once" hold across workers and retries).

Hooks run after `lightserv.layers.services.mark_ready` / `mark_failed` (create_app adds them in that order).
"""

from __future__ import annotations

from lib.naming import layer_name
from lib.rawdata.validate import MICROSCOPE_OF_RESOLUTION
from lightserv.auth.queries import list_staff_emails
from lightserv.common.dispatch import commit_and_send
from lightserv.db import get_schemas
from lightserv.notifications.outbox import queue_email
from lightserv.requests.emails import absolute, overview_url
from lightserv.requests.recipients import requester_addresses
from lightserv.runs.engine import get_run
from lightserv.runs.model import state_label
from lightserv.runs.triggers import RunHooks

KIND = "precomputed_raw"
IMAGING_KEY = ("username", "request_name", "sample_name", "imaging_request_number")


def _imaging_key(run: dict) -> dict:
    return {k: run[k] for k in IMAGING_KEY}


def _stem(key: dict) -> str:
    return f"{key['username']}/{key['request_name']}/{key['sample_name']}/{key['imaging_request_number']}"


def expected_raw_layers(key: dict) -> dict[str, str]:
    """Layer name -> words, of the layers a sample's imaging request should end with: one per used sheet of each
    single-tile LaVision channel (dorsal and ventral-up), e.g. "raw_ch488_left" -> "488 nm, left sheet"."""
    ls = get_schemas().lightsheet
    rows = (ls.Request.ImagingChannel & key).to_dicts()
    names = {}
    for row in rows:
        if MICROSCOPE_OF_RESOLUTION.get(row["image_resolution"]) != "lavision" or row["tiling_scheme"] != "1x1":
            continue
        for sheet in ("left", "right"):
            if row[f"{sheet}_lightsheet_used"]:
                name = layer_name("raw", row["channel_name"], lightsheet=sheet, ventral_up=bool(row["ventral_up"]))
                side = ", ventral up" if row["ventral_up"] else ""
                names[name] = f"{row['channel_name']} nm, {sheet} sheet{side}"
    return names


def raw_ready(run: dict) -> None:
    key = _imaging_key(run)
    ls = get_schemas().lightsheet
    layers = (ls.Request.DataLayer & key & {"product": "raw"}).to_dicts()
    ready = {r["layer_name"] for r in layers if r["status"] == "ready"}
    expected = expected_raw_layers(key)
    if not expected or not set(expected) <= ready:
        return
    owner, name, sample = key["username"], key["request_name"], key["sample_name"]
    number = key["imaging_request_number"]
    setup = absolute(f"/viewer/setup/raw/{owner}/{name}/{sample}/{number}")
    outbox_id = queue_email(
        "raw_data_ready",
        f"imaging.raw_ready:{_stem(key)}",
        requester_addresses(owner, name),
        f"Raw data ready to view: {name} / {sample}",
        f"The raw data of sample {sample} (request {name}, imaging request {number}) can now be viewed in "
        f"Neuroglancer: {'; '.join(expected[n] for n in sorted(expected))}.\n\nOpen the viewer: {setup}\n"
        f"Request overview: {overview_url(owner, name)}\n",
        request_key=(owner, name),
    )
    commit_and_send([outbox_id])


def raw_failed(run: dict) -> None:
    """Staff: imaging request, channel, sheet, run id, Slurm job ids and states, exit code, log paths."""
    key = _imaging_key(run)
    owner, name, sample = key["username"], key["request_name"], key["sample_name"]
    number = key["imaging_request_number"]
    _, jobs = get_run(run["run_id"])
    reason = run.get("failure_reason") or "the conversion failed"
    lines = [
        f"The raw-data conversion of {owner}/{name}/{sample}, imaging request {number}, failed.",
        f"Resolution {run['image_resolution']}{' (ventral up)' if run.get('ventral_up') else ''}, channel "
        f"{run['channel_name']}, light sheet {run['lightsheet']}; run {run['run_id']} (attempt {run['attempt']}).",
        f"Reason: {reason}.",
        "",
        "Stages:",
    ]
    for job in jobs:
        lines.append(
            f"- {job['step_name']}: Slurm job {job['slurm_job_id'] or '—'}, "
            f"{state_label(job['state'], job['exit_code'])} ({job['raw_state'] or job['state']}), "
            f"exit code {job['exit_code'] or '—'}; logs {job['stdout_path']} and {job['stderr_path']}"
        )
    run_url = absolute(f"/processing/runs/{run['run_id']}")
    lines += ["", f"Run log and re-run: {run_url}"]
    ids = [
        queue_email(
            "raw_conversion_failed",
            f"imaging.raw_failed:{_stem(key)}:staff",
            list_staff_emails("processing_staff"),
            f"Raw data conversion FAILED: {owner}/{name}/{sample}",
            "\n".join(lines) + "\n",
            request_key=(owner, name),
        ),
        queue_email(
            "raw_conversion_problem",
            f"imaging.raw_failed:{_stem(key)}:requester",
            requester_addresses(owner, name),
            "Problem preparing your raw-data view",
            f"Preparing the raw-data view of sample {sample} (request {name}) ran into a problem. Your raw data "
            "are safe on storage; the facility has been told and is working on it. You will get an email when "
            f"the view is ready.\n\nRequest overview: {overview_url(owner, name)}\n",
            request_key=(owner, name),
        ),
    ]
    commit_and_send(ids)


def register_hooks(hooks: RunHooks) -> None:
    """Added after the layer's own hooks (`register_run_hooks`), so these see the layer's new status."""
    hooks.on_run_success(KIND, raw_ready)
    hooks.on_run_failure(KIND, raw_failed)
    hooks.sends_own_failure_emails(KIND)
