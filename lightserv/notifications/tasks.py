"""The daily digest task (scheduled in lightserv/beat.py at DIGEST_TIME, facility time)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="lightserv.notifications.send_digests", soft_time_limit=300, time_limit=330)
def send_digests() -> int:
    from flask import current_app

    from lightserv.common.audit import utcnow

    from .digest import send_digests as send

    return send(utcnow(), current_app.config["SETTINGS"].display_timezone)
