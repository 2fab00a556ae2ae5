"""Locking reads of the staff workflow: rows read inside a DataJoint transaction and held until it ends."""

from __future__ import annotations

from collections.abc import Sequence


def lock_rows(conn, table, key: dict, attrs: Sequence[str], *, columns: str = "*", share: bool = False) -> list[dict]:
    """Rows of `table` matching `key` on `attrs`, locked for update (or `share`d: others may read, not write)."""
    where = " AND ".join(f"{attr} = %s" for attr in attrs)
    mode = "LOCK IN SHARE MODE" if share else "FOR UPDATE"
    return conn.query(
        f"SELECT {columns} FROM {table.full_table_name} WHERE {where} {mode}",
        args=tuple(key[attr] for attr in attrs),
        as_dict=True,
    ).fetchall()
