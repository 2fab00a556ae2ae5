"""Background work of the requests blueprint: folders on shared storage, after the database commit."""

from __future__ import annotations

from pathlib import Path

from celery import shared_task
from flask import current_app

from lib.naming import imaging_request_folders
from lib.storage import make_folders


@shared_task(
    name="lightserv.requests.create_imaging_folders",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=120,
    time_limit=150,
)
def create_imaging_folders(jobs: list) -> int:
    """jobs: [owner, request_name, sample_name, imaging_request_number, [[resolution, ventral_up], ...]]."""
    settings = current_app.config["SETTINGS"]
    count = 0
    for owner, request_name, sample_name, number, resolutions in jobs:
        folders = imaging_request_folders(
            owner, request_name, sample_name, int(number), [(r, bool(vu)) for r, vu in resolutions]
        )
        count += len(make_folders(Path(settings.data_root), folders, settings.data_group))
    return count
