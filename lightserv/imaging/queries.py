"""Reads of the imaging queue and batch pages. Filtering, sorting and paging happen in MariaDB; no query
per row (style.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lightserv.auth.queries import list_assignable
from lightserv.common.keyed_page import KeyedSource, all_of, keyed_page
from lightserv.common.pagination import Page, PageRequest
from lightserv.common.sql import list_distinct
from lightserv.db import get_schemas
from lightserv.workflow.queue import QueueFilter as BaseQueueFilter
from schemas.enums import MICROSCOPE_LABELS

QUEUE_TABLES = ("in_progress", "ready", "waiting", "complete")
#: ?sort= key -> column of the queue rows (`_QUEUE_COLUMNS` says where each comes from)
QUEUE_SORTS = {
    "submitted": "submitted_at",
    "request": "request_name",
    "owner": "username",
    "microscope": "microscopes",
    "resolutions": "resolutions",
    "clearing_batch": "clearing_batch_number",
    "imaging_request": "imaging_request_number",
    "imaging_batch": "imaging_batch_number",
    "samples": "number_in_imaging_batch",
    "clearer": "clearer",
    "clearing_progress": "clearing_progress",
    "imager": "imager",
    "species": "species",
    "completed": "completed_at",
}
QUEUE_DEFAULT_SORT = {"in_progress": "submitted", "ready": "submitted", "waiting": "submitted", "complete": "completed"}
BATCH_KEY = ["username", "request_name", "clearing_batch_number", "imaging_request_number", "imaging_batch_number"]
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
MICROSCOPES = ("lavision", "smartspim")
#: WHERE of a batch's members (alias m) of the batch b, for the correlated columns below
_OF_BATCH = (
    " WHERE m.username = b.username AND m.request_name = b.request_name"
    " AND m.clearing_batch_number = b.clearing_batch_number AND m.imaging_request_number = b.imaging_request_number"
    " AND m.imaging_batch_number = b.imaging_batch_number"
)
_SAME_REQUEST = (
    "{alias}.username = m.username AND {alias}.request_name = m.request_name AND {alias}.sample_name = m.sample_name"
    " AND {alias}.imaging_request_number = m.imaging_request_number"
)
#: FROM and WHERE of a batch's members with their resolution requests (x); with their imaging requests (i)
_RESOLUTIONS = "FROM {members} m JOIN {resolution} x ON " + _SAME_REQUEST.format(alias="x") + _OF_BATCH
_PROGRESS = "FROM {members} m JOIN {progress} i ON " + _SAME_REQUEST.format(alias="i") + _OF_BATCH
#: queue columns beyond the batch's own (alias b): the clearing batch cb, the request r, and what the batch's
#: own members ask for
_QUEUE_COLUMNS = {
    "clearing_progress": "cb.clearing_progress",
    "clearer": "cb.clearer",
    "cleared_at": "cb.completed_at",
    "species": "r.species",
    "microscopes": f"(SELECT GROUP_CONCAT(DISTINCT x.microscope ORDER BY x.microscope) {_RESOLUTIONS})",
    "resolutions": "(SELECT GROUP_CONCAT(DISTINCT x.image_resolution ORDER BY x.image_resolution SEPARATOR ', ')"
    f" {_RESOLUTIONS})",
    "samples_done": "(SELECT COUNT(DISTINCT IF(i.imaging_progress IN ('complete', 'skipped'), m.sample_name, NULL))"
    f" {_PROGRESS})",
}


@dataclass(frozen=True)
class QueueFilter(BaseQueueFilter):
    microscope: str = ""  # "lavision" / "smartspim" / ""


def microscope_label(microscopes: str | None) -> str:
    """ "lavision,smartspim" (the batch's own resolution requests) -> "LaVision & SmartSPIM"."""
    found = [m for m in MICROSCOPES if m in (microscopes or "").split(",")]
    return " & ".join(MICROSCOPE_LABELS[m] for m in found)


def list_queue(table: str, viewer: str, sees_all: bool, flt: QueueFilter, page: PageRequest) -> Page:
    """One table of the imaging queue: batches visible to `viewer` (imaging staff and admins: all; a
    self-imager: their own)."""
    r = get_schemas().lightsheet.Request
    names = {
        "members": r.ImagingBatchSample.full_table_name,
        "resolution": r.ImagingResolutionRequest.full_table_name,
        "progress": r.ImagingRequest.full_table_name,
    }
    columns = {alias: sql.format(**names) for alias, sql in _QUEUE_COLUMNS.items()}
    # clearing_state: the clearing batch's progress (lightserv.workflow.upstream)
    cleared = {"ready": "b.clearing_state = 'complete'", "waiting": "b.clearing_state <> 'complete'"}
    where = all_of(
        ("b.imaging_progress = %s", ("pending" if table in cleared else table,)),
        (cleared[table], ()) if table in cleared else None,
        ("b.imager = %s", (viewer,)) if not sees_all or flt.only_mine else None,
        ("b.imager IS NULL", ()) if flt.unassigned else None,
        ("b.username = %s", (flt.owner,)) if flt.owner and USERNAME_RE.match(flt.owner) else None,
        # a member asks for a resolution of that microscope
        (f"EXISTS (SELECT 1 {_RESOLUTIONS.format(**names)} AND x.microscope = %s)", (flt.microscope,))
        if flt.microscope in MICROSCOPES
        else None,
    )
    clearing = (
        f" JOIN {r.ClearingBatch.full_table_name} cb ON cb.username = b.username"
        " AND cb.request_name = b.request_name AND cb.clearing_batch_number = b.clearing_batch_number"
    )
    request = f" JOIN {r.full_table_name} r ON r.username = b.username AND r.request_name = b.request_name"
    source = KeyedSource(
        table=r.ImagingBatch.full_table_name,
        key=tuple(BATCH_KEY),
        where=where,
        columns="b.*, " + ", ".join(f"{sql} AS {alias}" for alias, sql in columns.items()),
        joins=clearing + request,
    )
    sort = columns.get(QUEUE_SORTS[page.sort], "b." + QUEUE_SORTS[page.sort])
    needs = {"r.": request, "cb.": clearing}
    result = keyed_page(source, sort, page, sort_joins=next((j for a, j in needs.items() if sort.startswith(a)), ""))
    for item in result.items:
        item["microscope_label"] = microscope_label(item["microscopes"])
    return result


def list_batch_owners(viewer: str, sees_all: bool) -> list[str]:
    """Owners having imaging batches (the queue's owner filter): of the viewer's own batches unless `sees_all`."""
    table = get_schemas().lightsheet.Request.ImagingBatch.full_table_name
    return list_distinct(table, "username", None if sees_all else ("imager", viewer))


# --- one batch -----------------------------------------------------------------------------------------


def list_batch_samples(key: dict) -> list[dict]:
    """Members of an imaging batch with their imaging request, sorted by sample name."""
    ls = get_schemas().lightsheet
    members = ls.Request.ImagingBatchSample & key
    requests = ls.Request.ImagingRequest.proj(
        "imaging_progress",
        "imaging_performed_date",
        "skip_reason",
        "notes_from_imaging",
        "validation_status",
        "validation_messages",
        sample_imager="imager",
    )
    return (members.join(requests, semantic_check=False) * ls.Request.Sample.proj("notes_for_clearer")).to_dicts(
        order_by=["sample_name"]
    )


def list_member_keys(key: dict) -> list[dict]:
    """Keys of the batch's member imaging requests (username, request_name, sample_name, imaging_request_number),
    sorted by sample name."""
    rows = (get_schemas().lightsheet.Request.ImagingBatchSample & key).to_dicts(order_by=["sample_name"])
    return [{k: r[k] for k in ("username", "request_name", "sample_name", "imaging_request_number")} for r in rows]


def list_batch_resolutions(key: dict) -> list[dict]:
    """Resolution requests of the batch's members (sample_name, image_resolution, microscope, notes)."""
    ls = get_schemas().lightsheet
    members = ls.Request.ImagingBatchSample & key
    return members.join(ls.Request.ImagingResolutionRequest, semantic_check=False).to_dicts(
        order_by=["sample_name", "image_resolution"]
    )


def list_batch_channels(key: dict) -> list[dict]:
    """Channel rows of every member sample, ordered by sample, resolution, wavelength, side."""
    ls = get_schemas().lightsheet
    members = ls.Request.ImagingBatchSample & key
    return members.join(ls.Request.ImagingChannel, semantic_check=False).to_dicts(
        order_by=["sample_name", "image_resolution", "ventral_up", "channel_name"]
    )


def list_requested_orientations(key: dict) -> dict[tuple[str, str], str]:
    """(sample, resolution) -> the output orientation the researcher asked for (their first processing
    request's dorsal row), for the batch's members; resolutions without processing (2x) are absent."""
    ls = get_schemas().lightsheet
    fields = ("username", "request_name", "sample_name", "imaging_request_number")
    members = [{f: m[f] for f in fields} for m in (ls.Request.ImagingBatchSample & key).to_dicts()]
    rows = (ls.Request.ProcessingResolutionRequest & members & {"ventral_up": 0}).to_dicts(
        order_by=["sample_name", "image_resolution", "processing_request_number"]
    )
    wishes: dict[tuple[str, str], str] = {}
    for r in rows:
        wishes.setdefault((r["sample_name"], r["image_resolution"]), r["final_orientation"])
    return wishes


#: events after which a sample's channel rows hold what the imager entered, not the request's defaults
ENTERED_ACTIONS = ("imaging.sample_saved", "imaging.sample_submitted", "imaging.parameters_applied")


def list_entered_samples(key: dict, members: set[str]) -> set[str]:
    """Which of the batch's `members` have channel parameters that imaging staff stored (Save, Submit, or
    Apply batch parameters while the sample was pending), from the event log."""
    from sqlalchemy import select

    from lightserv.extensions import db
    from lightserv.models import EventLog

    rows = db.session.execute(
        select(EventLog.action, EventLog.entity_key).where(
            EventLog.request_username == key["username"],
            EventLog.request_name == key["request_name"],
            EventLog.action.in_(ENTERED_ACTIONS),
        )
    )
    entered: set[str] = set()
    for action, entity in rows:
        if entity.get("imaging_request_number") != key["imaging_request_number"]:
            continue
        if action == "imaging.parameters_applied":
            if all(entity.get(k) == key[k] for k in ("clearing_batch_number", "imaging_batch_number")):
                return set(members)
        elif entity.get("sample_name") in members:
            entered.add(entity["sample_name"])
    return entered


def get_validation(sample_key: dict) -> dict:
    """`validation_status`, `validation_messages` and `imaging_progress` of one imaging request."""
    ls = get_schemas().lightsheet
    rows = (ls.Request.ImagingRequest & sample_key).to_dicts()
    if not rows:
        return {}
    return {k: rows[0][k] for k in ("imaging_progress", "validation_status", "validation_messages")}


# --- imaging log ---------------------------------------------------------------------------------------


def get_imaging_request(sample_key: dict) -> dict | None:
    """One sample's imaging request, or None."""
    rows = (get_schemas().lightsheet.Request.ImagingRequest & sample_key).to_dicts()
    return rows[0] if rows else None


def list_sample_channels(sample_key: dict) -> list[dict]:
    """Channel rows of one imaging request with their microscope."""
    ls = get_schemas().lightsheet
    return ((ls.Request.ImagingChannel & sample_key) * ls.Request.ImagingResolutionRequest.proj("microscope")).to_dicts(
        order_by=["image_resolution", "ventral_up", "channel_name"]
    )


def list_raw_layers(sample_key: dict) -> dict[tuple[str, str, int, str], str]:
    """(resolution, channel, ventral_up, sheet) -> status of its raw layer."""
    ls = get_schemas().lightsheet
    rows = (ls.Request.DataLayer & sample_key & {"product": "raw"}).to_dicts()
    return {
        (r["image_resolution"], r["channel_name"], int(r["ventral_up"]), r["lightsheet"]): r["status"] for r in rows
    }


def list_imager_candidates(owner: str, self_imaging: bool) -> list[str]:
    """Who an admin may assign an imaging batch to: active imaging staff and admins, or the owner of a
    self-imaging request."""
    return list_assignable("imaging_staff", owner, self_imaging)


def list_batches_waiting_for_imaging(cleared_before) -> list[dict]:
    """Pending imaging batches whose clearing batch completed before `cleared_before` (UTC)."""
    ls = get_schemas().lightsheet
    cleared = ls.Request.ClearingBatch.proj(cleared_at="completed_at", clearing_progress="clearing_progress") & {
        "clearing_progress": "complete"
    }
    cleared = cleared & f"cleared_at < '{cleared_before:%Y-%m-%d %H:%M:%S}'"
    batches = (ls.Request.ImagingBatch & {"imaging_progress": "pending"}) * cleared.proj("cleared_at")
    return batches.to_dicts(order_by=["cleared_at", "username", "request_name"])


# --- additional imaging ----------------------------------------------------------------------------------


def list_requested_imaging(key: dict) -> list[dict]:
    """Every channel already requested for the request's samples, each with its imaging request's progress."""
    ls = get_schemas().lightsheet
    channels = (ls.Request.ImagingChannel & key).to_dicts(
        order_by=["sample_name", "imaging_request_number", "image_resolution", "channel_name", "ventral_up"]
    )
    progress = {
        (r["sample_name"], r["imaging_request_number"]): r["imaging_progress"]
        for r in (ls.Request.ImagingRequest & key).to_dicts()
    }
    for c in channels:
        c["imaging_progress"] = progress.get((c["sample_name"], c["imaging_request_number"]), "")
    return channels


def list_sample_names(key: dict) -> list[str]:
    """The request's sample names in order."""
    return sorted((get_schemas().lightsheet.Request.Sample & key).to_arrays("sample_name").tolist())
