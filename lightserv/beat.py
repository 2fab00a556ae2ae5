"""Every periodic task in one place, intervals from settings (README §7). Later issues add theirs."""

from __future__ import annotations

from datetime import timedelta


def beat_schedule(settings) -> dict:
    return {
        "retry-queued-emails": {
            "task": "lightserv.retry_emails",
            "schedule": timedelta(seconds=settings.email_retry_seconds),
        },
    }
