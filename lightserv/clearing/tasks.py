"""Background work of the clearing blueprint: the daily "Samples awaiting clearing" reminder."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

AWAITING_DAYS = 7


@shared_task(name="lightserv.clearing.remind_awaiting_clearing", soft_time_limit=120, time_limit=150)
def remind_awaiting_clearing() -> int:
    """Email clearing staff the pending batches whose expected hand-off passed 7 days ago. At most one email per
    facility day; returns the number of batches listed."""
    from lightserv.workflow.reminders import send_reminder

    from . import emails, queries

    def find(now: dt.datetime, today: dt.date) -> list[dict]:
        return queries.list_batches_awaiting_clearing(today - dt.timedelta(days=AWAITING_DAYS))

    return send_reminder(find, emails.queue_awaiting_clearing)
