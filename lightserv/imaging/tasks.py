"""Background work of the imaging blueprint: raw-data validation of a submitted sample (imaging.md §7)."""

from __future__ import annotations

import time

from celery import shared_task

PROGRESS_SECONDS = 2.0


@shared_task(name="lightserv.imaging.validate_sample", soft_time_limit=3000, time_limit=3300)
def validate_sample(member: dict, actor: str) -> int:
    """Validate one submitted sample on disk; on success complete it and start its raw conversions.
    Progress text is kept on the imaging request while it runs. Returns the number of problems."""
    return run_validation(member, actor)


def run_validation(member: dict, actor: str) -> int:
    from lightserv.db import get_schemas

    from . import sample_services, triggers

    ls = get_schemas().lightsheet
    last = [0.0]

    def progress(text: str) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_SECONDS:
            last[0] = now
            ls.Request.ImagingRequest.update1({**member, "validation_messages": [text]})

    messages = sample_services.validate_sample(member, actor, progress)
    if not messages:
        triggers.start_raw_conversions(member, created_by=actor)
    return len(messages)


@shared_task(name="lightserv.imaging.remind_waiting_imaging", soft_time_limit=120, time_limit=150)
def remind_waiting_imaging() -> int:
    """Email imaging staff the batches ready (clearing complete) for 7 days and not started (imaging.md
    §11). At most one email per facility day; returns the number of batches listed."""
    return send_waiting_reminder()


def send_waiting_reminder() -> int:
    import datetime as dt

    from flask import current_app

    from lightserv.common.audit import utcnow
    from lightserv.common.outbox import dispatch
    from lightserv.common.timefmt import to_local
    from lightserv.extensions import db

    from . import emails, queries

    now = utcnow()
    today = to_local(now, current_app.config["SETTINGS"].display_timezone).date()
    batches = queries.list_batches_waiting_for_imaging(now - dt.timedelta(days=WAITING_DAYS))
    if not batches:
        return 0
    outbox_id = emails.queue_waiting_imaging(today, batches)
    db.session.commit()
    dispatch([outbox_id])
    return len(batches)


WAITING_DAYS = 7
