"""Writes of the antibody pages: each one DataJoint transaction with its
`antibody.changed` event (before and after). Rows are addressed by their surrogate id."""

from __future__ import annotations

from lightserv.common.audit import record_event, utcnow
from lightserv.common.errors import DomainError
from lightserv.db import get_schemas
from lightserv.workflow.queries import lock_rows

from .queries import get_last_insert_id


class AntibodyError(DomainError):
    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.message, self.status = message, status


def _locked(conn, table, id_column: str, row_id: int) -> dict:
    rows = lock_rows(conn, table, {id_column: row_id}, [id_column])
    if not rows:
        raise AntibodyError("This antibody entry no longer exists.")
    return rows[0]


def update_history_row(history_id: int, values: dict, actor: str) -> dict:
    """Update the given columns of one history row; returns the changed columns' new values."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        row = _locked(conn, ls.AntibodyHistory, "antibody_history_id", history_id)
        changed = {k: v for k, v in values.items() if row[k] != v}
        if not changed:
            return {}
        now = utcnow().replace(microsecond=0)
        ls.AntibodyHistory.update1(
            {"antibody_history_id": history_id, **changed, "updated_by": actor, "updated_at": now}
        )
        record_event(
            "antibody.changed",
            "antibody_history",
            {"antibody_history_id": history_id},
            f"{actor} updated antibody history entry {history_id}",
            request_key=(row["username"], row["request_name"]) if row["request_name"] else None,
            before={k: row[k] for k in changed},
            after=changed,
            actor=actor,
            dj_conn=conn,
        )
    return changed


def create_trial(values: dict, actor: str) -> int:
    """A new antibody trial: a history row with no owner or request."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    now = utcnow().replace(microsecond=0)
    row = dict(
        values,
        primary_lot="",
        secondary_lot="",
        username=None,
        request_name=None,
        clearing_batch_number=None,
        created_by=actor,
        created_at=now,
        updated_by=None,
        updated_at=None,
    )
    with conn.transaction:
        ls.AntibodyHistory.insert1(row)
        new_id = get_last_insert_id(conn)
        record_event(
            "antibody.changed",
            "antibody_history",
            {"antibody_history_id": new_id},
            f"{actor} added antibody trial {new_id}",
            after=values,
            actor=actor,
            dj_conn=conn,
        )
    return new_id


def save_overview_row(overview_id: int | None, values: dict, actor: str) -> int:
    """Create (`overview_id` None) or update an antibody overview row."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    now = utcnow().replace(microsecond=0)
    with conn.transaction:
        if overview_id is None:
            ls.AntibodyOverview.insert1({**values, "updated_by": actor, "updated_at": now})
            overview_id, before = get_last_insert_id(conn), None
            summary = f"{actor} added antibody overview entry {overview_id}"
        else:
            row = _locked(conn, ls.AntibodyOverview, "antibody_overview_id", overview_id)
            before = {k: row[k] for k in values}
            ls.AntibodyOverview.update1(
                {"antibody_overview_id": overview_id, **values, "updated_by": actor, "updated_at": now}
            )
            summary = f"{actor} updated antibody overview entry {overview_id}"
        record_event(
            "antibody.changed",
            "antibody_overview",
            {"antibody_overview_id": overview_id},
            summary,
            before=before,
            after=values,
            actor=actor,
            dj_conn=conn,
        )
    return overview_id


def delete_overview_row(overview_id: int, actor: str) -> None:
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        row = _locked(conn, ls.AntibodyOverview, "antibody_overview_id", overview_id)
        (ls.AntibodyOverview & {"antibody_overview_id": overview_id}).delete(transaction=False, prompt=False)
        record_event(
            "antibody.changed",
            "antibody_overview",
            {"antibody_overview_id": overview_id},
            f"{actor} deleted antibody overview entry {overview_id}",
            before={k: v for k, v in row.items() if k != "antibody_overview_id"},
            after=None,
            actor=actor,
            dj_conn=conn,
        )
