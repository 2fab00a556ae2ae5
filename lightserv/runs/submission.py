"""Submitting runs to the cluster: the one path every run takes (processing, layer conversions, re-runs).

- `launch_runs` (lightserv.runs.tasks, queued after the commit) calls `launch`: each queued run's
  before-submit hooks (e.g. its output folder), then `submit_run`.
- `submit_run` submits the stages in order, each after the previous one's id is stored, so a worker that
  dies mid-way resumes where it stopped: a stage with a stored id is never submitted again, and a stage
  the cluster already knows by its job name (run, stage, attempt, deployment) is recorded, not resubmitted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from flask import current_app

from lightserv.common.audit import record_event, utcnow
from lightserv.db import get_schemas

from . import backend as cluster
from .backend import describe_spec, job_name, make_spec
from .engine import RunError, get_run, job_module
from .failures import fail_run
from .locks import redis_lock
from .triggers import fire_before_submit

ACTIVE = ("queued", "running")


def launch(run_ids: list[int], backend=None) -> list[int]:
    """Each queued or running run: its before-submit hooks, then `submit_run`. A run that cannot be submitted is
    failed visibly by `submit_run` and skipped. Returns the runs submitted."""
    backend = backend or cluster.get_backend()
    submitted = []
    for run_id in run_ids:
        run, _jobs = get_run(run_id)
        if run["status"] not in ACTIVE:
            continue
        fire_before_submit(run)
        try:
            submit_run(run_id, backend)
        except RunError:
            current_app.logger.warning("run %s could not be submitted", run_id)
            continue
        submitted.append(run_id)
    return submitted


SUBMIT_LOCK_SECONDS = 30  # a killed submitter holds its run's lock this long at most
SUBMIT_LOCK_WAIT = 45.0  # a second submitter waits this long for the first to finish (or its lock to lapse)


def submit_lock_key(run_id: int) -> str:
    return f"lightserv:runs:submitting:{run_id}"


def submit_run(run_id: int, backend) -> list[str]:
    """Submit every stage without a stored job id, in order, each after its dependencies. Idempotent: one
    submitter per run at a time, and a stage the cluster already knows by its job name (submitted by a
    worker that died before storing the id) is recorded instead of submitted again. On failure cancel
    what was submitted and fail the run visibly. Returns the job ids."""
    with redis_lock(submit_lock_key(run_id), SUBMIT_LOCK_SECONDS, wait=SUBMIT_LOCK_WAIT, if_unreachable=True) as held:
        if held:
            return _submit_stages(run_id, backend)
    current_app.logger.info("run %s is being submitted by another worker; it records every stage", run_id)
    return stored_ids(get_run(run_id)[1])


def stored_ids(jobs: list[dict]) -> list[str]:
    return [j["slurm_job_id"] for j in sorted(jobs, key=lambda j: j["step_index"]) if j["slurm_job_id"]]


def _submit_stages(run_id: int, backend) -> list[str]:
    run, jobs = get_run(run_id)
    ids: dict[int, str] = {j["step_index"]: j["slurm_job_id"] for j in jobs if j["slurm_job_id"]}
    waiting = [j for j in jobs if j["step_index"] not in ids]
    if not waiting or run["status"] not in ("queued", "running"):
        return stored_ids(jobs)
    settings = current_app.config["SETTINGS"]
    names = {j["step_index"]: job_name(run, j, settings) for j in waiting}
    since = (run["created_at"] - dt.timedelta(days=1)).date()  # whatever zone the cluster's clock is in
    with _failure_fails_run(run_id, backend):
        found = backend.find(list(names.values()), since)
    for job in waiting:
        deps = [ids[d] for d in job["depends_on_steps"] if d in ids]
        name = names[job["step_index"]]
        with _failure_fails_run(run_id, backend):
            spec = backend_spec(backend, job, run, deps, name, settings)
            job_id = found.get(name) or backend.submit(spec)
        record_submission(run, job, str(job_id), spec_args(spec), adopted=name in found)
        ids[job["step_index"]] = str(job_id)
    return [ids[i] for i in sorted(ids)]


@contextlib.contextmanager
def _failure_fails_run(run_id: int, backend) -> Iterator[None]:
    """An error in the block (connection, authentication, rejection, unparsable output) fails the run
    (fail_run cancels the stages already submitted: their ids are stored) and raises RunError."""
    try:
        yield
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        fail_run(run_id, f"Could not submit: {first_line}"[:512], backend=backend)
        raise RunError(f"Could not submit: {first_line}") from exc


def record_submission(run: dict, job: dict, job_id: str, sbatch_args: str, *, adopted: bool) -> None:
    """The stage's job id, its SUBMITTED history row and its event, in one transaction."""
    schemas = get_schemas()
    key = {"run_id": run["run_id"], "step_index": job["step_index"]}
    now = utcnow()
    how = "found on the cluster (submitted before a restart) as" if adopted else "submitted as"
    with schemas.connection.transaction:
        schemas.jobs.PipelineRun.SlurmJob.update1(
            {
                **key,
                "slurm_job_id": job_id,
                "state": "SUBMITTED",
                "raw_state": "SUBMITTED",
                "submitted_at": now,
                "state_changed_at": now,
                "sbatch_args": sbatch_args[:1024],
            }
        )
        schemas.jobs.SlurmJobState.insert1(
            {
                **key,
                "observed_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                "state": "SUBMITTED",
                "raw_state": "SUBMITTED",
                "exit_code": "",
                "array_done": None,
            }
        )
        record_event(
            "job.submitted",
            "job",
            key,
            f"Stage {job['step_name']} of run {run['run_id']} {how} job {job_id}",
            request_key=(run["username"], run["request_name"]),
            actor=None,
            after={"job_id": job_id, "adopted": adopted},
            dj_conn=schemas.connection,
        )


def stage_argv(job: dict, run: dict) -> list[str]:
    """The command of a stage: `python -m <module> <stage> --params <params.json>` (plus `--task-index` for
    arrays), the one calling convention of every stage program (lib.precomputed, lib.pipeline)."""
    settings = current_app.config["SETTINGS"]
    module = job_module(job, run)
    params = str(Path(settings.data_root) / run["run_dir"] / "params.json")
    return [settings.processing_python, "-m", module, job["step_name"], "--params", params]


def backend_spec(backend, job: dict, run: dict, deps: list[str], name: str, settings):
    return make_spec(
        backend, job=job, run=run, argv=stage_argv(job, run), dependencies=deps, job_name=name, settings=settings
    )


def spec_args(spec) -> str:
    return describe_spec(spec)
