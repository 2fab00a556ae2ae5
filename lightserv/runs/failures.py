"""Failing and cancelling runs: the rest of the run is cancelled on the cluster, the run is marked, hooks
update what depends on it, and people are emailed once per run. `describe_failure` says what went wrong in
words a researcher reads (no job ids, scheduler states, exit codes or module names: those are for staff)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from flask import current_app

from lightserv.common.audit import record_event, utcnow
from lightserv.common.dispatch import enqueue, relay_pending
from lightserv.db import get_schemas
from lightserv.extensions import db

from . import backend as cluster
from . import faults
from .emails import queue_run_failed
from .engine import RunError, get_run
from .locks import lock_run
from .model import is_terminal
from .triggers import fire_failure_hooks, run_hooks

#: what a scheduler state means for the step that ended in it
_STATE_WORDS = {
    "TIMEOUT": "the {step} step ran out of time",
    "OUT_OF_MEMORY": "the {step} step ran out of memory",
    "NODE_FAIL": "a cluster computer broke down during the {step} step",
    "BOOT_FAIL": "a cluster computer broke down during the {step} step",
    "DEADLINE": "the cluster stopped the {step} step",
    "PREEMPTED": "the cluster stopped the {step} step",
    "REVOKED": "the cluster stopped the {step} step",
    "CANCELLED": "the {step} step was stopped on the cluster",
    "UNKNOWN": "the cluster lost track of the {step} step",
}
#: the one-sentence error a pipeline stage prints on stderr before exiting with status 2
_STAGE_ERROR = re.compile(r": error: (.+)$")
_RAW_PLANE = re.compile(r"Z(\d{4})_UltraII Filter(\d{4})")
_PATH = re.compile(r"(?:/[^/\s:]+)+/?")


def step_words(step_name: str) -> str:
    """ "registration" for `register`: the stage's name in words."""
    return run_hooks().stage_labels.get(step_name, step_name.replace("_", " "))


def stage_error(job: dict) -> str:
    """The stage's own error sentence from its stderr (any array task), or ""."""
    if not job.get("slurm_job_id") or not job.get("stderr_path"):
        return ""
    root = Path(current_app.config["SETTINGS"].data_root)
    pattern = job["stderr_path"].replace("%A", job["slurm_job_id"]).replace("%a", "*")
    for path in sorted(root.glob(pattern)):
        for line in reversed(path.read_text(errors="replace").splitlines()[-50:]):
            found = _STAGE_ERROR.search(line)
            if found:
                return found.group(1).strip()
    return ""


def _channel_of_filter(run: dict, filter_index: int) -> str:
    keys = ("username", "request_name", "sample_name", "imaging_request_number", "image_resolution", "ventral_up")
    rows = (
        get_schemas().lightsheet.Request.ImagingChannel
        & {k: run[k] for k in keys if k in run}
        & {"imspector_channel_index": filter_index}
    ).to_dicts()
    return str(rows[0]["channel_name"]) if rows else ""


def _plain_error(run: dict, sentence: str) -> str:
    """A stage's error sentence without file paths; a damaged raw plane is named by plane and channel."""
    plane = _RAW_PLANE.search(sentence)
    if plane and ("cannot read" in sentence or "single-plane" in sentence or "single plane" in sentence):
        channel = _channel_of_filter(run, int(plane.group(2))) or run.get("channel_name") or ""
        return f"raw plane Z{plane.group(1)}" + (f" of channel {channel}" if channel else "") + " is damaged"
    return _PATH.sub(lambda m: Path(m.group(0).rstrip("/")).name or m.group(0), sentence)


def describe_failure(run: dict, jobs: list[dict]) -> str:
    """What went wrong in a run, in words: "the registration step ran out of memory", "raw plane Z0012 of
    channel 488 is damaged". A staff cancel and a failed submission have their own sentences."""
    if run.get("status") == "cancelled":
        return "the facility stopped this run"
    reason = run.get("failure_reason") or ""
    if reason.startswith("Could not submit"):
        return "the work could not be handed to the cluster"
    ended = [j for j in jobs if is_terminal(j["state"]) and j["state"] != "COMPLETED"]
    failed = next((j for j in ended if j["raw_state"] != "never submitted"), None)
    if failed is None:
        return "the work stopped before it finished"
    step = step_words(failed["step_name"])
    if failed["state"] in _STATE_WORDS:
        return _STATE_WORDS[failed["state"]].format(step=step)
    sentence = stage_error(failed)
    if sentence:
        return f"the {step} step stopped: {_plain_error(run, sentence)}"
    return f"the {step} step stopped with an error"


