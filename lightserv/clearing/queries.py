"""Reads of the clearing blueprint. Filtering, sorting and paging happen in MariaDB; no query per row."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select

from lightserv.auth.queries import list_assignable
from lightserv.common.keyed_page import KeyedSource, all_of, keyed_page
from lightserv.common.pagination import Page, PageRequest
from lightserv.common.sql import list_distinct, search_page
from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import EventLog
from lightserv.workflow.queue import QueueFilter as BaseQueueFilter

QUEUE_TABLES = ("in_progress", "pending", "complete")
#: ?sort= key -> column of the queue rows (`_QUEUE_COLUMNS` says where each comes from)
QUEUE_SORTS = {
    "progress": "clearing_progress",
    "submitted": "submitted_at",
    "handoff": "earliest_handoff",
    "protocol": "protocol_label",
    "antibody1": "antibody1",
    "antibody2": "antibody2",
    "request": "request_name",
    "owner": "username",
    "clearer": "clearer",
    "species": "species",
    "samples": "number_in_batch",
    "completed": "completed_at",
}
QUEUE_DEFAULT_SORT = {"in_progress": "submitted", "pending": "submitted", "complete": "completed"}
BATCH_KEY = ["username", "request_name", "clearing_batch_number"]
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
#: queue columns beyond the batch's own (alias b): SQL over the request r, the protocol p and the batch
_QUEUE_COLUMNS = {
    "submitted_at": "r.submitted_at",
    "species": "r.species",
    "protocol_label": "p.label",
    "colour": "p.colour",
    "earliest_handoff": "(SELECT MIN(s.expected_handoff_date) FROM {members} m JOIN {sample} s USING (username,"
    " request_name, sample_name) WHERE m.username = b.username AND m.request_name = b.request_name"
    " AND m.clearing_batch_number = b.clearing_batch_number)",
}


@dataclass(frozen=True)
class QueueFilter(BaseQueueFilter):
    protocol: str = ""  # one clearing protocol; "": all


def list_queue(progress: str, viewer: str, sees_all: bool, flt: QueueFilter, page: PageRequest) -> Page:
    """One table of the clearing queue: batches in `progress`, visible to `viewer`."""
    r = get_schemas().lightsheet.Request
    names = {"members": r.ClearingBatchSample.full_table_name, "sample": r.Sample.full_table_name}
    columns = {alias: sql.format(**names) for alias, sql in _QUEUE_COLUMNS.items()}
    where = all_of(
        ("b.clearing_progress = %s", (progress,)),
        ("b.clearer = %s", (viewer,)) if not sees_all or flt.only_mine else None,
        ("b.clearer IS NULL", ()) if flt.unassigned else None,
        ("b.protocol = %s", (flt.protocol,)) if flt.protocol else None,
        ("b.username = %s", (flt.owner,)) if flt.owner and USERNAME_RE.match(flt.owner) else None,
    )
    joins = {  # alias -> its join
        "r": f" JOIN {r.full_table_name} r ON r.username = b.username AND r.request_name = b.request_name",
        "p": f" JOIN {get_schemas().lightsheet.ClearingProtocol.full_table_name} p ON p.protocol = b.protocol",
    }
    source = KeyedSource(
        table=r.ClearingBatch.full_table_name,
        key=tuple(BATCH_KEY),
        where=where,
        columns="b.*, " + ", ".join(f"{sql} AS {alias}" for alias, sql in columns.items()),
        joins="".join(joins.values()),
    )
    sort = columns.get(QUEUE_SORTS[page.sort], "b." + QUEUE_SORTS[page.sort])
    return keyed_page(source, sort, page, sort_joins=joins.get(sort[0], ""))


def list_batch_owners(viewer: str, sees_all: bool) -> list[str]:
    """Owners having clearing batches (the queue's owner filter): of the viewer's own batches unless `sees_all`."""
    table = get_schemas().lightsheet.Request.ClearingBatch.full_table_name
    return list_distinct(table, "username", None if sees_all else ("clearer", viewer))


# --- one batch -----------------------------------------------------------------------------------------


def list_batch_samples(key: dict) -> list[dict]:
    ls = get_schemas().lightsheet
    return (ls.Request.Sample * (ls.Request.ClearingBatchSample & key)).to_dicts(order_by=["sample_name"])


def get_entries(key: dict) -> tuple[dict[str, dict], dict[str, dict]]:
    """(step key -> ClearingStepEntry row, section key -> ClearingSectionDate row) of a batch."""
    ls = get_schemas().lightsheet
    entries = {r["step_key"]: r for r in (ls.Request.ClearingStepEntry & key).to_dicts()}
    dates = {r["section_key"]: r for r in (ls.Request.ClearingSectionDate & key).to_dicts()}
    return entries, dates


def list_clearer_candidates(owner: str, self_clearing: bool) -> list[str]:
    """Who an admin may assign a batch to: active clearing staff and admins, or the owner of a
    self-clearing request."""
    return list_assignable("clearing_staff", owner, self_clearing)


def get_last_batch_field_change(key: dict, column: str) -> tuple[str | None, dt.datetime | None]:
    """Who last saved a batch-level field, and when, from the event log (the batch row keeps no per-field
    editor)."""
    rows = db.session.scalars(
        select(EventLog)
        .where(
            EventLog.request_username == key["username"],
            EventLog.request_name == key["request_name"],
            EventLog.entity_type == "clearing_batch",
        )
        .order_by(EventLog.id.desc())
        .limit(200)
    )
    for row in rows:
        entity = row.entity_key or {}
        if entity.get("clearing_batch_number") == key["clearing_batch_number"] and column in (row.after or {}):
            return row.actor, row.occurred_at
    return None, None


def list_imaging_batches(key: dict) -> list[dict]:
    """Every imaging batch of a clearing batch, of every imaging request number, with
    its member sample names."""
    ls = get_schemas().lightsheet
    batches = (ls.Request.ImagingBatch & key).to_dicts(order_by=["imaging_request_number", "imaging_batch_number"])
    members: dict[tuple[int, int], list[str]] = {}
    for row in (ls.Request.ImagingBatchSample & key).to_dicts(order_by=["sample_name"]):
        members.setdefault((row["imaging_request_number"], row["imaging_batch_number"]), []).append(row["sample_name"])
    for batch in batches:
        batch["samples"] = members.get((batch["imaging_request_number"], batch["imaging_batch_number"]), [])
    return batches


def list_batches_awaiting_clearing(cutoff: dt.date) -> list[dict]:
    """Pending batches (not self-cleared) whose earliest expected hand-off is on or before `cutoff`."""
    ls = get_schemas().lightsheet
    batches = (ls.Request.ClearingBatch & {"clearing_progress": "pending"}) & (ls.Request & "self_clearing = 0")
    handoff = batches.aggr(
        ls.Request.ClearingBatchSample * ls.Request.Sample,
        earliest_handoff="min(expected_handoff_date)",
        exclude_nonmatching=True,
    )
    due = handoff & f"earliest_handoff <= '{cutoff.isoformat()}'"
    return (due * batches * ls.ClearingProtocol.proj(protocol_label="label")).to_dicts(
        order_by=["earliest_handoff", *BATCH_KEY]
    )


# --- antibodies ----------------------------------------------------------------------------------------

HISTORY_SORTS = {
    "date": "entry_date",
    "description": "brief_descriptor",
    "notes": "notes",
    "primary": "primary_antibody",
    "primary_concentration": "primary_concentration",
    "primary_lot": "primary_lot",
    "secondary": "secondary_antibody",
    "secondary_concentration": "secondary_concentration",
    "secondary_lot": "secondary_lot",
    "animal_model": "animal_model",
    "owner": "username",
    "request": "request_name",
    "primary_order": "primary_order_info",
    "secondary_order": "secondary_order_info",
}
OVERVIEW_SORTS = {
    "description": "brief_descriptor",
    "animal_model": "animal_model",
    "primary": "primary_antibody",
    "secondary": "secondary_antibody",
    "updated": "updated_at",
}


HISTORY_SEARCH = ("primary_antibody", "secondary_antibody", "brief_descriptor", "notes")


def list_antibody_history(page: PageRequest, search: str) -> Page:
    """Rows whose antibodies, description or notes contain `search` (any text, matched literally)."""
    table = get_schemas().lightsheet.AntibodyHistory
    return search_page(table, HISTORY_SEARCH, search.strip()[:100], page, HISTORY_SORTS, ["antibody_history_id"])


def get_antibody_history(history_id: int) -> dict | None:
    rows = (get_schemas().lightsheet.AntibodyHistory & {"antibody_history_id": history_id}).to_dicts()
    return rows[0] if rows else None


def list_shared_requests(viewer: str) -> set[tuple[str, str]]:
    """Requests the viewer is named on as auditor or collaborator."""
    ls = get_schemas().lightsheet
    return {(r["username"], r["request_name"]) for r in (ls.Request.Access & {"grantee": viewer}).to_dicts()}


def list_antibody_overview(page: PageRequest) -> Page:
    query = get_schemas().lightsheet.AntibodyOverview()
    total = len(query)
    items = query.to_dicts(
        order_by=page.order_by(OVERVIEW_SORTS, ["antibody_overview_id"]), limit=page.per_page, offset=page.offset
    )
    return Page(items=items, total=total, request=page)


def get_antibody_overview(overview_id: int) -> dict | None:
    rows = (get_schemas().lightsheet.AntibodyOverview & {"antibody_overview_id": overview_id}).to_dicts()
    return rows[0] if rows else None


def get_last_insert_id(conn) -> int:
    """The id the connection's last insert generated."""
    return int(conn.query("SELECT LAST_INSERT_ID()").fetchone()[0])


def get_sample_clearing(sample_key: dict) -> dict:
    """The sample's clearing batch with its protocol label."""
    ls = get_schemas().lightsheet
    member = ls.Request.ClearingBatchSample & {k: sample_key[k] for k in ("username", "request_name", "sample_name")}
    rows = (ls.Request.ClearingBatch * ls.ClearingProtocol.proj(protocol_label="label") & member.proj()).to_dicts()
    return rows[0] if rows else {}
