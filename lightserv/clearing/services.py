"""Writes of a clearing batch: claim, start, release, assign, save, complete, reopen (clearing.md §3,
§5.3, §7; README §6.1).

Each service takes plain keys, locks the batch row (`SELECT ... FOR UPDATE`) inside one DataJoint
transaction, checks its guard against the row as stored now, writes, appends its event in the same
transaction, and only after the commit queues emails. Guards raise `ClearingError` with the HTTP status
the view answers with (403: not this actor; 409: not in this state; 400: invalid input).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from dataclasses import dataclass, field

from flask import current_app

from lightserv.common.audit import record_event, utcnow
from lightserv.common.permissions import ADMIN
from lightserv.common.timefmt import format_datetime, to_local
from lightserv.db import get_schemas
from lightserv.extensions import db

from . import emails, entry, queries
from .catalogue import ProtocolDef, load_protocol

REASON_MAX = 500
log = logging.getLogger(__name__)
DEADLOCK = 1213  # ER_LOCK_DEADLOCK: InnoDB rolled the victim's whole transaction back
DEADLOCK_ATTEMPTS = 3


class ClearingError(Exception):
    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.message, self.status = message, status


class SaveRefused(Exception):
    """Nothing was written: `errors` maps group names to messages (validation errors or conflicts)."""

    def __init__(self, errors: dict[str, list[str]], status: int):
        super().__init__("; ".join(m for msgs in errors.values() for m in msgs))
        self.errors, self.status = errors, status


@dataclass
class SaveResult:
    written: list[str] = field(default_factory=list)  # group names written
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # steps out of time order, as sentences


def _now() -> dt.datetime:
    return utcnow().replace(microsecond=0)


def _tz() -> str:
    return current_app.config["SETTINGS"].display_timezone


def _label(key: dict) -> str:
    return f"{key['username']}/{key['request_name']} batch {key['clearing_batch_number']}"


def _lock(conn, table, key: dict) -> list[dict]:
    """Rows of `table` for this batch, read with a lock held until the transaction ends."""
    return conn.query(
        f"SELECT * FROM {table.full_table_name} WHERE username = %s AND request_name = %s "
        "AND clearing_batch_number = %s FOR UPDATE",
        args=(key["username"], key["request_name"], key["clearing_batch_number"]),
        as_dict=True,
    ).fetchall()


def _locked_batch(conn, ls, key: dict) -> dict:
    rows = _lock(conn, ls.Request.ClearingBatch, key)
    if not rows:
        raise ClearingError("This clearing batch no longer exists.", 404)
    return rows[0]


def _event(conn, action: str, key: dict, summary: str, *, actor: str, before=None, after=None, entity=None):
    record_event(
        action,
        entity[0] if entity else "clearing_batch",
        entity[1] if entity else key,
        summary,
        request_key=(key["username"], key["request_name"]),
        before=before,
        after=after,
        actor=actor,
        dj_conn=conn,
    )


def _held_by_other(batch: dict) -> ClearingError:
    return ClearingError(f"This batch is held by {batch['clearer']}.", 403)


# --- claim, start, release, assign --------------------------------------------------------------------


def claim_batch(key: dict, actor: str) -> bool:
    """Clearer = actor. Returns False when the actor already held it (nothing changes)."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        if batch["clearing_progress"] == "complete":
            raise ClearingError("This batch is complete.")
        if batch["clearer"] == actor:
            return False
        if batch["clearer"]:
            raise _held_by_other(batch)
        now = _now()
        ls.Request.ClearingBatch.update1({**key, "clearer": actor, "claimed_at": now})
        _event(
            conn, "clearing.claimed", key, f"{actor} claimed clearing {_label(key)}", actor=actor,
            before={"clearer": None}, after={"clearer": actor, "claimed_at": now},
        )  # fmt: skip
    return True


