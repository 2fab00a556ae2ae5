"""The reads and row locks of additional imaging and processing requests."""

from __future__ import annotations

from typing import Any

from lightserv.db import get_schemas


def lock_imaging_request(conn: Any, imaging_table: str, owner: str, request_name: str, number: int) -> None:
    """Lock every sample row of imaging request `number` until the caller's transaction ends."""
    conn.query(
        f"SELECT sample_name FROM {imaging_table} "
        "WHERE username = %s AND request_name = %s AND imaging_request_number = %s FOR UPDATE",
        args=(owner, request_name, number),
    ).fetchall()


def list_complete_clearing_batches(owner: str, request_name: str) -> set[int]:
    """Numbers of the request's clearing batches whose clearing is complete."""
    ls = get_schemas().lightsheet
    key = {"username": owner, "request_name": request_name}
    rows = (ls.Request.ClearingBatch & key & "clearing_progress = 'complete'").to_dicts()
    return {r["clearing_batch_number"] for r in rows}
