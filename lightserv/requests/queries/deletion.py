"""The statements a request's deletion runs on the DataJoint connection, inside the caller's transaction."""

from __future__ import annotations

from typing import Any


def lock_clearing_progress(conn: Any, batch_table: str, owner: str, request_name: str) -> list[str]:
    """The clearing progress of every batch of the request, each row locked until the transaction ends."""
    rows = conn.query(
        f"SELECT clearing_batch_number, clearing_progress FROM {batch_table} "
        "WHERE username = %s AND request_name = %s FOR UPDATE",
        args=(owner, request_name),
    ).fetchall()
    return [progress for _number, progress in rows]


def delete_feedback(conn: Any, app_database: str, owner: str, request_name: str) -> None:
    """Remove the request's feedback rows (application database)."""
    conn.query(
        f"DELETE FROM `{app_database}`.`feedback` WHERE request_username = %s AND request_name = %s",
        args=(owner, request_name),
    )
