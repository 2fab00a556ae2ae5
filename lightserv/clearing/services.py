"""Writes of a clearing batch: claim, start, release, assign (shared with imaging, see `lightserv.workflow`),
save, complete, reopen.

Each service takes plain keys, locks the batch row (`SELECT ... FOR UPDATE`) inside one DataJoint
transaction, checks its guard against the row as stored now, writes, appends its event in the same
transaction, and only after the commit queues emails. Guards raise `ClearingError` with the HTTP status
the view answers with (403: not this actor; 409: not in this state; 400: invalid input).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask import current_app

from lightserv.common.audit import utcnow
from lightserv.common.dispatch import commit_and_send
from lightserv.common.errors import DomainError
from lightserv.common.permissions import ADMIN
from lightserv.common.timefmt import format_datetime, to_local
from lightserv.db import get_schemas
from lightserv.workflow import services as workflow
from lightserv.workflow.queries import lock_rows
from lightserv.workflow.services import now as _now
from lightserv.workflow.services import retry_on_deadlock
from lightserv.workflow.stage import SaveRefused, Stage

from . import emails, entry, queries
from .catalogue import ProtocolDef, load_protocol

REASON_MAX = 500
BATCH_KEY = ("username", "request_name", "clearing_batch_number")


class ClearingError(DomainError):
    """A clearing action was refused."""


@dataclass
class SaveResult:
    written: list[str] = field(default_factory=list)  # group names written
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # steps out of time order, as sentences


def _tz() -> str:
    return current_app.config["SETTINGS"].display_timezone


def describe_batch(key: dict) -> str:
    """The batch in event summaries: "clearing ana/brains batch 1"."""
    return f"clearing {key['username']}/{key['request_name']} batch {key['clearing_batch_number']}"


CLEARING = Stage(
    name="clearing", table=lambda ls: ls.Request.ClearingBatch, key_attrs=BATCH_KEY,
    progress="clearing_progress", holder="clearer", staff_role="clearing_staff", entity="clearing_batch",
    release_action="clearing.assigned", error=ClearingError, label=describe_batch,
    candidates=lambda req: queries.list_clearer_candidates(req["username"], bool(req["self_clearing"])),
    queue_assigned=emails.queue_assigned,
    gone="This clearing batch no longer exists.", held_by="This batch is held by {holder}.",
    no_holder="This batch has no clearer.", staff_only="Only clearing staff can start this batch.",
    choose_staff="Choose a clearing staff member.",
)  # fmt: skip
claim_batch, start_batch, release_batch, assign_batch = workflow.services_of(CLEARING)


# --- saving -------------------------------------------------------------------------------------------


def _recording_batch(conn, ls, key: dict, actor: str, roles: frozenset[str], refusals: tuple[str, str]) -> dict:
    """The locked batch, when the actor may record on it now: its clearer (or an admin), while it is in
    progress. `refusals`: the messages when it is complete and when it is not started."""
    batch = CLEARING.locked_batch(conn, ls, key)
    if batch["clearer"] != actor and ADMIN not in roles:
        raise CLEARING.held_by_other(batch) if batch["clearer"] else ClearingError("Claim this batch first.", 403)
    if batch["clearing_progress"] != "in_progress":
        raise ClearingError(refusals[0] if batch["clearing_progress"] == "complete" else refusals[1])
    return batch


def _conflict_message(key: dict, group: entry.Group, stored: entry.Stored) -> str:
    by, at = stored.changed[group.name]
    if group.kind in ("lot", "batch"):
        by, at = queries.get_last_batch_field_change(key, group.key)
    return entry.CONFLICT_MESSAGE.format(
        user=by or "another user", time=format_datetime(at, _tz()) if at else "an earlier time"
    )


def _locked_entries(conn, ls, key: dict, batch: dict) -> tuple[dict, dict, entry.Stored]:
    """The batch's step entries and section dates (locked) and the form state they make."""
    entries = {r["step_key"]: r for r in lock_rows(conn, ls.Request.ClearingStepEntry, key, BATCH_KEY)}
    dates = {r["section_key"]: r for r in lock_rows(conn, ls.Request.ClearingSectionDate, key, BATCH_KEY)}
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
    action, summary = entry.EVENT_OF_KIND[group.kind], f"{group.label} saved for {describe_batch(key)}"
    if group.kind not in ("step", "section"):
        ls.Request.ClearingBatch.update1({**key, **values})
        before = {group.key: before[group.fields[0]] or None}
        CLEARING.event(conn, action, key, summary, actor=actor, before=before, after=values)
        return
    column, table, existing = (
        ("step_key", ls.Request.ClearingStepEntry, entries)
        if group.kind == "step"
        else ("section_key", ls.Request.ClearingSectionDate, dates)
    )
    row = {**key, column: group.key, **values, "updated_by": actor, "updated_at": now}
    (table.update1 if group.key in existing else table.insert1)(row)
    CLEARING.event(
        conn, action, key, summary, actor=actor, before=before, after={k: v for k, v in row.items() if k not in key},
        entity=(f"clearing_{group.kind}", {**key, column: group.key}),
    )  # fmt: skip


@retry_on_deadlock
def save_entries(key: dict, form: dict, group: str, actor: str, roles: frozenset[str]) -> SaveResult:
    """Save one group, or every changed group (`group == "all"`), in one transaction."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        refusals = ("This batch is complete. The form is read-only.", "Start clearing to record steps.")
        batch = _recording_batch(conn, ls, key, actor, roles, refusals)
        names = list(entry.groups_of(load_protocol(batch["protocol"]))) if group == "all" else [group]
        return _apply_saves(conn, ls, key, batch, form, names, explicit=group != "all", actor=actor)


def read_current_form(key: dict) -> tuple[ProtocolDef, dict[str, str]]:
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
    after the commit the completion emails. Refused, with nothing saved, while a step has neither
    a time nor a reason for skipping it; steps out of time order only warn."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        refusals = ("This batch is already complete.", "Start clearing before completing it.")
        batch = _recording_batch(conn, ls, key, actor, roles, refusals)
        proto = load_protocol(batch["protocol"])
        result = _apply_saves(conn, ls, key, batch, form, list(entry.groups_of(proto)), explicit=False, actor=actor)
        batch = CLEARING.locked_batch(conn, ls, key)
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
        CLEARING.event(
            conn, "clearing.completed", key, f"{actor} completed {describe_batch(key)}", actor=actor,
            before={"clearing_progress": "in_progress"},
            after={"clearing_progress": "complete", "completed_at": now, **lots},
        )  # fmt: skip
    ids = emails.queue_completed(key, {**batch, "clearing_progress": "complete", "completed_at": now}, proto)
    commit_and_send(ids)
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
        batch = CLEARING.locked_batch(conn, ls, key)
        if batch["clearing_progress"] != "complete":
            raise ClearingError("Only a completed batch can be reopened.")
        ls.Request.ClearingBatch.update1({**key, "clearing_progress": "in_progress", "completed_at": None})
        CLEARING.event(
            conn, "clearing.reopened", key, f"{actor} reopened {describe_batch(key)}: {reason}", actor=actor,
            before={"clearing_progress": "complete", "completed_at": batch["completed_at"]},
            after={"clearing_progress": "in_progress", "reason": reason},
        )  # fmt: skip
