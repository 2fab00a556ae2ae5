"""Reads of the imaging queue and batch pages. Filtering, sorting and paging happen in MariaDB; no query
per row (style.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lightserv.common.pagination import Page, PageRequest
from lightserv.db import get_schemas
from schemas.enums import MICROSCOPE_LABELS

#: table -> (imaging batch progress, restriction on the clearing batch)
QUEUE_TABLES = ("in_progress", "ready", "waiting", "complete")
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


@dataclass(frozen=True)
class QueueFilter:
    only_mine: bool = False
    microscope: str = ""  # "lavision" / "smartspim" / ""
    owner: str = ""


def microscope_label(microscopes: str | None) -> str:
    """ "lavision,smartspim" (the batch's own resolution requests) -> "LaVision & SmartSPIM"."""
    found = [m for m in MICROSCOPES if m in (microscopes or "").split(",")]
    return " & ".join(MICROSCOPE_LABELS[m] for m in found)


def _queue_expression(table: str, viewer: str, sees_all: bool, flt: QueueFilter):
    ls = get_schemas().lightsheet
    progress = "pending" if table in ("ready", "waiting") else table
    batches = ls.Request.ImagingBatch & {"imaging_progress": progress}
    if not sees_all or flt.only_mine:
        batches = batches & {"imager": viewer}
    if flt.owner and USERNAME_RE.match(flt.owner):
        batches = batches & {"username": flt.owner}
    clearing = ls.Request.ClearingBatch.proj("clearing_progress", "clearer")
    if table == "ready":
        clearing = clearing & {"clearing_progress": "complete"}
    elif table == "waiting":
        clearing = clearing & "clearing_progress != 'complete'"
    # microscopes, resolutions and progress come from this batch's own members (imaging.md §2)
    # ImagingBatchSample and ImagingRequest number imaging requests through different foreign keys
    members = ls.Request.ImagingBatchSample.join(
        ls.Request.ImagingRequest.proj(sample_progress="imaging_progress")
        * ls.Request.ImagingResolutionRequest.proj("microscope"),
        semantic_check=False,
    )
    summary = batches.aggr(
        members,
        microscopes="group_concat(distinct microscope order by microscope)",
        resolutions="group_concat(distinct image_resolution order by image_resolution separator ', ')",
        samples_done="count(distinct if(sample_progress in ('complete', 'skipped'), sample_name, null))",
    )
    if flt.microscope in MICROSCOPES:
        summary = summary & f"find_in_set('{flt.microscope}', microscopes)"
    return batches * summary * clearing * ls.Request.proj("species")


def list_queue(table: str, viewer: str, sees_all: bool, flt: QueueFilter, page: PageRequest) -> Page:
    """One table of the imaging queue: batches visible to `viewer` (imaging staff and admins: all; a
    self-imager: their own)."""
    query = _queue_expression(table, viewer, sees_all, flt)
    total = len(query)
    items = query.to_dicts(order_by=page.order_by(QUEUE_SORTS, BATCH_KEY), limit=page.per_page, offset=page.offset)
    for item in items:
        item["microscope_label"] = microscope_label(item["microscopes"])
    return Page(items=items, total=total, request=page)


def list_batch_owners(viewer: str, sees_all: bool) -> list[str]:
    """Owners having imaging batches (the queue's owner filter)."""
    ls = get_schemas().lightsheet
    batches = ls.Request.ImagingBatch() if sees_all else ls.Request.ImagingBatch & {"imager": viewer}
    return sorted({r["username"] for r in (ls.Request & batches.proj()).proj().to_dicts()})


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


def get_validation(sample_key: dict) -> dict:
    """`validation_status`, `validation_messages` and `imaging_progress` of one imaging request."""
    ls = get_schemas().lightsheet
    rows = (ls.Request.ImagingRequest & sample_key).to_dicts()
    if not rows:
        return {}
    return {k: rows[0][k] for k in ("imaging_progress", "validation_status", "validation_messages")}


# --- imaging log ---------------------------------------------------------------------------------------


def list_sample_channels(sample_key: dict) -> list[dict]:
    """Channel rows of one imaging request with their microscope."""
    ls = get_schemas().lightsheet
    return ((ls.Request.ImagingChannel & sample_key) * ls.Request.ImagingResolutionRequest.proj("microscope")).to_dicts(
        order_by=["image_resolution", "ventral_up", "channel_name"]
    )


def get_sample_clearing(sample_key: dict) -> dict:
    """The sample's clearing batch with its protocol label."""
    ls = get_schemas().lightsheet
    member = ls.Request.ClearingBatchSample & {k: sample_key[k] for k in ("username", "request_name", "sample_name")}
    rows = (ls.Request.ClearingBatch * ls.ClearingProtocol.proj(protocol_label="label") & member.proj()).to_dicts()
    return rows[0] if rows else {}


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
    from sqlalchemy import select

    from lightserv.extensions import db
    from lightserv.models import Account, RoleGrant

    staff = set(
        db.session.scalars(
            select(RoleGrant.username)
            .join(Account, Account.username == RoleGrant.username)
            .where(RoleGrant.role.in_(["imaging_staff", "facility_admin"]), Account.active.is_(True))
        )
    )
    if self_imaging:
        staff.add(owner)
    return sorted(staff)


def get_user_email(username: str) -> str:
    rows = (get_schemas().lightsheet.User & {"username": username}).to_dicts()
    return rows[0]["email"] if rows else ""


def list_batches_waiting_for_imaging(cleared_before) -> list[dict]:
    """Pending imaging batches whose clearing batch completed before `cleared_before` (UTC)."""
    ls = get_schemas().lightsheet
    cleared = ls.Request.ClearingBatch.proj(cleared_at="completed_at", clearing_progress="clearing_progress") & {
        "clearing_progress": "complete"
    }
    cleared = cleared & f"cleared_at < '{cleared_before:%Y-%m-%d %H:%M:%S}'"
    batches = (ls.Request.ImagingBatch & {"imaging_progress": "pending"}) * cleared.proj("cleared_at")
    return batches.to_dicts(order_by=["cleared_at", "username", "request_name"])
