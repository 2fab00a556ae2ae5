"""The stage descriptor: what the shared claim, start, release and assign services and the route guards
need to know about one team's batches (clearing, imaging).

A team keeps only its own entry rules: who may be assigned, the email to the assignee, a check before a
batch may start and the extra writes of a start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lightserv.common.audit import record_event
from lightserv.common.errors import DomainError
from lightserv.db import get_schemas

from .queries import lock_rows


class SaveRefused(DomainError):
    """Nothing was written: `errors` maps a field group (a form section, a table row) to its messages."""

    def __init__(self, errors: dict[str, list[str]], status: int = 400):
        super().__init__("; ".join(m for msgs in errors.values() for m in msgs), status)
        self.errors = errors


@dataclass(frozen=True)
class Stage:
    """One team's batches: their table and columns, event names, error class and messages."""

    name: str  # the team, as in permissions and event actions: "clearing"
    table: Callable[[Any], Any]  # the lightsheet schema -> the batch table
    key_attrs: tuple[str, ...]  # the batch table's primary key, in order
    progress: str  # column: pending / in_progress / complete
    holder: str  # column naming who holds the batch; also the holder's relation to it
    staff_role: str  # role that may start an unassigned batch (and so claim it)
    entity: str  # event-log entity of a batch
    release_action: str  # event action of a release
    error: type[DomainError]  # what the guards raise
    label: Callable[[dict], str]  # a batch in event summaries: "clearing ana/brains batch 1"
    candidates: Callable[[dict], list[str]]  # the request row -> who an admin may assign
    queue_assigned: Callable[[dict, dict, str, dt.datetime], int | None]  # key, batch, assignee, when -> email id
    gone: str  # message: the batch no longer exists
    held_by: str  # message with `{holder}`: someone else holds the batch
    no_holder: str  # message: nobody to release
    staff_only: str  # message: only this team's staff may start an unassigned batch
    choose_staff: str  # message: the assignee is not a candidate
    may_start: Callable[[Any, Any, dict], None] | None = None  # conn, schema, key: raise to refuse a start
    started: Callable[[Any, dict, dict, str], dict] | None = None  # schema, key, changes, holder -> event `after`

    def locked_batch(self, conn, ls, key: dict) -> dict:
        """The batch row, locked until the transaction ends; 404 when it is gone."""
        rows = lock_rows(conn, self.table(ls), key, self.key_attrs)
        if not rows:
            raise self.error(self.gone, 404)
        return rows[0]

    def event(self, conn, action: str, key: dict, summary: str, *, actor: str, before=None, after=None, entity=None):
        """Append an event about the batch (or `entity`: kind and key) in the caller's transaction."""
        kind, entity_key = entity if entity else (self.entity, key)
        record_event(
            action, kind, entity_key, summary, request_key=(key["username"], key["request_name"]),
            before=before, after=after, actor=actor, dj_conn=conn,
        )  # fmt: skip

    def held_by_other(self, batch: dict) -> DomainError:
        return self.error(self.held_by.format(holder=batch[self.holder]), 403)

    def queue_relation(self, username: str) -> str | None:
        """The holder relation when the user holds at least one batch (their queue then shows only those)."""
        held = self.table(get_schemas().lightsheet) & {self.holder: username}
        return self.holder if held.to_dicts(limit=1) else None
