"""Who may use which imaging page: the shared route guards of `lightserv.workflow.access`.

A batch URL names `<username>/<request_name>/<clearing_batch_number>/<imaging_request_number>/
<imaging_batch_number>`; the user's relation to the batch is "imager" when they image it (this is how a
self-imaging owner reaches their own form).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from lightserv.db import get_schemas
from lightserv.workflow import access

from .batch_services import BATCH_KEY, IMAGING

URL_ARGS = ("username", "request_name", "clearing_batch", "imaging_request", "imaging_batch")


queue_relation = IMAGING.queue_relation  # "imager" when the user images at least one batch
may_open_queue = partial(access.may_open_queue, IMAGING)
queue_route = access.queue_route(IMAGING)


@dataclass
class BatchContext(access.BatchContext):
    """An imaging batch with its clearing batch and request, seen by the current user."""

    clearing: dict  # its ClearingBatch row
    holder: ClassVar[str] = "imager"

    @property
    def is_imager(self) -> bool:
        return self.holds

    @property
    def url_args(self) -> dict:
        return dict(zip(URL_ARGS, (self.key[k] for k in BATCH_KEY), strict=True))


def load_batch(
    username: str, request_name: str, clearing_batch: int, imaging_request: int, imaging_batch: int, viewer: str
) -> BatchContext | None:
    key = dict(zip(BATCH_KEY, (username, request_name, clearing_batch, imaging_request, imaging_batch), strict=True))
    found = access.load_row(IMAGING.table, key, viewer)
    if found is None:
        return None
    clearing_key = {k: key[k] for k in BATCH_KEY[:3]}
    clearing = (get_schemas().lightsheet.Request.ClearingBatch & clearing_key).to_dicts()[0]
    return BatchContext(key, *found, viewer=viewer, clearing=clearing)


def batch_route(action: str):
    """Route decorator for `/imaging/batch/<ib>/...`: the view receives `ctx` (a BatchContext)."""
    return access.guarded_route("batch", action, URL_ARGS, load_batch)
