"""Managing an existing request: deleting it, sharing it and feedback.

Each write validates, writes in one transaction with its event-log row, and only after the commit
queues emails and Celery tasks. Reads used by the pages of these flows live here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lightserv.common.audit import record_event, utcnow
from lightserv.common.errors import DomainError
from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import Feedback

from .queries import deletion, people
from .submission import USERNAME_RE, Errors, unknown_user_message

NAME_MISMATCH_MESSAGE = "The name you typed does not match."
CLEARING_STARTED_MESSAGE = (
    "Clearing has already started for this request, so it can no longer be deleted. Please contact the facility."
)
DELETED_MESSAGE = "Your request has been deleted."
ACCESS_LEVELS = ("auditor", "collaborator")
ACCESS_ACTIONS = ("add", "change_level", "toggle_cc", "remove")


class ManageError(DomainError):
    """A refused change; `errors` maps form fields to messages (key "" = the form as a whole)."""

    def __init__(self, errors: Errors | dict[str, list[str]], status: int = 400):
        super().__init__("; ".join(m for msgs in errors.values() for m in msgs))
        self.errors = errors
        self.status = status


def _key(owner: str, request_name: str) -> dict:
    return {"username": owner, "request_name": request_name}


# ---------------------------------------------------------------------------------------------------
# Deleting a request
# ---------------------------------------------------------------------------------------------------


def clearing_started(owner: str, request_name: str) -> bool:
    """Whether any clearing batch of the request has left `pending` (then it can no longer be deleted)."""
    batches = get_schemas().lightsheet.Request.ClearingBatch & _key(owner, request_name)
    return bool(batches & "clearing_progress != 'pending'")


def delete_request(req: dict, typed_name: str, actor: str) -> None:
    """Delete the request, every part row and its batches' antibody history rows in one transaction.

    Checks, in this order (existence and permission are the caller's): the typed name,
    then that no clearing batch has started (re-read under a row lock, so a clearer starting a batch
    at the same moment cannot slip through). The event keeps a snapshot; the event log itself is never
    touched."""
    owner, name = req["username"], req["request_name"]
    if typed_name != name:
        raise ManageError({"confirm_name": [NAME_MISMATCH_MESSAGE]})
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    key = _key(owner, name)
    settings = current_app.config["SETTINGS"]
    with conn.transaction:
        rows = (ls.Request & key).to_dicts()
        if not rows:
            raise ManageError({"": ["No request with those parameters exists."]}, status=404)
        progress = deletion.lock_clearing_progress(conn, ls.Request.ClearingBatch.full_table_name, owner, name)
        if any(p != "pending" for p in progress):
            raise ManageError({"": [CLEARING_STARTED_MESSAGE]}, status=409)
        snapshot = _snapshot(ls, key, rows[0])
        batch_numbers = [b["clearing_batch_number"] for b in snapshot["clearing_batches"]]
        if batch_numbers:
            antibodies = ls.AntibodyHistory & key & [{"clearing_batch_number": n} for n in batch_numbers]
            antibodies.delete(transaction=False, prompt=False)
        (ls.Request & key).delete(transaction=False, prompt=False)
        deletion.delete_feedback(conn, settings.app_database, owner, name)
        record_event(
            "request.deleted",
            "request",
            key,
            f"Request {owner}/{name} deleted with {len(snapshot['samples'])} sample(s)",
            request_key=(owner, name),
            before=snapshot,
            actor=actor,
            dj_conn=conn,
        )
    _after_delete(snapshot, actor)


def _snapshot(ls, key: dict, request_row: dict) -> dict:
    return {
        "request": request_row,
        "access": (ls.Request.Access & key).to_dicts(),
        "samples": (ls.Request.Sample & key).to_dicts(order_by=["sample_name"]),
        "clearing_batches": (ls.Request.ClearingBatch & key).to_dicts(order_by=["clearing_batch_number"]),
        "clearing_batch_samples": (ls.Request.ClearingBatchSample & key).to_dicts(),
        "imaging_requests": (ls.Request.ImagingRequest & key).to_dicts(),
        "imaging_batches": (ls.Request.ImagingBatch & key).to_dicts(),
        "processing_requests": (ls.Request.ProcessingRequest & key).to_dicts(),
    }


def _after_delete(snapshot: dict, actor: str) -> None:
    from lightserv.common.dispatch import commit_and_send, enqueue

    from .emails import queue_request_deleted

    req = snapshot["request"]
    ids = queue_request_deleted(snapshot, actor)
    folders = (req["username"], req["request_name"], req["submitted_at"].isoformat())
    enqueue("lightserv.requests.remove_request_folders", *folders, key="remove-folders:" + "/".join(folders),
            what="Removing the request's folders")  # fmt: skip
    commit_and_send(ids)


# ---------------------------------------------------------------------------------------------------
# Sharing
# ---------------------------------------------------------------------------------------------------


def list_access(owner: str, request_name: str) -> list[dict]:
    """The request's auditors and collaborators with their email, ordered by username.

    Each row: grantee, access_level, cc_on_emails, granted_by, granted_at, email."""
    ls = get_schemas().lightsheet
    rows = (ls.Request.Access & _key(owner, request_name)).to_dicts(order_by=["grantee"])
    if not rows:
        return rows
    emails = {u["username"]: u["email"] for u in (ls.User & [{"username": r["grantee"]} for r in rows]).to_dicts()}
    for r in rows:
        r["email"] = emails.get(r["grantee"], "")
    return rows


@dataclass(frozen=True)
class AccessChange:
    action: str
    grantee: str
    before: dict | None
    after: dict | None

    @property
    def message(self) -> str:
        if self.action == "add":
            return f"{self.grantee} now has {self.after['access_level']} access to this request."
        if self.action == "remove":
            return f"{self.grantee} no longer has access to this request."
        if self.action == "toggle_cc":
            state = "now receives" if self.after["cc_on_emails"] else "no longer receives"
            return f"{self.grantee} {state} this request's emails."
        if self.before == self.after:
            return f"{self.grantee} already is {_article(self.after['access_level'])}."
        return f"{self.grantee} is now {_article(self.after['access_level'])}."


def _article(level: str) -> str:
    return f"an {level}" if level[0] in "aeiou" else f"a {level}"


def _validate_access(owner: str, action: str, typed: str, grantee: str, level: str, current: dict | None) -> Errors:
    """`typed` is what the user entered (stripped), `grantee` its lower-cased form. Only an active user
    can be added: a typed name never creates one."""
    errors = Errors()
    if not grantee:
        errors.add("grantee", "Please enter a username.")
    elif not USERNAME_RE.fullmatch(grantee):
        errors.add("grantee", f"'{typed}' is not a valid username.")
    elif grantee == owner:
        errors.add("grantee", "The owner already has access.")
    elif action == "add" and current is not None:
        errors.add("grantee", f"{grantee} already has access to this request.")
    elif action == "add" and not people.active_usernames([grantee]):
        errors.add("grantee", unknown_user_message(typed))
    elif action != "add" and current is None:
        errors.add("grantee", f"{grantee} has no access to this request.")
    if action in ("add", "change_level") and level not in ACCESS_LEVELS:
        errors.add("access_level", "Please choose auditor or collaborator.")
    if not errors and action == "toggle_cc" and current["access_level"] != "collaborator":
        errors.add("grantee", "Only collaborators can receive the request's emails.")
    return errors


def _access_state(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {"grantee": row["grantee"], "access_level": row["access_level"], "cc_on_emails": int(row["cc_on_emails"])}


def change_access(req: dict, action: str, grantee: str, level: str, actor: str) -> AccessChange:
    """Add, re-level, toggle cc of, or remove one auditor/collaborator (one transaction, one event)."""
    if action not in ACCESS_ACTIONS:
        raise ManageError({"": ["Unknown form action."]})
    owner, name = req["username"], req["request_name"]
    typed = (grantee or "").strip()
    grantee = typed.lower()
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    key = _key(owner, name)
    now = utcnow()
    with conn.transaction:
        found = (ls.Request.Access & key & {"grantee": grantee}).to_dicts() if USERNAME_RE.fullmatch(grantee) else []
        current = found[0] if found else None
        errors = _validate_access(owner, action, typed, grantee, level, current)
        if errors:
            raise ManageError(errors)
        before = _access_state(current)
        row_key = {**key, "grantee": grantee}
        if action == "add":
            ls.Request.Access.insert1(
                dict(**row_key, access_level=level, cc_on_emails=0, granted_by=actor, granted_at=now)
            )
            after = {"grantee": grantee, "access_level": level, "cc_on_emails": 0}
        elif action == "remove":
            (ls.Request.Access & row_key).delete(transaction=False, prompt=False, part_integrity="ignore")
            after = None
        elif action == "change_level":
            # cc is for collaborators only: an auditor never receives the request's emails
            cc = int(current["cc_on_emails"]) if level == "collaborator" else 0
            ls.Request.Access.update1({**row_key, "access_level": level, "cc_on_emails": cc})
            after = {"grantee": grantee, "access_level": level, "cc_on_emails": cc}
        else:  # toggle_cc
            cc = 0 if current["cc_on_emails"] else 1
            ls.Request.Access.update1({**row_key, "cc_on_emails": cc})
            after = {**before, "cc_on_emails": cc}
        change = AccessChange(action, grantee, before, after)
        if before != after:
            record_event(
                "request.access_changed",
                "request_access",
                row_key,
                f"Access of {grantee} to {owner}/{name}: {change.message}",
                request_key=(owner, name),
                before=before,
                after=after,
                actor=actor,
                dj_conn=conn,
            )
    _after_access_change(req, change, actor, now)
    return change


def _after_access_change(req: dict, change: AccessChange, actor: str, now) -> None:
    from lightserv.common.dispatch import commit_and_send

    from .emails import queue_access_granted

    if change.action != "add":
        return
    ids = [queue_access_granted(req, change.grantee, change.after["access_level"], now)]
    commit_and_send(ids)


# ---------------------------------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------------------------------

FEEDBACK_FIELDS = (
    "clearing_rating",
    "imaging_rating",
    "processing_rating",
    "clearing_notes",
    "imaging_notes",
    "processing_notes",
    "other_notes",
)
FEEDBACK_LIMITS = {"clearing_notes": 500, "imaging_notes": 500, "processing_notes": 500, "other_notes": 1000}


def has_processing_request(owner: str, request_name: str) -> bool:
    return bool(get_schemas().lightsheet.Request.ProcessingRequest & _key(owner, request_name))


def get_feedback(owner: str, request_name: str, username: str) -> Feedback | None:
    return db.session.scalar(
        select(Feedback).where(
            Feedback.request_username == owner,
            Feedback.request_name == request_name,
            Feedback.submitted_by == username,
        )
    )


def _feedback_state(row: Feedback | None) -> dict | None:
    return None if row is None else {f: getattr(row, f) for f in FEEDBACK_FIELDS}


def save_feedback(owner: str, request_name: str, username: str, values: dict, *, with_processing: bool) -> bool:
    """Insert or update the one feedback row of (request, user); returns True when it was an update.

    Ratings must be 1–5 (processing is stored as null when the request has no processing request);
    notes are limited to the column lengths. The event is committed with the row."""
    errors = Errors()
    for name in ("clearing_rating", "imaging_rating") + (("processing_rating",) if with_processing else ()):
        if values.get(name) not in (1, 2, 3, 4, 5):
            errors.add(name, "Please choose a rating from 1 to 5.")
    for name, limit in FEEDBACK_LIMITS.items():
        if len(values.get(name) or "") > limit:
            errors.add(name, f"At most {limit} characters.")
    if errors:
        raise ManageError(errors)
    clean = {
        "clearing_rating": values["clearing_rating"],
        "imaging_rating": values["imaging_rating"],
        "processing_rating": values.get("processing_rating") if with_processing else None,
        "clearing_notes": values.get("clearing_notes") or "",
        "imaging_notes": values.get("imaging_notes") or "",
        "processing_notes": (values.get("processing_notes") or "") if with_processing else "",
        "other_notes": values.get("other_notes") or "",
    }
    for attempt in range(2):
        row = get_feedback(owner, request_name, username)
        before = _feedback_state(row)
        now = utcnow()
        if row is None:
            row = Feedback(
                request_username=owner, request_name=request_name, submitted_by=username, submitted_at=now, **clean
            )
            db.session.add(row)
        else:
            for field, value in clean.items():
                setattr(row, field, value)
            row.updated_at = now
        record_event(
            "feedback.submitted",
            "feedback",
            {"request_username": owner, "request_name": request_name, "submitted_by": username},
            f"Feedback on {owner}/{request_name} by {username} {'updated' if before else 'submitted'}",
            request_key=(owner, request_name),
            before=before,
            after=clean,
            actor=username,
        )
        try:
            db.session.commit()
        except IntegrityError:  # a second tab saved the first row at the same moment: update it instead
            db.session.rollback()
            if attempt:
                raise
            continue
        return before is not None
    raise AssertionError("unreachable")