def start_batch(key: dict, actor: str, roles: frozenset[str]) -> None:
    """`pending` -> `in_progress`: the clearer; clearing staff when unassigned (claims it); admins."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        if batch["clearing_progress"] != "pending":
            raise ClearingError("This batch has already been started.")
        clearer = batch["clearer"]
        if clearer != actor and ADMIN not in roles:
            if clearer or "clearing_staff" not in roles:
                raise (
                    _held_by_other(batch)
                    if clearer
                    else ClearingError("Only clearing staff can start this batch.", 403)
                )
        now = _now()
        changes = {"clearing_progress": "in_progress", "started_at": now}
        if not clearer:
            changes.update(clearer=actor, claimed_at=now)
        ls.Request.ClearingBatch.update1({**key, **changes})
        _event(
            conn, "clearing.started", key, f"{actor} started clearing {_label(key)}", actor=actor,
            before={"clearing_progress": "pending", "clearer": clearer}, after=changes,
        )  # fmt: skip


def release_batch(key: dict, actor: str, roles: frozenset[str]) -> None:
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        if batch["clearing_progress"] == "complete":
            raise ClearingError("This batch is complete.")
        if not batch["clearer"]:
            raise ClearingError("This batch has no clearer.")
        if batch["clearer"] != actor and ADMIN not in roles:
            raise _held_by_other(batch)
        ls.Request.ClearingBatch.update1({**key, "clearer": None, "claimed_at": None})
        _event(
            conn, "clearing.assigned", key, f"{actor} released clearing {_label(key)}", actor=actor,
            before={"clearer": batch["clearer"]}, after={"clearer": None},
        )  # fmt: skip


def assign_batch(key: dict, assignee: str, actor: str) -> None:
    """Admins: clearer = a clearing staff member (or the owner of a self-clearing request); the new
    clearer is emailed."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    req = (ls.Request & {"username": key["username"], "request_name": key["request_name"]}).to_dicts()[0]
    if assignee not in queries.list_clearer_candidates(key["username"], bool(req["self_clearing"])):
        raise ClearingError("Choose a clearing staff member.", 400)
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        if batch["clearing_progress"] == "complete":
            raise ClearingError("This batch is complete.")
        if batch["clearer"] == assignee:
            raise ClearingError(f"This batch is already assigned to {assignee}.")
        now = _now()
        ls.Request.ClearingBatch.update1({**key, "clearer": assignee, "claimed_at": now})
        _event(
            conn, "clearing.assigned", key, f"{actor} assigned clearing {_label(key)} to {assignee}", actor=actor,
            before={"clearer": batch["clearer"]}, after={"clearer": assignee, "claimed_at": now},
        )  # fmt: skip
    ids = [] if assignee == actor else [emails.queue_assigned(key, batch, assignee, now)]
    db.session.commit()
    emails.dispatch(ids)


# --- saving -------------------------------------------------------------------------------------------


def _may_record(batch: dict, actor: str, roles: frozenset[str]) -> None:
    if batch["clearer"] != actor and ADMIN not in roles:
        raise ClearingError(
            f"This batch is held by {batch['clearer']}." if batch["clearer"] else "Claim this batch first.", 403
        )


def _conflict_message(key: dict, group: entry.Group, stored: entry.Stored) -> str:
    by, at = stored.changed[group.name]
    if group.kind in ("lot", "batch"):
        by, at = queries.last_batch_field_change(key, group.key)
    return entry.CONFLICT_MESSAGE.format(
        user=by or "another user", time=format_datetime(at, _tz()) if at else "an earlier time"
    )


def _locked_entries(conn, ls, key: dict, batch: dict) -> tuple[dict, dict, entry.Stored]:
    """The batch's step entries and section dates (locked) and the form state they make."""
    entries = {r["step_key"]: r for r in _lock(conn, ls.Request.ClearingStepEntry, key)}
    dates = {r["section_key"]: r for r in _lock(conn, ls.Request.ClearingSectionDate, key)}
    groups = entry.groups_of(load_protocol(batch["protocol"]))
    return entries, dates, entry.stored_state(groups, batch, entries, dates, _tz())


def _apply_saves(
    conn, ls, key: dict, batch: dict, form: dict, names: list[str], *, explicit: bool, actor: str
) -> SaveResult:
    """Validate and write the named groups (inside the caller's transaction). `explicit`: the user
    pressed this group's own Save button; otherwise ("Save all", "Complete") groups the user did not edit
    are skipped, so a newer value saved elsewhere is kept."""
    proto = load_protocol(batch["protocol"])
    groups = entry.groups_of(proto)
    entries, dates, stored = _locked_entries(conn, ls, key, batch)
    now = _now()
    errors: dict[str, list[str]] = {}
    conflict = False
    todo: list[tuple[entry.Group, dict, tuple[str, ...]]] = []
    result = SaveResult()
    for name in names:
        group = groups[name]
        token = form.get(group.token_field)
        if token is None:
            continue
        submitted = entry.canonical(group, form)
        if submitted == stored.canonical[name] or (
            not explicit and entry.digest(submitted) == entry.token_digest(token)
        ):
            result.unchanged.append(name)
            continue
        if token != stored.tokens[name]:
            errors[name] = [_conflict_message(key, group, stored)]
            conflict = True
            continue
        values, problems = entry.validate(group, submitted, proto, utcnow(), _tz())
        if problems:
            errors[name] = problems
        else:
            todo.append((group, values, submitted))
    if errors:
        raise SaveRefused(errors, 409 if conflict else 400)
    for group, values, _submitted in todo:
        _write_group(ls, conn, key, group, values, entries, dates, stored, now, actor)
        result.written.append(group.name)
    return result


