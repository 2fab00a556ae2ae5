"""Running a demo request's cluster work to the end inside the seed command, as the worker and the beat
poller would (and as tests/processing/test_end_to_end.py drives it): submit the runs that services created,
poll the back end, submit the conversion runs the stage hooks create, until nothing of the request is
queued or running.

The services also queued their usual Celery message (`launch_runs`). A worker that takes it later finds
the stages submitted (or the runs finished) and does nothing (runs/submission.py).
"""

from __future__ import annotations

import time

from lightserv.db import get_schemas
from lightserv.runs.poller import poll
from lightserv.runs.submission import launch

ACTIVE = "status IN ('queued', 'running')"


class DemoError(RuntimeError):
    """The demo could not be built; the message says what to look at."""


def submit_waiting_runs(backend, key: dict) -> list[int]:
    """Submit every queued run of `key` that has a stage without a scheduler id; returns their ids. A run
    that cannot be submitted is failed visibly by the engine."""
    jobs = get_schemas().jobs
    submitted = []
    for run in (jobs.PipelineRun & key & {"status": "queued"}).to_dicts(order_by=["run_id"]):
        if not (jobs.PipelineRun.SlurmJob & {"run_id": run["run_id"]} & "slurm_job_id IS NULL"):
            continue
        launch([run["run_id"]], backend)
        submitted.append(run["run_id"])
    return submitted


def settled(key: dict) -> bool:
    schemas = get_schemas()
    running = schemas.lightsheet.Request.ProcessingRequest & key & {"processing_progress": "running"}
    return not (schemas.jobs.PipelineRun & key & ACTIVE) and not running


def run_until_settled(backend, key: dict, timeout: float = 900.0, interval: float = 0.5) -> None:
    """Drive the runs of `key` (a request, or a narrower key) until none is queued or running and no
    processing request of it is still running."""
    deadline = time.monotonic() + timeout
    while True:
        submit_waiting_runs(backend, key)
        poll(backend)
        if settled(key):
            return
        if time.monotonic() > deadline:
            active = (get_schemas().jobs.PipelineRun & key & ACTIVE).to_dicts(order_by=["run_id"])
            described = ", ".join(f"run {r['run_id']} ({r['kind']}, {r['status']})" for r in active) or "none"
            raise DemoError(f"the cluster work of {key} did not finish in {timeout:.0f} s; active runs: {described}")
        time.sleep(interval)
