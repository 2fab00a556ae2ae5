"""Who may use which clearing page: the shared route guards of `lightserv.workflow.access`.

A batch URL names `<username>/<request_name>/<clearing_batch_number>`; the user's relation to the batch
is "clearer" when they hold it (this is how a self-clearing owner reaches their own form).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from lightserv.workflow import access

from .services import CLEARING

queue_relation = CLEARING.queue_relation  # "clearer" when the user holds at least one clearing batch
may_open_queue = partial(access.may_open_queue, CLEARING)
queue_route = access.queue_route(CLEARING)


@dataclass
class BatchContext(access.BatchContext):
    """A clearing batch with its request, seen by the current user."""

    holder: ClassVar[str] = "clearer"

    @property
    def is_clearer(self) -> bool:
        return self.holds


def load_batch(username: str, request_name: str, number: int, viewer: str) -> BatchContext | None:
    key = {"username": username, "request_name": request_name, "clearing_batch_number": number}
    found = access.load_row(CLEARING.table, key, viewer)
    return BatchContext(key, *found, viewer=viewer) if found else None


def batch_route(action: str):
    """Route decorator for `/clearing/batch/<username>/<request_name>/<int:number>/...`: the view receives
    `ctx` (a BatchContext)."""
    return access.guarded_route("batch", action, ("username", "request_name", "number"), load_batch)
