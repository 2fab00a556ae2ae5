"""Reads of the event log for the admin page and its CSV export."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import func, select

from lightserv.common.pagination import Page, PageRequest
from lightserv.common.sql import like_prefix
from lightserv.extensions import db
from lightserv.models import EventLog

EVENT_SORTS = {"occurred_at": "occurred_at", "actor": "actor", "action": "action"}
CSV_LIMIT = 100_000


@dataclass(frozen=True)
class EventFilter:
    actor: str = ""
    action_prefix: str = ""
    request_username: str = ""
    request_name: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @classmethod
    def from_args(cls, args) -> EventFilter:
        def date(name: str) -> dt.date | None:
            try:
                return dt.date.fromisoformat(args.get(name, "")[:10])
            except ValueError:
                return None

        return cls(
            actor=args.get("actor", "")[:32].strip(),
            action_prefix=args.get("action", "")[:64].strip(),
            request_username=args.get("owner", "")[:32].strip(),
            request_name=args.get("request", "")[:64].strip(),
            date_from=date("from"),
            date_to=date("to"),
        )


def _filtered(f: EventFilter):
    query = select(EventLog)
    if f.actor:
        query = query.where(EventLog.actor == f.actor)
    if f.action_prefix:
        query = query.where(EventLog.action.like(like_prefix(f.action_prefix), escape="!"))
    if f.request_username:
        query = query.where(EventLog.request_username == f.request_username)
    if f.request_name:
        query = query.where(EventLog.request_name == f.request_name)
    if f.date_from:
        query = query.where(EventLog.occurred_at >= dt.datetime.combine(f.date_from, dt.time()))
    if f.date_to:
        query = query.where(EventLog.occurred_at < dt.datetime.combine(f.date_to + dt.timedelta(days=1), dt.time()))
    return query


def list_events(f: EventFilter, page: PageRequest) -> Page:
    query = _filtered(f)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    column = getattr(EventLog, EVENT_SORTS[page.sort])
    order = column.asc() if page.direction == "asc" else column.desc()
    tiebreak = EventLog.id.asc() if page.direction == "asc" else EventLog.id.desc()
    rows = db.session.scalars(query.order_by(order, tiebreak).limit(page.per_page).offset(page.offset)).all()
    return Page(items=list(rows), total=total or 0, request=page)


def diff(before: dict | None, after: dict | None) -> list[tuple[str, str, str]]:
    """(field, before, after) for every top-level field that differs."""
    before, after = before or {}, after or {}
    rows = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            rows.append((key, _show(before.get(key)), _show(after.get(key))))
    return rows


def _show(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)[:500]


CSV_HEADER = ["occurred_at_utc", "actor", "actor_ip", "action", "entity_type", "entity_key", "request_owner",
              "request_name", "summary", "before", "after"]  # fmt: skip


def csv_row(e: EventLog) -> list:
    return [
        e.occurred_at.isoformat(),
        e.actor or "system",
        e.actor_ip or "",
        e.action,
        e.entity_type,
        json.dumps(e.entity_key),
        e.request_username or "",
        e.request_name or "",
        e.summary,
        json.dumps(e.before) if e.before is not None else "",
        json.dumps(e.after) if e.after is not None else "",
    ]
