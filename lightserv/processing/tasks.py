"""Background work of processing: the daily reminder and the retention of superseded outputs (runs are
submitted by lightserv.runs.tasks). Tasks take ids and call services; the state lives in the rows."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from flask import current_app

from lightserv.workflow.reminders import send_reminder

from . import emails, queries, triggers

READY_DAYS = 7
RUNNING_DAYS = 3


@shared_task(name="lightserv.processing.remind_waiting", soft_time_limit=120, time_limit=150)
def remind_waiting() -> int:
    """Email processing staff the requests ready for 7 days or running for 3 days; at
    most one email per facility day. Returns the number of requests listed."""
    return send_waiting_reminder()


def send_waiting_reminder() -> int:
    """The reminder of `remind_waiting`, through the staff teams' one reminder step."""

    def find(now: dt.datetime, today: dt.date) -> list[dict]:
        ready, running = queries.list_waiting(
            now - dt.timedelta(days=READY_DAYS), now - dt.timedelta(days=RUNNING_DAYS)
        )
        return ready + running

    def queue(today: dt.date, waiting: list[dict]) -> int | None:
        ready = [r for r in waiting if r["processing_progress"] == "pending"]
        return emails.queue_waiting(today, ready, [r for r in waiting if r["processing_progress"] != "pending"])

    return send_reminder(find, queue)


@shared_task(name="lightserv.processing.remove_superseded", soft_time_limit=1800, time_limit=1900)
def remove_superseded() -> int:
    """Delete superseded outputs of re-runs after SUPERSEDED_RETENTION_DAYS."""
    return triggers.remove_superseded(current_app.config["SETTINGS"].superseded_retention_days)
