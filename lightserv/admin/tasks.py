"""Scheduled facility tasks."""

from __future__ import annotations

from celery import shared_task

from .storage import take_snapshot


@shared_task(name="lightserv.admin.storage_check", soft_time_limit=120, time_limit=150)
def storage_check() -> str:
    return take_snapshot()["status"]
