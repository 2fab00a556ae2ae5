"""Emails of the cluster engine: a failed run reaches processing staff and admins
once per run, with the log tail."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from lightserv.auth.queries import list_staff_emails
from lightserv.common.dispatch import commit_and_send
from lightserv.common.urls import absolute
from lightserv.notifications.outbox import queue_email

from .model import is_terminal, state_label
from .triggers import run_hooks

LOG_TAIL_LINES = 20


def log_tail(relative: str, job_id: str | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a stage log (array task 0 and the plain job for single jobs)."""
    if not job_id:
        return ""
    root = Path(current_app.config["SETTINGS"].data_root)
    for task in ("0", "4294967294"):
        path = root / relative.replace("%A", job_id).replace("%a", task)
        if path.exists():
            text = path.read_text(errors="replace").splitlines()
            return "\n".join(text[-lines:])
    return ""


def queue_run_failed(run: dict, jobs: list[dict]) -> None:
    if run["kind"] in run_hooks().own_failure_emails and not run["failure_reason"].startswith("Could not submit"):
        return
    target = f"{run['username']}/{run['request_name']}/{run['sample_name']}"
    kind = run["kind"].replace("_", " ")
    failed = next((j for j in jobs if is_terminal(j["state"]) and j["state"] != "COMPLETED"), None)
    if run["failure_reason"].startswith("Could not submit"):
        subject = "Could not submit processing jobs"
        body = (
            f"Run {run['run_id']} ({kind}) for {target} {run['image_resolution']} could not be submitted.\n\n"
            f"Error: {run['failure_reason']}\n"
        )
    else:
        subject = f"Processing FAILED: {target} {run['image_resolution']}"
        lines = [f"Run {run['run_id']} ({kind}), attempt {run['attempt']}: {run['failure_reason']}."]
        if failed is not None:
            lines += [
                f"Stage: {failed['step_name']}; Slurm job {failed['slurm_job_id'] or '—'}; state "
                f"{state_label(failed['state'], failed['exit_code'])} ({failed['raw_state'] or failed['state']}); "
                f"exit code {failed['exit_code'] or '—'}.",
                f"Logs: {failed['stdout_path']} and {failed['stderr_path']} (under the data root).",
            ]
            tail = log_tail(failed["stderr_path"], failed["slurm_job_id"])
            if tail:
                lines += ["", "Last lines of the error log:", tail]
        run_url = absolute(f"/processing/runs/{run['run_id']}")
        lines += ["", f"Run log and re-run: {run_url}"]
        body = "\n".join(lines) + "\n"
    outbox_id = queue_email(
        "run_failed",
        f"run.failed:{run['run_id']}",
        list_staff_emails("processing_staff"),
        subject,
        body,
        request_key=(run["username"], run["request_name"]),
    )
    commit_and_send([outbox_id])
