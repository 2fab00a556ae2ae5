"""Every periodic task in one place, intervals from settings. Later issues add theirs."""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab


def beat_schedule(settings) -> dict:
    hour, minute = (int(part) for part in settings.storage_check_time.split(":", 1))
    digest_hour, digest_minute = (int(part) for part in settings.digest_time.split(":", 1))
    return {
        "storage-check": {
            "task": "lightserv.admin.storage_check",
            "schedule": crontab(hour=hour, minute=minute),  # facility time (Celery timezone = DISPLAY_TIMEZONE)
        },
        "poll-cluster": {
            "task": "lightserv.runs.poll_cluster",
            "schedule": timedelta(seconds=settings.slurm_poll_seconds),
        },
        "relay-tasks": {
            "task": "lightserv.relay_tasks",
            "schedule": timedelta(seconds=settings.task_relay_seconds),  # outbox rows the broker has not had
        },
        "retry-queued-emails": {
            "task": "lightserv.retry_emails",
            "schedule": timedelta(seconds=settings.email_retry_seconds),
        },
        "clearing-awaiting-reminder": {
            "task": "lightserv.clearing.remind_awaiting_clearing",
            # CLEARING_REMINDER_SECONDS once Settings declares it; 24 h by default
            "schedule": timedelta(seconds=settings.clearing_reminder_seconds),
        },
        "imaging-recover-validations": {
            "task": "lightserv.imaging.recover_validations",
            "schedule": timedelta(seconds=60),
        },
        "imaging-waiting-reminder": {
            "task": "lightserv.imaging.remind_waiting_imaging",
            # IMAGING_REMINDER_SECONDS once Settings declares it; 24 h by default
            "schedule": timedelta(seconds=settings.imaging_reminder_seconds),
        },
        "processing-waiting-reminder": {
            "task": "lightserv.processing.remind_waiting",
            "schedule": timedelta(seconds=settings.processing_reminder_seconds),
        },
        "viewer-cleanup": {
            "task": "lightserv.viewer.cleanup",
            "schedule": timedelta(seconds=settings.cleanup_interval),  # 15 min (DEV 5 min)
        },
        "notification-digest": {
            "task": "lightserv.notifications.send_digests",
            "schedule": crontab(hour=digest_hour, minute=digest_minute),  # facility time, DIGEST_TIME
        },
        "processing-superseded-retention": {
            "task": "lightserv.processing.remove_superseded",
            "schedule": timedelta(days=1),
        },
    }
