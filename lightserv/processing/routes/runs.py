"""The generic run log page (issue 6): stages with progress, states as text, log tails, cancel/re-run."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from lightserv.common.permissions import can, requires_run
from lightserv.db import get_schemas
from lightserv.runs.emails import log_tail
from lightserv.runs.engine import RunError, rerun_from_stage
from lightserv.runs.failures import cancel_run
from lightserv.runs.model import progress_text, state_label
from schemas.enums import SLURM_STATE_CLASS

from . import bp

BADGE = {
    "waiting": "text-bg-light",
    "queued": "text-bg-secondary",
    "running": "text-bg-primary",
    "succeeded": "text-bg-success",
    "failed": "text-bg-danger",
    "cancelled": "text-bg-warning",
}


@bp.route("/runs/<int:run_id>")
@requires_run("request.view")
def run_log(run):
    jobs = (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run["run_id"]}).to_dicts(order_by=["step_index"])
    staff = can(current_user, "processing.manage_runs")
    for job in jobs:
        job["label"] = state_label(job["state"], job["exit_code"])
        job["badge"] = BADGE[SLURM_STATE_CLASS.get(job["state"], "failed")]
        job["percent"] = (
            (100 * (job["array_done"] or 0) // job["array_size"])
            if job["is_array"] and job["array_size"]
            else (100 if job["state"] == "COMPLETED" else 0)
        )
        if staff:
            job["stdout_tail"] = log_tail(job["stdout_path"], job["slurm_job_id"])
            job["stderr_tail"] = log_tail(job["stderr_path"], job["slurm_job_id"])
    history = (get_schemas().jobs.SlurmJobState & {"run_id": run["run_id"]}).to_dicts(order_by=["observed_at"])
    first_unfinished = next((j["step_index"] for j in jobs if j["state"] != "COMPLETED"), len(jobs) - 1)
    return render_template(
        "processing/run_log.html",
        run=run,
        jobs=jobs,
        history=history,
        staff=staff,
        progress=progress_text(jobs),
        form=FlaskForm(),
        rerun_choices=jobs[: first_unfinished + 1],
    )


@bp.route("/runs/<int:run_id>/cancel", methods=["POST"])
@requires_run("processing.manage_runs")
def cancel(run):
    if not FlaskForm().validate_on_submit():
        abort(400, "The form could not be accepted.")
    try:
        cancel_run(run["run_id"], current_user.get_id())
    except RunError as exc:
        abort(400, str(exc))
    flash(f"Run {run['run_id']} was cancelled.", "success")
    return redirect(url_for("processing.run_log", run_id=run["run_id"]))


@bp.route("/runs/<int:run_id>/rerun", methods=["POST"])
@requires_run("processing.manage_runs")
def rerun(run):
    if not FlaskForm().validate_on_submit():
        abort(400, "The form could not be accepted.")
    try:
        stage = int(request.form.get("stage", ""))
    except ValueError:
        abort(400, "Choose a stage to re-run from.")
    try:
        new_id = rerun_from_stage(run["run_id"], stage, current_user.get_id())
    except RunError as exc:
        abort(400, str(exc))
    from lightserv.runs.tasks import submit_run

    submit_run.delay(new_id)
    flash(f"Run {new_id} (attempt {run['attempt'] + 1}) was submitted.", "success")
    return redirect(url_for("processing.run_log", run_id=new_id))