def _cancel_on_cluster(run_id: int, jobs: list[dict], backend=None) -> None:
    """Cancel the run's submitted jobs that have not ended (again after a restart: cancelling twice is harmless)."""
    open_ids = [j["slurm_job_id"] for j in jobs if j["slurm_job_id"] and not is_terminal(j["state"])]
    if open_ids:
        try:
            (backend or cluster.get_backend()).cancel(open_ids)
        except Exception:  # noqa: BLE001 - the poller sees them end; the run is failed regardless
            current_app.logger.exception("could not cancel the remaining jobs of run %s", run_id)


def _mark_never_submitted(run_id: int, jobs: list[dict]) -> None:
    jobs_table = get_schemas().jobs.PipelineRun.SlurmJob
    for j in jobs:
        if not j["slurm_job_id"] and j["state"] == "NOT_SUBMITTED":
            jobs_table.update1(
                {
                    "run_id": run_id,
                    "step_index": j["step_index"],
                    "state": "CANCELLED",
                    "raw_state": "never submitted",
                    "state_changed_at": utcnow(),
                }
            )


def write_end(run: dict, values: dict, action: str, summary: str, *, after: dict, actor: str | None = None) -> None:
    """A run's final status (`values`, with `finished_at`) and its event, in the open DataJoint transaction."""
    schemas = get_schemas()
    schemas.jobs.PipelineRun.update1({"run_id": run["run_id"], **values, "finished_at": utcnow()})
    record_event(action, "run", {"run_id": run["run_id"]}, summary, actor=actor, after=after,
                 request_key=(run["username"], run["request_name"]), dj_conn=schemas.connection)  # fmt: skip


def fail_run(run_id: int, reason: str, *, backend=None) -> None:
    """Mark a run failed (once), cancel its remaining jobs, run the failure hooks, email people."""
    run, jobs = get_run(run_id)
    if run["status"] in ("failed", "cancelled", "succeeded"):
        return
    _cancel_on_cluster(run_id, jobs, backend)
    faults.crash_point("jobs_cancelled")
    conn = get_schemas().connection
    # the status, its event, the jobs never submitted, the staff email's task and what the failure hooks write
    # commit together under the run's row lock: a settler killed before the commit leaves the run to the next
    # one, and one killed after it loses no email (the relay hands the task over; the email's key keeps it to one)
    with contextlib.nullcontext() if conn.in_transaction else conn.transaction:
        if lock_run(run_id)["status"] not in ("queued", "running"):
            return
        _mark_never_submitted(run_id, jobs)
        write_end(run, {"status": "failed", "failure_reason": reason[:512]}, "run.finished",
                  f"Run {run_id} failed: {reason}", after={"status": "failed", "reason": reason})  # fmt: skip
        enqueue("lightserv.runs.email_run_failed", run_id, key=f"run.failed:{run_id}", what="The failed run's email")
        fire_failure_hooks({**run, "status": "failed", "failure_reason": reason})
        faults.crash_point("run_failed")
    db.session.commit()
    faults.crash_point("failure_committed")
    queue_run_failed({**run, "failure_reason": reason}, jobs)


def cancel_run(run_id: int, actor: str, backend=None) -> None:
    """Staff cancel: every non-terminal job is cancelled; the run becomes `cancelled` (with its failure hooks,
    in one transaction)."""
    run, jobs = get_run(run_id)
    if run["status"] not in ("queued", "running"):
        raise RunError("Only a queued or running run can be cancelled.")
    _cancel_on_cluster(run_id, jobs, backend)
    conn = get_schemas().connection
    with conn.transaction:
        if lock_run(run_id)["status"] not in ("queued", "running"):
            raise RunError("Only a queued or running run can be cancelled.")
        _mark_never_submitted(run_id, jobs)
        values = {"status": "cancelled", "cancelled_by": actor, "failure_reason": f"Cancelled by {actor}"}
        write_end(run, values, "processing.cancelled", f"Run {run_id} cancelled by {actor}",
                  after={"status": "cancelled"}, actor=actor)  # fmt: skip
        fire_failure_hooks({**run, "status": "cancelled", "failure_reason": f"Cancelled by {actor}"})
    db.session.commit()
    relay_pending()
