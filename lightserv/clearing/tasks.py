"""Background work of the clearing blueprint: the daily "Samples awaiting clearing" reminder."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

AWAITING_DAYS = 7


@shared_task(name="lightserv.clearing.remind_awaiting_clearing", soft_time_limit=120, time_limit=150)
def remind_awaiting_clearing() -> int:
    """Email clearing staff the pending batches whose expected hand-off passed 7 days ago. At most one email per
    facility day; returns the number of batches listed."""
    from flask import current_app

    from lightserv.common.audit import utcnow
    from lightserv.common.outbox import dispatch
    from lightserv.common.timefmt import to_local
    from lightserv.extensions import db

    from . import emails, queries

    today = to_local(utcnow(), current_app.config["SETTINGS"].display_timezone).date()
    batches = queries.list_batches_awaiting_clearing(today - dt.timedelta(days=AWAITING_DAYS))
    if not batches:
        return 0
    outbox_id = emails.queue_awaiting_clearing(today, batches)
    db.session.commit()
    dispatch([outbox_id])
    return len(batches)
