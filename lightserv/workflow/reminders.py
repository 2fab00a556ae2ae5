"""The daily reminder email of a team's waiting batches, written once: at most one email per facility day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import current_app

from lightserv.common.audit import utcnow
from lightserv.common.dispatch import commit_and_send
from lightserv.common.timefmt import to_local


def send_reminder(
    find: Callable[[dt.datetime, dt.date], list[dict]], queue: Callable[[dt.date, list[dict]], int | None]
) -> int:
    """Queue `queue(today, batches)` for the batches `find(now, today)` lists, commit and send it; the number of
    batches listed (0 sends nothing). `today` is the facility's local date."""
    now = utcnow()
    today = to_local(now, current_app.config["SETTINGS"].display_timezone).date()
    batches = find(now, today)
    if not batches:
        return 0
    outbox_id = queue(today, batches)
    commit_and_send([outbox_id])
    return len(batches)