def _write_group(ls, conn, key, group, values, entries, dates, stored, now, actor) -> None:
    before = dict(zip(group.fields, stored.canonical[group.name], strict=True))
    if group.kind == "step":
        row = {**key, "step_key": group.key, **values, "updated_by": actor, "updated_at": now}
        table, entity, existing = (
            ls.Request.ClearingStepEntry,
            ("clearing_step", {**key, "step_key": group.key}),
            entries,
        )
    elif group.kind == "section":
        row = {**key, "section_key": group.key, **values, "updated_by": actor, "updated_at": now}
        table, entity, existing = (
            ls.Request.ClearingSectionDate,
            ("clearing_section", {**key, "section_key": group.key}),
            dates,
        )
    else:
        ls.Request.ClearingBatch.update1({**key, **values})
        _event(
            conn, entry.EVENT_OF_KIND[group.kind], key, f"{group.label} saved for clearing {_label(key)}",
            actor=actor, before={group.key: before[group.fields[0]] or None}, after=values,
        )  # fmt: skip
        return
    if group.key in existing:
        table.update1(row)
    else:
        table.insert1(row)
    _event(
        conn, entry.EVENT_OF_KIND[group.kind], key, f"{group.label} saved for clearing {_label(key)}", actor=actor,
        before=before, after={k: v for k, v in row.items() if k not in key}, entity=entity,
    )  # fmt: skip


def _is_deadlock(exc: BaseException | None) -> bool:
    while exc is not None:
        if exc.args and exc.args[0] == DEADLOCK:
            return True
        exc = exc.__cause__
    return False


def retry_on_deadlock(service):
    """Run a service again when InnoDB chose its transaction as a deadlock victim.

    `_lock` reads a batch's step entries and section dates `FOR UPDATE`; where the batch has none yet (or
    past its last row) that takes a gap lock, and gap locks do not conflict with each other. Two people
    saving the first entries of two different batches at once each hold the shared gap and then insert
    into it, so InnoDB kills one transaction (a 500 found by the load test, issue 11). The victim's
    transaction was rolled back whole, its event included, so running the service again is safe: it
    re-reads the batch and re-checks every guard and token."""

    @functools.wraps(service)
    def run(*args, **kwargs):
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                return service(*args, **kwargs)
            except Exception as exc:
                if attempt == DEADLOCK_ATTEMPTS or not _is_deadlock(exc):
                    raise
                log.warning(
                    "deadlock in %s (attempt %d of %d): running it again", service.__name__, attempt, DEADLOCK_ATTEMPTS
                )
                time.sleep(0.05 * attempt)  # let the surviving transaction commit first
        raise AssertionError("unreachable")

    return run


