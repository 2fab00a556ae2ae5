"""Background work of the requests blueprint: folders on shared storage, after the database commit."""

from __future__ import annotations

from pathlib import Path

from celery import shared_task
from flask import current_app

from lib.naming import imaging_request_folders
from lib.storage import make_folders

# Folders wait out a DATA_ROOT that cannot be written (read-only, full) for about three hours: retries after
# 1, 2, 4 … seconds, then every 5 minutes (make_folders is idempotent).
FOLDER_RETRY_MAX_SECONDS = 300
FOLDER_RETRIES = 40


@shared_task(
    name="lightserv.requests.create_imaging_folders",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=FOLDER_RETRY_MAX_SECONDS,
    max_retries=FOLDER_RETRIES,
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


@shared_task(
    name="lightserv.requests.remove_request_folders",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=300,
    time_limit=330,
)
def remove_request_folders(owner: str, request_name: str, submitted_stamp: str) -> bool:
    """After a request was deleted: remove its folder only if no file is below it; otherwise leave it and
    alert the admins. Returns whether the folder is gone."""
    from lib.naming import request_dir
    from lib.storage import remove_if_empty
    from lightserv.common.dispatch import commit_and_send

    from .emails import queue_request_folder_kept

    settings = current_app.config["SETTINGS"]
    removed, files = remove_if_empty(Path(settings.data_root), request_dir(owner, request_name))
    if not removed:
        outbox_id = queue_request_folder_kept(owner, request_name, submitted_stamp, files)
        commit_and_send([outbox_id])
    return removed


@shared_task(
    name="lightserv.requests.create_processing_folders",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=FOLDER_RETRY_MAX_SECONDS,
    max_retries=FOLDER_RETRIES,
    soft_time_limit=120,
    time_limit=150,
)
def create_processing_folders(jobs: list) -> int:
    """jobs: [owner, request_name, sample_name, imaging_request_number, processing_request_number,
    [[resolution, ventral_up], ...]] -> output/processing_request_<P>/resolution_<res><vu>/ (mode 2770)."""
    from lib.naming import output_dir

    settings = current_app.config["SETTINGS"]
    folders = [
        output_dir(owner, request_name, sample_name, int(n), int(p), res, bool(vu))
        for owner, request_name, sample_name, n, p, resolutions in jobs
        for res, vu in resolutions
    ]
    return len(make_folders(Path(settings.data_root), folders, settings.data_group))


@shared_task(
    name="lightserv.requests.check_data_group",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=120,
    time_limit=150,
)
def check_data_group(username: str) -> str:
    """After a submission: is the owner in DATA_GROUP on the cluster host? If not, ask IT and the admins once
    to add them, so they can read their data."""
    from lib.cluster.membership import groups_of
    from lightserv.common.dispatch import commit_and_send

    from .emails import queue_data_access_needed

    settings = current_app.config["SETTINGS"]
    if not settings.data_group:
        return "not_configured"
    transport = _cluster_transport(settings)
    try:
        groups = groups_of(transport, username)
    finally:
        transport.close()
    if groups is not None and settings.data_group in groups:
        return "member"
    where = "has no account on the cluster" if groups is None else f"is not in the group {settings.data_group}"
    outbox_id = queue_data_access_needed(username, where)
    commit_and_send([outbox_id])
    return "missing"


def _cluster_transport(settings):
    from lib.cluster import LocalTransport, SshConfig, SshTransport

    if settings.cluster_backend == "slurm" and settings.slurm_transport == "ssh":
        return SshTransport(
            SshConfig(
                host=settings.slurm_ssh_host,
                user=settings.slurm_ssh_user,
                key_path=settings.slurm_ssh_key_path,
                known_hosts_path=settings.slurm_known_hosts_path,
                port=settings.slurm_ssh_port,
            )
        )
    return LocalTransport()
