"""Failing and cancelling runs (processing.md §9.1, §9.3): the rest of the run is cancelled on the cluster,
the run is marked, hooks update what depends on it, and people are emailed once per run."""

from __future__ import annotations

from flask import current_app

from lightserv.common.audit import record_event, utcnow
from lightserv.db import get_schemas
from lightserv.extensions import db

from .model import is_terminal


def _cancel_remaining(run_id: int, jobs: list[dict], backend=None) -> None:
    from .backend import get_backend

    open_ids = [j["slurm_job_id"] for j in jobs if j["slurm_job_id"] and not is_terminal(j["state"])]
    if open_ids:
        try:
            (backend or get_backend()).cancel(open_ids)
        except Exception:  # noqa: BLE001 - the poller sees them end; the run is failed regardless
            current_app.logger.exception("could not cancel the remaining jobs of run %s", run_id)
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


def fail_run(run_id: int, reason: str, *, backend=None) -> None:
    """Mark a run failed (once), cancel its remaining jobs, run the failure hooks, email people."""
    from .engine import get_run
    from .triggers import fire_failure_hooks

    run, jobs = get_run(run_id)
    if run["status"] in ("failed", "cancelled", "succeeded"):
        return
    _cancel_remaining(run_id, jobs, backend)
    get_schemas().jobs.PipelineRun.update1(
        {"run_id": run_id, "status": "failed", "failure_reason": reason[:512], "finished_at": utcnow()}
    )
    record_event(
        "run.finished",
        "run",
        {"run_id": run_id},
        f"Run {run_id} failed: {reason}",
        actor=None,
        request_key=(run["username"], run["request_name"]),
        after={"status": "failed", "reason": reason},
    )
    db.session.commit()
    fire_failure_hooks({**run, "status": "failed", "failure_reason": reason})
    from .emails import queue_run_failed

    queue_run_failed({**run, "failure_reason": reason}, jobs)


def cancel_run(run_id: int, actor: str, backend=None) -> None:
    """Staff cancel: every non-terminal job is cancelled; the run becomes `cancelled` (processing.md §9.3)."""
    from .engine import RunError, get_run
    from .triggers import fire_failure_hooks

    run, jobs = get_run(run_id)
    if run["status"] not in ("queued", "running"):
        raise RunError("Only a queued or running run can be cancelled.")
    _cancel_remaining(run_id, jobs, backend)
    get_schemas().jobs.PipelineRun.update1(
        {
            "run_id": run_id,
            "status": "cancelled",
            "cancelled_by": actor,
            "failure_reason": f"Cancelled by {actor}",
            "finished_at": utcnow(),
        }
    )
    record_event(
        "processing.cancelled",
        "run",
        {"run_id": run_id},
        f"Run {run_id} cancelled by {actor}",
        actor=actor,
        request_key=(run["username"], run["request_name"]),
        after={"status": "cancelled"},
    )
    db.session.commit()
    fire_failure_hooks({**run, "status": "cancelled", "failure_reason": f"Cancelled by {actor}"})
