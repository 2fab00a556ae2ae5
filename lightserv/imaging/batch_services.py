"""Writes of an imaging batch: claim, start, release (imaging.md §3; README §6.2).

As in the clearing blueprint: each service takes plain keys, locks the batch row (`SELECT ... FOR
UPDATE`) inside one DataJoint transaction, checks its guard against the row as stored now, writes and
appends its event in the same transaction. Guards raise `ImagingError` with the HTTP status the view
answers with (403: not this actor; 409: not in this state; 400: invalid input).
"""

from __future__ import annotations

import datetime as dt

from lightserv.common.audit import record_event, utcnow
from lightserv.common.permissions import ADMIN
from lightserv.db import get_schemas

CLEARING_NOT_COMPLETE = "Clearing of these samples is not complete yet."


class ImagingError(Exception):
    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.message, self.status = message, status


def _now() -> dt.datetime:
    return utcnow().replace(microsecond=0)


def label(key: dict) -> str:
    return (
        f"{key['username']}/{key['request_name']} clearing batch {key['clearing_batch_number']}, "
        f"imaging request {key['imaging_request_number']}, imaging batch {key['imaging_batch_number']}"
    )


def _locked_batch(conn, ls, key: dict) -> dict:
    table = ls.Request.ImagingBatch.full_table_name
    rows = conn.query(
        f"SELECT * FROM {table} WHERE username = %s AND request_name = %s AND clearing_batch_number = %s "
        "AND imaging_request_number = %s AND imaging_batch_number = %s FOR UPDATE",
        args=tuple(key[k] for k in ("username", "request_name", "clearing_batch_number",
                                    "imaging_request_number", "imaging_batch_number")),
        as_dict=True,
    ).fetchall()  # fmt: skip
    if not rows:
        raise ImagingError("This imaging batch no longer exists.", 404)
    return rows[0]


def _clearing_progress(conn, ls, key: dict) -> str:
    table = ls.Request.ClearingBatch.full_table_name
    rows = conn.query(
        f"SELECT clearing_progress FROM {table} WHERE username = %s AND request_name = %s "
        "AND clearing_batch_number = %s LOCK IN SHARE MODE",
        args=(key["username"], key["request_name"], key["clearing_batch_number"]),
    ).fetchall()
    return rows[0][0] if rows else ""


def event(conn, action: str, key: dict, summary: str, *, actor: str, before=None, after=None, entity=None) -> None:
    record_event(
        action,
        entity[0] if entity else "imaging_batch",
        entity[1] if entity else key,
        summary,
        request_key=(key["username"], key["request_name"]),
        before=before,
        after=after,
        actor=actor,
        dj_conn=conn,
    )


def _held_by_other(batch: dict) -> ImagingError:
    return ImagingError(f"This batch is imaged by {batch['imager']}.", 403)


def member_keys(ls, key: dict) -> list[dict]:
    """Keys of the member imaging requests (username, request_name, sample_name, imaging_request_number)."""
    rows = (ls.Request.ImagingBatchSample & key).to_dicts(order_by=["sample_name"])
    return [{k: r[k] for k in ("username", "request_name", "sample_name", "imaging_request_number")} for r in rows]


def claim_batch(key: dict, actor: str) -> bool:
    """Imager = actor. Returns False when the actor already held it (nothing changes)."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        if batch["imaging_progress"] == "complete":
            raise ImagingError("This batch is complete.")
        if batch["imager"] == actor:
            return False
        if batch["imager"]:
            raise _held_by_other(batch)
        now = _now()
        ls.Request.ImagingBatch.update1({**key, "imager": actor, "claimed_at": now})
        event(
            conn, "imaging.claimed", key, f"{actor} claimed {label(key)}", actor=actor,
            before={"imager": None}, after={"imager": actor, "claimed_at": now},
        )  # fmt: skip
    return True


def start_batch(key: dict, actor: str, roles: frozenset[str]) -> None:
    """`pending` -> `in_progress` (README §6.2): the imager; imaging staff when unassigned (claims it);
    admins. Refused until the clearing batch is complete. Sets `imager` on every member imaging request
    that has none."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        if batch["imaging_progress"] != "pending":
            raise ImagingError("This batch has already been started.")
        imager = batch["imager"]
        if imager != actor and ADMIN not in roles:
            if imager:
                raise _held_by_other(batch)
            if "imaging_staff" not in roles:
                raise ImagingError("Only imaging staff can start this batch.", 403)
        if _clearing_progress(conn, ls, key) != "complete":
            raise ImagingError(CLEARING_NOT_COMPLETE)
        now = _now()
        changes: dict = {"imaging_progress": "in_progress", "started_at": now}
        if not imager:
            changes.update(imager=actor, claimed_at=now)
        ls.Request.ImagingBatch.update1({**key, **changes})
        new_imager = changes.get("imager", imager)
        for member in member_keys(ls, key):
            row = (ls.Request.ImagingRequest & member).fetch1("imager")
            if not row:
                ls.Request.ImagingRequest.update1({**member, "imager": new_imager})
        event(
            conn, "imaging.started", key, f"{actor} started {label(key)}", actor=actor,
            before={"imaging_progress": "pending", "imager": imager},
            after={"imaging_progress": "in_progress", "imager": new_imager, "started_at": now},
        )  # fmt: skip


def release_batch(key: dict, actor: str, roles: frozenset[str]) -> None:
    """The imager (or an admin) gives a batch back: no imager. Not once it is complete."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        if batch["imaging_progress"] == "complete":
            raise ImagingError("This batch is complete.")
        if not batch["imager"]:
            raise ImagingError("This batch has no imager to release.")
        if batch["imager"] != actor and ADMIN not in roles:
            raise _held_by_other(batch)
        ls.Request.ImagingBatch.update1({**key, "imager": None, "claimed_at": None})
        event(
            conn, "imaging.released", key, f"{actor} released {label(key)}", actor=actor,
            before={"imager": batch["imager"]}, after={"imager": None},
        )  # fmt: skip


def assign_batch(key: dict, assignee: str, actor: str) -> None:
    """Admins: set the imager (imaging staff, admins, or the owner of a self-imaging request); emails the
    new imager unless they assigned themselves."""
    from lightserv.common.outbox import dispatch
    from lightserv.extensions import db

    from . import emails, queries

    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    req = (ls.Request & {"username": key["username"], "request_name": key["request_name"]}).fetch1()
    if assignee not in queries.list_imager_candidates(key["username"], bool(req["self_imaging"])):
        raise ImagingError("Choose an imaging staff member.", 400)
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        if batch["imaging_progress"] == "complete":
            raise ImagingError("This batch is complete.")
        if batch["imager"] == assignee:
            raise ImagingError(f"This batch is already assigned to {assignee}.")
        now = _now()
        ls.Request.ImagingBatch.update1({**key, "imager": assignee, "claimed_at": now})
        event(
            conn, "imaging.assigned", key, f"{actor} assigned {label(key)} to {assignee}", actor=actor,
            before={"imager": batch["imager"]}, after={"imager": assignee, "claimed_at": now},
        )  # fmt: skip
    ids = [] if assignee == actor else [emails.queue_batch_assigned(key, assignee, now)]
    db.session.commit()
    dispatch(ids)
