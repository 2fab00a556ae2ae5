"""Every piece of background work goes through one outbox (`task_outbox`).

`enqueue(task_name, *args, key=...)` writes a row naming the Celery task and its JSON arguments in the same
transaction as the change that causes it: through the DataJoint connection when a DataJoint transaction is
open (both stores live on one MariaDB server, the row goes to `<prefix>app` on that connection), otherwise
in the SQLAlchemy session that the caller commits. Nothing talks to the broker there, so a Redis outage
cannot fail the action.

The relay hands committed `pending` rows to Celery: at once after the commit (`commit_and_send`, the one
after-commit step of every service; the end of the web request, task or app context that enqueued), and
every TASK_RELAY_SECONDS from beat for whatever is left. Rows
are claimed with `FOR UPDATE SKIP LOCKED`, published with the task id `outbox:<database>:<row>` and marked
`sent` in that same transaction: at least once (a relay killed between publishing and its commit publishes
again). The worker makes it once: a message whose row is already `done` is skipped, and the task bodies
are idempotent for the remaining case of two copies running at the same moment.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from celery import Celery
from flask import Flask, current_app, flash, g, has_app_context
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert

from lightserv.common.audit import utcnow
from lightserv.extensions import db
from lightserv.models import TaskOutbox

log = logging.getLogger(__name__)

WAITING_MESSAGE = (
    "Saved. The background work it starts will begin as soon as the task queue is reachable again; "
    "there is nothing to do again."
)
BATCH = 50
#: a `sent` row not finished after this long lost its message (a broker restarted without its data)
RESEND_AFTER = dt.timedelta(hours=2)
MAX_SENDS = 3
_PREFIX = "outbox:"
#: the Celery task that sends one row of the email outbox
SEND_EMAIL = "lightserv.send_email"
#: what a broker outage raises when publishing
BROKER_ERRORS = (OperationalError, RedisConnectionError, RedisTimeoutError, OSError)


def enqueue(
    task_name: str,
    *args,
    key: str | None = None,
    what: str = "",
    request_key: tuple[str, str] | None = None,
    countdown: float = 0,
    committed: bool = False,
) -> str:
    """Record `task_name(*args)` in the open transaction: the DataJoint one when open, else the SQLAlchemy
    session, which the caller commits. `committed=True` says the caller commits nothing more (its change is
    committed): without an open DataJoint transaction the row is written in its own transaction and relayed at
    once. `key` makes one event enqueue once (default: a fresh key); `countdown` delays the task. Returns the
    key."""
    from lightserv.db import get_schemas

    dedupe_key = (key or uuid.uuid4().hex)[:255]
    now = utcnow()
    row = dict(
        created_at=now,
        task_name=task_name,
        args=json.loads(json.dumps(list(args), default=str)),
        dedupe_key=dedupe_key,
        status="pending",
        not_before=now + dt.timedelta(seconds=countdown),
        sends=0,
        last_error="",
        what=what[:255],
        request_username=request_key[0] if request_key else None,
        request_name=request_key[1] if request_key else None,
    )
    statement = mysql_insert(TaskOutbox).values(**row).on_duplicate_key_update(id=TaskOutbox.id)
    dj_conn = get_schemas().connection
    own = committed and not dj_conn.in_transaction
    if own:
        with db.engine.begin() as conn:
            conn.execute(statement)
    elif dj_conn.in_transaction:
        table = f"`{current_app.config['SETTINGS'].app_database}`.`task_outbox`"
        cols = ", ".join(f"`{c}`" for c in row)
        values = tuple(json.dumps(v) if c == "args" else v for c, v in row.items())
        dj_conn.query(
            f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(row))}) ON DUPLICATE KEY UPDATE id = id",
            args=values,
        )
    else:
        db.session.execute(statement)
    if has_app_context():
        g.setdefault("outbox_pending", []).append(dedupe_key)
        if own:
            relay_pending()
    return dedupe_key


@dataclass
class Relayed:
    keys: list[str] = field(default_factory=list)  # the rows handed to the broker
    broker_down: bool = False


def _publish(celery: Celery, task_name: str, **options) -> None:
    """Send a task to the broker through the task registered here (eager mode, tests' stand-ins), else by name."""
    task = celery.tasks.get(task_name)
    if task is None:
        celery.send_task(task_name, **options)
    else:
        task.apply_async(**options)


def task_id_of(row_id: int) -> str:
    return f"{_PREFIX}{current_app.config['SETTINGS'].app_database}:{row_id}"


def relay(keys: list[str] | None = None) -> Relayed:
    """Hand `pending` rows (only those with `keys` when given; a delayed one with its ETA) to the broker, and
    re-send `sent` rows whose message was lost. Stops at the first broker error; the rows stay for the next relay."""
    celery = current_app.extensions["celery"]
    result = Relayed()
    now = utcnow()
    # a delayed row goes to the broker at once with its ETA: the worker holds it, as a Celery countdown would
    due = TaskOutbox.status == "pending"
    lost = (TaskOutbox.status == "sent") & (TaskOutbox.sent_at < now - RESEND_AFTER) & (TaskOutbox.sends < MAX_SENDS)
    where = due if keys is not None else due | lost
    if keys is not None:
        if not keys:
            return result
        where = where & TaskOutbox.dedupe_key.in_(keys)
    last_id = 0
    # its own connection: sees committed rows only, commits nothing else; READ COMMITTED locks the claimed rows
    # and no gaps, so enqueueing elsewhere never waits for a relay
    with db.engine.connect().execution_options(isolation_level="READ COMMITTED") as conn:
        while True:
            with conn.begin():
                rows = conn.execute(
                    select(
                        TaskOutbox.id,
                        TaskOutbox.task_name,
                        TaskOutbox.args,
                        TaskOutbox.dedupe_key,
                        TaskOutbox.not_before,
                    )
                    .where(where, TaskOutbox.id > last_id)
                    .order_by(TaskOutbox.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                ).all()
                for row in rows:
                    last_id = row.id
                    options = {"args": list(row.args), "task_id": task_id_of(row.id)}
                    if row.not_before > now:
                        options["eta"] = row.not_before.replace(tzinfo=dt.UTC)
                    try:
                        _publish(celery, row.task_name, **options)
                    except BROKER_ERRORS as exc:
                        log.warning("background work stays in the outbox, the broker is unavailable: %s", exc)
                        conn.execute(
                            update(TaskOutbox)
                            .where(TaskOutbox.id == row.id)
                            .values(last_error=f"broker unavailable: {exc}"[:1024])
                        )
                        result.broker_down = True
                        return result
                    conn.execute(
                        update(TaskOutbox)
                        .where(TaskOutbox.id == row.id)
                        .values(status="sent", sent_at=utcnow(), sends=TaskOutbox.sends + 1, last_error="")
                    )
                    result.keys.append(row.dedupe_key)
            if len(rows) < BATCH:
                return result


def relay_pending() -> Relayed:
    """Relay what this app context enqueued and has been committed since; once the broker failed in this
    context, leave the rest to beat (one wait per request at most)."""
    if not has_app_context() or not g.get("outbox_pending") or g.get("outbox_broker_down"):
        return Relayed()
    keys = list(g.outbox_pending)
    try:
        result = relay(keys)
    except Exception:  # the action is saved; beat relays its work
        log.exception("relay after commit failed")
        return Relayed()
    if result.broker_down:
        g.outbox_broker_down = True
    sent = set(result.keys)
    g.outbox_pending = [key for key in g.get("outbox_pending", []) if key not in sent]
    return result


def commit_and_send(email_ids: Iterable[int | None] = ()) -> None:
    """Commit the session, then hand its work to the broker: the background tasks it enqueued, then the queued
    emails (`email_ids`; None entries are skipped). When the broker is down everything stays in the outboxes and
    beat sends it once the broker is back, so an action whose change is saved never fails because of it."""
    pending = [outbox_id for outbox_id in email_ids if outbox_id is not None]
    db.session.commit()
    relay_pending()
    celery = current_app.extensions["celery"]
    for n, outbox_id in enumerate(pending):
        try:
            _publish(celery, SEND_EMAIL, args=[outbox_id])
        except BROKER_ERRORS as exc:
            log.warning("emails %s stay queued, the broker is unavailable: %s", pending[n:], exc)
            return


def _row_of(task_id: str | None) -> int | None:
    """The outbox row of a Celery message relayed by this deployment, else None."""
    if not task_id or not task_id.startswith(_PREFIX):
        return None
    database, _, row_id = task_id[len(_PREFIX) :].rpartition(":")
    if database != current_app.config["SETTINGS"].app_database or not row_id.isdigit():
        return None
    return int(row_id)


def already_done(task_id: str | None) -> bool:
    row_id = _row_of(task_id)
    if row_id is None:
        return False
    with db.engine.connect() as conn:
        status = conn.execute(select(TaskOutbox.status).where(TaskOutbox.id == row_id)).scalar()
    return status == "done"


def mark_finished(task_id: str | None, error: str = "") -> None:
    """The worker's end of a relayed message: `done`, or `failed` with the error (never sent again)."""
    row_id = _row_of(task_id)
    if row_id is None:
        return
    with db.engine.begin() as conn:
        conn.execute(
            update(TaskOutbox)
            .where(TaskOutbox.id == row_id)
            .values(status="failed" if error else "done", finished_at=utcnow(), last_error=error[:1024])
        )


def _after_request(response):
    relay_pending()
    if g.get("outbox_broker_down") and not g.get("outbox_told"):
        g.outbox_told = True
        flash(WAITING_MESSAGE, "warning")
    return response


def _teardown(exc: BaseException | None) -> None:
    relay_pending()  # what the context committed (rolled-back rows do not exist)
    g.pop("outbox_pending", None)


def init_app(app: Flask) -> None:
    """Relay after each request (with the waiting message when the broker is down) and when an app context
    ends (tasks, commands); services relay earlier with `relay_pending()` right after their commit."""
    app.after_request(_after_request)
    app.teardown_appcontext(_teardown)
