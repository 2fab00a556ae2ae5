"""Celery tasks of the cluster engine. They take ids and call the engine; the state lives in the rows."""

from __future__ import annotations

from celery import shared_task

from .backend import get_backend


@shared_task(name="lightserv.runs.submit_run", soft_time_limit=600, time_limit=660, acks_late=True)
def submit_run(run_id: int) -> list[str]:
    from .engine import submit_run as submit

    return submit(run_id, get_backend())


@shared_task(name="lightserv.runs.poll_cluster", soft_time_limit=240, time_limit=280)
def poll_cluster() -> dict:
    from .poller import poll

    result = poll(get_backend())
    return {"skipped": result.skipped, "active_jobs": result.active_jobs, "scheduler_calls": result.scheduler_calls}
