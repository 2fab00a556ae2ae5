"""Claim, start, release and assign a batch of any stage (see `Stage`).

Each service takes plain keys, locks the batch row inside one DataJoint transaction, checks its guard
against the row as stored now, writes, appends its event in the same transaction, and only after the
commit sends emails. Guards raise the stage's error with the HTTP status the view answers with
(403: not this actor; 409: not in this state; 400: invalid input; 404: gone).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lightserv.common.audit import utcnow
from lightserv.common.dispatch import commit_and_send
from lightserv.common.permissions import ADMIN
from lightserv.db import get_schemas

from .stage import Stage

log = logging.getLogger(__name__)
DEADLOCK = 1213  # ER_LOCK_DEADLOCK: InnoDB rolled the victim's whole transaction back
DEADLOCK_ATTEMPTS = 3


def now() -> dt.datetime:
    """The time stored on workflow rows: UTC, whole seconds."""
    return utcnow().replace(microsecond=0)


@contextmanager
def _locked(stage: Stage, key: dict, *, open_only: bool = False) -> Iterator[tuple[Any, Any, dict]]:
    """Schema, connection and the batch row locked inside one transaction; `open_only`: refused once the
    batch is complete."""
    schemas = get_schemas()
    ls, conn = schemas.lightsheet, schemas.connection
    with conn.transaction:
        batch = stage.locked_batch(conn, ls, key)
        if open_only and batch[stage.progress] == "complete":
            raise stage.error("This batch is complete.")
        yield ls, conn, batch


def _hold(stage: Stage, ls, conn, key: dict, holder: str, *, before: str | None, action: str, summary: str, actor: str):
    """Holder = `holder` since now, with its event; returns the time."""
    when = now()
    stage.table(ls).update1({**key, stage.holder: holder, "claimed_at": when})
    after = {stage.holder: holder, "claimed_at": when}
    stage.event(conn, action, key, summary, actor=actor, before={stage.holder: before}, after=after)
    return when


def claim_batch(stage: Stage, key: dict, actor: str) -> bool:
    """Holder = actor. Returns False when the actor already held it (nothing changes)."""
    with _locked(stage, key, open_only=True) as (ls, conn, batch):
        if batch[stage.holder] == actor:
            return False
        if batch[stage.holder]:
            raise stage.held_by_other(batch)
        summary = f"{actor} claimed {stage.label(key)}"
        _hold(stage, ls, conn, key, actor, before=None, action=f"{stage.name}.claimed", summary=summary, actor=actor)
    return True


def start_batch(stage: Stage, key: dict, actor: str, roles: frozenset[str]) -> None:
    """`pending` -> `in_progress`: the holder; the team's staff when unassigned (they claim it); admins.
    The stage's own start rule (`may_start`) is checked last, and its `started` writes run with the start."""
    with _locked(stage, key) as (ls, conn, batch):
        if batch[stage.progress] != "pending":
            raise stage.error("This batch has already been started.")
        holder = batch[stage.holder]
        if holder != actor and ADMIN not in roles:
            if holder:
                raise stage.held_by_other(batch)
            if stage.staff_role not in roles:
                raise stage.error(stage.staff_only, 403)
        if stage.may_start:
            stage.may_start(conn, ls, key)
        when = now()
        changes: dict = {stage.progress: "in_progress", "started_at": when}
        if not holder:
            changes.update({stage.holder: actor, "claimed_at": when})
        stage.table(ls).update1({**key, **changes})
        after = stage.started(ls, key, changes, changes.get(stage.holder, holder)) if stage.started else changes
        stage.event(
            conn, f"{stage.name}.started", key, f"{actor} started {stage.label(key)}", actor=actor,
            before={stage.progress: "pending", stage.holder: holder}, after=after,
        )  # fmt: skip


def release_batch(stage: Stage, key: dict, actor: str, roles: frozenset[str]) -> None:
    """The holder (or an admin) gives a batch back: no holder. Not once it is complete."""
    with _locked(stage, key, open_only=True) as (ls, conn, batch):
        if not batch[stage.holder]:
            raise stage.error(stage.no_holder)
        if batch[stage.holder] != actor and ADMIN not in roles:
            raise stage.held_by_other(batch)
        stage.table(ls).update1({**key, stage.holder: None, "claimed_at": None})
        stage.event(
            conn, stage.release_action, key, f"{actor} released {stage.label(key)}", actor=actor,
            before={stage.holder: batch[stage.holder]}, after={stage.holder: None},
        )  # fmt: skip


def assign_batch(stage: Stage, key: dict, assignee: str, actor: str) -> None:
    """Admins: holder = one of the stage's candidates; the new holder is emailed unless they assigned
    themselves."""
    ls = get_schemas().lightsheet
    req = (ls.Request & {"username": key["username"], "request_name": key["request_name"]}).fetch1()
    if assignee not in stage.candidates(req):
        raise stage.error(stage.choose_staff, 400)
    with _locked(stage, key, open_only=True) as (ls, conn, batch):
        if batch[stage.holder] == assignee:
            raise stage.error(f"This batch is already assigned to {assignee}.")
        summary = f"{actor} assigned {stage.label(key)} to {assignee}"
        action, before = f"{stage.name}.assigned", batch[stage.holder]
        when = _hold(stage, ls, conn, key, assignee, before=before, action=action, summary=summary, actor=actor)
    ids = [] if assignee == actor else [stage.queue_assigned(key, batch, assignee, when)]
    commit_and_send(ids)


def services_of(stage: Stage) -> tuple[Callable[..., Any], ...]:
    """claim, start, release and assign bound to `stage`: the team's own service functions."""
    services = (claim_batch, start_batch, release_batch, assign_batch)
    return tuple(functools.partial(service, stage) for service in services)


def _is_deadlock(exc: BaseException | None) -> bool:
    while exc is not None:
        if exc.args and exc.args[0] == DEADLOCK:
            return True
        exc = exc.__cause__
    return False


def retry_on_deadlock(service):
    """Run a service again when InnoDB chose its transaction as a deadlock victim.

    A locking read of rows a batch does not have yet (or past its last row) takes a gap lock, and gap locks
    do not conflict with each other. Two people saving the first entries of two different batches at once
    each hold the shared gap and then insert into it, so InnoDB kills one transaction. The victim's
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
