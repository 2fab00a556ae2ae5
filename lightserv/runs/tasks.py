"""Celery tasks of the cluster engine. They take ids and call the engine; the state lives in the rows."""

from __future__ import annotations

from celery import shared_task

from lightserv.common import dispatch

from . import backend as cluster
from . import emails, engine, poller, submission

#: a folder that cannot be made yet (storage blip) retries the launch; submission failures fail the run instead
LAUNCH = dict(autoretry_for=(OSError,), retry_backoff=True, max_retries=3, soft_time_limit=600, time_limit=660,
              acks_late=True)  # fmt: skip


@shared_task(name="lightserv.runs.launch_runs", **LAUNCH)
def launch_runs(run_ids: list[int]) -> list[int]:
    """Before-submit hooks (output folders, params.json) and submission of created runs of any kind."""
    return submission.launch([int(r) for r in run_ids], cluster.get_backend())


def launch_after_commit(run_ids: list[int]) -> None:
    """Queue the launch of runs whose rows are committed: the one way a run reaches the cluster."""
    if run_ids:
        dispatch.enqueue(launch_runs.name, list(run_ids), key="launch:" + ",".join(map(str, run_ids)),
                         what="Submitting runs to the cluster", committed=True)  # fmt: skip


# The task names of earlier releases: messages queued before an upgrade still launch their runs.
@shared_task(name="lightserv.runs.submit_run", **LAUNCH)
def earlier_submit_run(run_id: int) -> list[int]:
    return submission.launch([int(run_id)], cluster.get_backend())


@shared_task(name="lightserv.processing.launch_runs", **LAUNCH)
def earlier_launch_runs(run_ids: list[int]) -> list[int]:
    return submission.launch([int(r) for r in run_ids], cluster.get_backend())


@shared_task(name="lightserv.runs.poll_cluster", soft_time_limit=240, time_limit=280)
def poll_cluster() -> dict:
    result = poller.poll(cluster.get_backend())
    return {"skipped": result.skipped, "active_jobs": result.active_jobs, "scheduler_calls": result.scheduler_calls}


@shared_task(name="lightserv.runs.email_run_failed", soft_time_limit=120, time_limit=150)
def email_run_failed(run_id: int) -> None:
    """The staff email of a failed run, written in the transaction that failed it; queued at most once (the
    poller usually queued it already, and the email's key is the run's)."""
    run, jobs = engine.get_run(run_id)
    emails.queue_run_failed(run, jobs)
