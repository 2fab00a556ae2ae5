"""Celery tasks of the viewer. They take ids and call launch.py / cleanup.py; the state lives in the rows."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task


# The launch waits for the launcher (whose readiness probes take up to 2 x 60 s); VIEWER_LAUNCH_TIMEOUT_SECONDS
# (120) bounds it inside the task, these limits only catch a task that hangs anyway.
@shared_task(name="lightserv.viewer.launch_session", soft_time_limit=300, time_limit=330, acks_late=True)
def launch_session(session_id: str) -> str:
    from .launch import launch

    return launch(session_id)


@shared_task(name="lightserv.viewer.stop_session", soft_time_limit=120, time_limit=150, acks_late=True)
def stop_session(session_id: str, reason: str = "user") -> str:
    from .launch import stop

    return stop(session_id, reason)


@shared_task(name="lightserv.viewer.cleanup", soft_time_limit=600, time_limit=660)
def cleanup() -> dict:
    from .cleanup import cleanup as run

    return asdict(run())


@shared_task(name="lightserv.viewer.sweep", soft_time_limit=300, time_limit=330)
def sweep() -> dict:
    from .cleanup import sweep_orphans

    return asdict(sweep_orphans())
