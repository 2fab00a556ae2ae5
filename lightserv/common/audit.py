"""The event log: one helper every service calls. Rows are only ever inserted.

`record_event` adds the row to the current SQLAlchemy session; the calling service commits it together
with its own writes. For writes made through DataJoint, pass the DataJoint connection as `dj_conn` and
the row is inserted through that connection, inside its open transaction, so the scientific record and
its audit row commit or roll back together.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from flask import g, has_app_context, has_request_context, request
from flask_login import current_user

from lightserv.extensions import db
from lightserv.models import EventLog


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def correlation_id() -> str:
    """One id per HTTP request or task, shared by every event it writes."""
    if has_app_context():
        if "correlation_id" not in g:
            g.correlation_id = uuid.uuid4().hex
        return g.correlation_id
    return uuid.uuid4().hex


def _current_actor() -> tuple[str | None, str | None]:
    if has_request_context():
        actor = current_user.get_id() if current_user and current_user.is_authenticated else None
        return actor, request.remote_addr
    return None, None


_SYSTEM = object()


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str))


def record_event(
    action: str,
    entity_type: str,
    entity_key: dict,
    summary: str,
    *,
    request_key: tuple[str, str] | None = None,
    before: dict | None = None,
    after: dict | None = None,
    actor: Any = _SYSTEM,
    dj_conn=None,
) -> None:
    """Append one event. `actor` defaults to the logged-in user (None = system in background work)."""
    if actor is _SYSTEM:
        actor_name, actor_ip = _current_actor()
    else:
        actor_name, actor_ip = actor, (request.remote_addr if has_request_context() else None)
    row = dict(
        occurred_at=utcnow(),
        actor=actor_name,
        actor_ip=actor_ip,
        action=action,
        entity_type=entity_type,
        entity_key=_jsonable(entity_key),
        request_username=request_key[0] if request_key else None,
        request_name=request_key[1] if request_key else None,
        summary=summary[:512],
        before=_jsonable(before),
        after=_jsonable(after),
        correlation_id=correlation_id(),
    )
    if dj_conn is not None:
        from flask import current_app

        table = f"`{current_app.config['SETTINGS'].app_database}`.`event_log`"
        cols = list(row)
        values = [
            json.dumps(v) if k in ("entity_key", "before", "after") and v is not None else v for k, v in row.items()
        ]
        dj_conn.query(
            f"INSERT INTO {table} ({', '.join(f'`{c}`' for c in cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
            args=tuple(values),
        )
        return
    db.session.add(EventLog(**row))
