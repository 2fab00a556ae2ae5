"""Celery tasks of the common layer: short, explicit names, keys in, services do the work."""

from __future__ import annotations

from celery import shared_task

from . import dispatch, outbox


@shared_task(
    name=dispatch.SEND_EMAIL, bind=True, max_retries=outbox.MAX_ATTEMPTS - 1, soft_time_limit=60, time_limit=90
)
def send_email(self, outbox_id: int) -> str:
    status = outbox.deliver(outbox_id)
    if status == "failed" and self.request.retries < self.max_retries:
        raise self.retry(countdown=outbox.BACKOFF_SECONDS * 2**self.request.retries)
    return status


@shared_task(name="lightserv.retry_emails", soft_time_limit=120, time_limit=150)
def retry_emails() -> int:
    ids = outbox.due_for_retry()
    for outbox_id in ids:
        send_email.delay(outbox_id)
    return len(ids)


@shared_task(name="lightserv.relay_tasks", soft_time_limit=60, time_limit=90)
def relay_tasks() -> int:
    """Hand the outbox's waiting background tasks to the broker; returns how many were sent."""
    return len(dispatch.relay().keys)