@retry_on_deadlock
def save_entries(key: dict, form: dict, group: str, actor: str, roles: frozenset[str]) -> SaveResult:
    """Save one group, or every changed group (`group == "all"`), in one transaction."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        _may_record(batch, actor, roles)
        if batch["clearing_progress"] != "in_progress":
            raise ClearingError(
                "This batch is complete. The form is read-only."
                if batch["clearing_progress"] == "complete"
                else "Start clearing to record steps."
            )
        names = list(entry.groups_of(load_protocol(batch["protocol"]))) if group == "all" else [group]
        return _apply_saves(conn, ls, key, batch, form, names, explicit=group != "all", actor=actor)


def current_form(key: dict) -> tuple[ProtocolDef, dict[str, str]]:
    """The batch's protocol and the fields its entry form shows now, tokens included: what a browser
    would post back, for callers that fill the form without one (the demo seed)."""
    ls = get_schemas().lightsheet
    batch = (ls.Request.ClearingBatch & key).to_dicts()[0]
    proto = load_protocol(batch["protocol"])
    groups = entry.groups_of(proto)
    stored = entry.stored_state(groups, batch, *queries.get_entries(key), _tz())
    tokens = {group.token_field: stored.tokens[name] for name, group in groups.items()}
    return proto, {**stored.values, **tokens}


# --- complete and reopen ------------------------------------------------------------------------------


@retry_on_deadlock
def complete_batch(key: dict, form: dict, actor: str, roles: frozenset[str]) -> SaveResult:
    """Save changed fields, then `in_progress` -> `complete`, lots into the antibody history, the event;
    after the commit the emails of clearing.md §11. Refused, with nothing saved, while a step has neither
    a time nor a reason for skipping it; steps out of time order only warn."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        _may_record(batch, actor, roles)
        if batch["clearing_progress"] != "in_progress":
            raise ClearingError(
                "This batch is already complete."
                if batch["clearing_progress"] == "complete"
                else "Start clearing before completing it."
            )
        proto = load_protocol(batch["protocol"])
        result = _apply_saves(conn, ls, key, batch, form, list(entry.groups_of(proto)), explicit=False, actor=actor)
        batch = _locked_batch(conn, ls, key)
        stored = _locked_entries(conn, ls, key, batch)[2]
        missing = entry.unrecorded_steps(proto, stored.values)
        if not proto.has_step_form and not batch["link_to_clearing_spreadsheet"]:
            missing["link"] = [entry.LINK_REQUIRED_MESSAGE]
        if missing:
            raise SaveRefused(missing, 400)
        result.warnings = entry.order_warnings(proto, stored.values)
        now = _now()
        ls.Request.ClearingBatch.update1({**key, "clearing_progress": "complete", "completed_at": now})
        lots = _copy_lots_to_history(ls, key, batch, actor, now)
        _event(
            conn, "clearing.completed", key, f"{actor} completed clearing {_label(key)}", actor=actor,
            before={"clearing_progress": "in_progress"},
            after={"clearing_progress": "complete", "completed_at": now, **lots},
        )  # fmt: skip
    ids = emails.queue_completed(key, {**batch, "clearing_progress": "complete", "completed_at": now}, proto)
    db.session.commit()
    emails.dispatch(ids)
    return result


def _copy_lots_to_history(ls, key: dict, batch: dict, actor: str, now: dt.datetime) -> dict:
    if not (batch["antibody1"] or batch["antibody2"]):
        return {}
    lots = {"primary_lot": batch["antibody1_lot"] or "", "secondary_lot": batch["antibody2_lot"] or ""}
    rows = (ls.AntibodyHistory & key).to_dicts()
    if rows:
        ls.AntibodyHistory.update1(
            {"antibody_history_id": rows[0]["antibody_history_id"], **lots, "updated_by": actor, "updated_at": now}
        )
        return lots
    req = (ls.Request & {"username": key["username"], "request_name": key["request_name"]}).to_dicts()[0]
    ls.AntibodyHistory.insert1(
        dict(
            entry_date=to_local(now, _tz()).date(),
            brief_descriptor=req["description"][:128],
            animal_model=req["species"],
            primary_antibody=batch["antibody1"],
            primary_concentration="",
            secondary_antibody=batch["antibody2"],
            secondary_concentration="",
            primary_order_info="",
            secondary_order_info="",
            notes="",
            **lots,
            **key,
            created_by=actor,
            created_at=now,
            updated_by=None,
            updated_at=None,
        )
    )
    return lots


def reopen_batch(key: dict, reason: str, actor: str) -> None:
    """Admins: `complete` -> `in_progress`, with a reason kept in the event. No emails are re-sent."""
    reason = (reason or "").replace("\r\n", "\n").strip()
    if not reason:
        raise ClearingError("Give a reason for reopening.", 400)
    if len(reason) > REASON_MAX:
        raise ClearingError(f"The reason can be at most {REASON_MAX} characters.", 400)
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = _locked_batch(conn, ls, key)
        if batch["clearing_progress"] != "complete":
            raise ClearingError("Only a completed batch can be reopened.")
        ls.Request.ClearingBatch.update1({**key, "clearing_progress": "in_progress", "completed_at": None})
        _event(
            conn, "clearing.reopened", key, f"{actor} reopened clearing {_label(key)}: {reason}", actor=actor,
            before={"clearing_progress": "complete", "completed_at": batch["completed_at"]},
            after={"clearing_progress": "in_progress", "reason": reason},
        )  # fmt: skip
