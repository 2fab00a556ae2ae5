"""Who may use which processing page: the shared route guard of `lightserv.workflow.access`.

A processing request URL names `<username>/<request_name>/<sample_name>/<imaging_request_number>/
<processing_request_number>`. A processing request that does not exist, or whose request the user may
not view, is a 404; a user who may view the request but not use the page gets 403. Starting is
`processing.start`: processing staff, admins, and the owner while ALLOW_SELF_PROCESSING is on (decided
once, in `lightserv.common.permissions.can`).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_login import current_user

from lightserv.common.permissions import can
from lightserv.db import get_schemas
from lightserv.workflow.access import guarded_route, load_row

PR = "<username>/<request_name>/<sample_name>/<int:imaging_request_number>/<int:processing_request_number>"
PR_KEY = ("username", "request_name", "sample_name", "imaging_request_number", "processing_request_number")


@dataclass
class PrContext:
    """A processing request seen by the current user."""

    key: dict
    pr: dict
    imaging: dict
    req: dict
    relation: str | None

    def can(self, action: str) -> bool:
        return can(current_user, action, self.relation)

    @property
    def url_args(self) -> dict:
        return dict(self.key)


def load_pr(key: dict, viewer: str) -> PrContext | None:
    found = load_row(lambda ls: ls.Request.ProcessingRequest, key, viewer)
    if found is None:
        return None
    pr, req, relation = found
    ikey = {k: key[k] for k in PR_KEY[:4]}
    imaging = (get_schemas().lightsheet.Request.ImagingRequest & ikey).to_dicts()
    return PrContext(key=dict(key), pr=pr, imaging=imaging[0] if imaging else {}, req=req, relation=relation)


def pr_route(action: str):
    """Route decorator for `/processing/<page>/<pr>`: 404 unless the user may view the request, 403 unless
    `action` allows them. The view receives `ctx` (a PrContext)."""
    return guarded_route("request", action, PR_KEY, lambda viewer, **key: load_pr(key, viewer))
