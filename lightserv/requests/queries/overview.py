"""The request overview: the request's rows in a fixed number of queries, and its event-log rows."""

from __future__ import annotations

from lightserv.common.pagination import Page, PageRequest
from lightserv.common.status import derive_status
from lightserv.db import get_schemas

from . import get_request_counts
from .samples import attach_imaging


def get_overview(owner: str, request_name: str) -> dict:
    """Everything the overview shows except the activity, in a fixed number of queries whatever the
    number of samples: counts, access rows, clearing batches, samples with every imaging and
    processing request."""
    ls = get_schemas().lightsheet
    key = {"username": owner, "request_name": request_name}
    access = ((ls.Request.Access & key) * ls.User.proj("email", grantee="username")).to_dicts(order_by=["grantee"])
    protocols = ls.ClearingProtocol.proj("has_step_form", protocol_label="label")
    batches = ((ls.Request.ClearingBatch & key) * protocols).to_dicts(order_by=["clearing_batch_number"])
    samples = (ls.Request.Sample & key).to_dicts(order_by=["sample_name"])
    batch_of = {r["sample_name"]: r["clearing_batch_number"] for r in (ls.Request.ClearingBatchSample & key).to_dicts()}
    by_number = {b["clearing_batch_number"]: b for b in batches}
    for b in batches:
        b["samples"], b["earliest_handoff"] = [], None
    for s in samples:
        batch = by_number.get(batch_of.get(s["sample_name"]))
        s["batch"] = batch
        if batch is not None:
            batch["samples"].append(s["sample_name"])
            handoff = s["expected_handoff_date"]
            if handoff and (batch["earliest_handoff"] is None or handoff < batch["earliest_handoff"]):
                batch["earliest_handoff"] = handoff
    attach_imaging(samples, key)
    counts = get_request_counts(owner, request_name)
    return {"counts": counts, "status": derive_status(counts), "access": access, "batches": batches, "samples": samples}


def list_request_events(owner: str, request_name: str, page: int, per_page: int = 20) -> Page:
    """The event-log rows of one request, newest first (SQLAlchemy, application database)."""
    from sqlalchemy import func, select

    from lightserv.extensions import db
    from lightserv.models import EventLog

    where = (EventLog.request_username == owner, EventLog.request_name == request_name)
    total = db.session.scalar(select(func.count()).select_from(EventLog).where(*where)) or 0
    request = PageRequest(page=page, per_page=per_page, sort="occurred_at", direction="desc")
    items = list(
        db.session.scalars(
            select(EventLog)
            .where(*where)
            .order_by(EventLog.occurred_at.desc(), EventLog.id.desc())
            .limit(per_page)
            .offset(request.offset)
        )
    )
    return Page(items=items, total=total, request=request)
