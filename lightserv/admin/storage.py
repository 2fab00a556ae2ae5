"""The daily storage check: a snapshot row and one email to the admins."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from lib.storage import measure
from lightserv.auth.queries import list_staff_emails
from lightserv.common.audit import utcnow
from lightserv.common.dispatch import commit_and_send
from lightserv.common.timefmt import format_datetime
from lightserv.db import get_schemas
from lightserv.notifications.outbox import queue_email

FILESYSTEM_LABEL = "data"


def take_snapshot() -> dict:
    """Measure the configured path, store the snapshot and queue the admins' email; returns the row."""
    settings = current_app.config["SETTINGS"]
    path = Path(settings.storage_path or settings.data_root)
    now = utcnow().replace(microsecond=0)
    try:
        size, used, avail = measure(path)
    except OSError as exc:
        row = dict(
            taken_at=now,
            filesystem=FILESYSTEM_LABEL,
            size_tb=0.0,
            used_tb=0.0,
            avail_tb=0.0,
            status="error",
            message=f"Could not measure {path}: {exc.strerror or exc}"[:512],
        )
    else:
        status = "warning" if avail < settings.storage_warn_free_tb else "ok"
        message = (
            f"Only {avail:.2f} TB free on {path} (warning below {settings.storage_warn_free_tb:g} TB)."
            if status == "warning"
            else ""
        )
        row = dict(
            taken_at=now,
            filesystem=FILESYSTEM_LABEL,
            size_tb=size,
            used_tb=used,
            avail_tb=avail,
            status=status,
            message=message,
        )
    get_schemas().facility.StorageSnapshot.insert1(row, skip_duplicates=True)
    subject = {"ok": "ALL CLEAR", "warning": "WARNING: storage almost full", "error": "ERROR: storage check failed"}
    body = (
        f"Storage check of {path} at {format_datetime(now, settings.display_timezone)}:\n"
        f"size {row['size_tb']:.2f} TB, used {row['used_tb']:.2f} TB, available {row['avail_tb']:.2f} TB.\n"
        + (f"\n{row['message']}\n" if row["message"] else "")
    )
    outbox_id = queue_email(
        "storage_check",
        f"storage:{FILESYSTEM_LABEL}:{now.isoformat()}",
        list_staff_emails("facility_admin"),
        subject[row["status"]],
        body,
    )
    commit_and_send([outbox_id])
    return row


def list_snapshots(limit: int = 90) -> list[dict]:
    table = get_schemas().facility.StorageSnapshot()
    return table.to_dicts(order_by=["taken_at DESC"], limit=limit)
