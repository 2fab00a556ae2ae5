"""One pipeline run: its page, cancel, re-run from a stage, stage logs.

`/processing/run/<run_id>` shows any run (conversion runs of raw data have no processing log);
`/processing/runs/<run_id>` stays as an alias because emails already sent link to it.
"""

from __future__ import annotations

from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from lightserv.common.permissions import can, requires_run
from lightserv.runs.engine import RunError, get_run
from lightserv.runs.model import state_label
from lightserv.runs.poller import unreachable_since
from schemas.enums import ATLAS_LABELS, ORIENTATION

from .. import queries, reruns
from ..pages import decorate_jobs, plain_failure
from . import bp

LOG_LINES = 200
NOT_AN_ARRAY = "4294967294"  # what Slurm substitutes for %a in a job that is not an array


def back_to(run: dict) -> str:
    """The processing log of the run's processing request, or the run page for imaging-level runs."""
    if run["processing_request_number"]:
        return url_for(
            "processing.processing_log", username=run["username"], request_name=run["request_name"],
            sample_name=run["sample_name"], imaging_request_number=run["imaging_request_number"],
            processing_request_number=run["processing_request_number"],
        )  # fmt: skip
    return url_for("processing.run_log", run_id=run["run_id"])


@bp.route("/runs/<int:run_id>")  # alias for links in emails already sent (registered second: not built)
@bp.route("/run/<int:run_id>")
@requires_run("request.view")
def run_log(run):
    jobs = queries.list_run_jobs(run["run_id"])
    staff = can(current_user, "processing.manage_runs")
    decorate_jobs(jobs, staff)
    history = queries.list_run_job_states(run["run_id"])
    return render_template(
        "processing/run_log.html",
        run=run,
        jobs=jobs,
        history=history,
        staff=staff,
        plain_failure=plain_failure(run, jobs),
        progress=queries.stage_text(jobs),
        form=FlaskForm(),
        rerun_choices=reruns.rerun_choices(jobs),
        processing_log=back_to(run) if run["processing_request_number"] else None,
        cluster_down=unreachable_since() if run["status"] in ("queued", "running") else None,
    )


@bp.route("/run/<int:run_id>/cancel", methods=["POST"])
@requires_run("processing.manage_runs")
def cancel(run):
    if not FlaskForm().validate_on_submit():
        abort(400, "The form could not be accepted.")
    try:
        reruns.cancel(run["run_id"], current_user.get_id())
    except RunError as exc:
        abort(400, str(exc))
    flash(f"Run {run['run_id']} was cancelled.", "success")
    return redirect(back_to(run), 303)


def _rerun_input(jobs: list[dict]) -> reruns.RerunInput:
    form = request.form
    try:
        index = int(form.get("stage", ""))
    except ValueError:
        abort(400, "Choose a stage to re-run from.")
    atlas = form.get("atlas_name", "")
    orientation = form.get("final_orientation", "")
    if atlas and atlas not in ATLAS_LABELS:
        abort(400, "Unknown atlas.")
    if orientation and orientation not in ORIENTATION:
        abort(400, "Unknown output orientation.")
    overrides: dict[str, dict] = {}
    for job in jobs:
        mem = form.get(f"mem|{job['step_name']}", "").strip()
        limit = form.get(f"time|{job['step_name']}", "").strip()
        values: dict = {}
        if mem:
            if not mem.isdigit():
                abort(400, f"Memory of {job['step_name']} must be a whole number of GB.")
            values["mem_gb"] = int(mem)
        if limit:
            values["time_limit"] = limit
        if values:
            overrides[job["step_name"]] = values
    return reruns.RerunInput(index, atlas, orientation, overrides)


@bp.route("/run/<int:run_id>/rerun", methods=["POST"])
@requires_run("processing.manage_runs")
def rerun(run):
    """Without `confirm=1` the page lists the stages to recompute and asks for confirmation."""
    if not FlaskForm().validate_on_submit():
        abort(400, "The form could not be accepted.")
    _run, jobs = get_run(run["run_id"])
    data = _rerun_input(jobs)
    if not 0 <= data.from_index < len(jobs):
        abort(400, "Choose a stage to re-run from.")
    if request.form.get("confirm") != "1":
        return render_template(
            "processing/rerun_confirm.html",
            run=run,
            data=data,
            stages=reruns.stages_to_recompute(jobs, data.from_index),
            form=FlaskForm(),
            atlas_labels=ATLAS_LABELS,
            back=back_to(run),
        )
    try:
        new_id = reruns.rerun(run["run_id"], data, current_user.get_id())
    except RunError as exc:
        abort(400, str(exc))
    flash(f"Run {new_id} (attempt {run['attempt'] + 1}) was submitted.", "success")
    return redirect(back_to(run), 303)


def read_tail(path: Path, lines: int = LOG_LINES) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def stage_logs(job: dict) -> list[dict]:
    """The last lines of every task's stdout and stderr of one stage."""
    if not job["slurm_job_id"]:
        return []
    root = Path(current_app.config["SETTINGS"].data_root)
    tasks = [str(i) for i in range(job["array_size"] or 0)] if job["is_array"] else [NOT_AN_ARRAY, "0"]
    found = []
    for task in tasks:
        paths = {
            kind: root / job[f"{kind}_path"].replace("%A", job["slurm_job_id"]).replace("%a", task)
            for kind in ("stdout", "stderr")
        }
        if not any(p.exists() for p in paths.values()):
            continue
        found.append(
            {
                "task": task if job["is_array"] else "",
                "stdout": read_tail(paths["stdout"]),
                "stderr": read_tail(paths["stderr"]),
                "stdout_path": str(paths["stdout"]),
                "stderr_path": str(paths["stderr"]),
            }
        )
        if not job["is_array"]:
            break
    return found


@bp.route("/run/<int:run_id>/logs/<int:step_index>")
@requires_run("processing.manage_runs")
def stage_log(run, step_index: int):
    job = queries.get_run_job(run["run_id"], step_index)
    if job is None:
        abort(404)
    return render_template(
        "processing/stage_log.html", run=run, job=job, logs=stage_logs(job), lines=LOG_LINES, back=back_to(run),
        label=state_label(job["state"], job["exit_code"]),
    )  # fmt: skip
