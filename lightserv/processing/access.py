"""Who may use which processing page (processing.md §1, §3.2; README §3).

A processing request URL names `<username>/<request_name>/<sample_name>/<imaging_request_number>/
<processing_request_number>`. A processing request that does not exist, or whose request the user may
not view, is a 404; a user who may view the request but not use the page gets 403. Starting is
`processing.start`: processing staff, admins, and the owner while ALLOW_SELF_PROCESSING is on (decided
once, in `lightserv.common.permissions.can`, pitfall 11).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from flask import abort, current_app
from flask_login import current_user

from lightserv.common.permissions import ACTIONS, RouteRule, can
from lightserv.db import get_schemas
from lightserv.requests.queries import get_request_and_relation

PR = "<username>/<request_name>/<sample_name>/<int:imaging_request_number>/<int:processing_request_number>"


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
    found = get_request_and_relation(key["username"], key["request_name"], viewer)
    if found is None:
        return None
    req, relation = found
    ls = get_schemas().lightsheet
    rows = (ls.Request.ProcessingRequest & key).to_dicts()
    if not rows:
        return None
    ikey = {k: key[k] for k in ("username", "request_name", "sample_name", "imaging_request_number")}
    imaging = (ls.Request.ImagingRequest & ikey).to_dicts()
    return PrContext(key=dict(key), pr=rows[0], imaging=imaging[0] if imaging else {}, req=req, relation=relation)


def pr_route(action: str) -> Callable[[Callable], Callable]:
    """Route decorator for `/processing/<page>/<pr>`: 404 unless the user may view the request, 403 unless
    `action` allows them. The view receives `ctx` (a PrContext)."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(
            *args,
            username: str,
            request_name: str,
            sample_name: str,
            imaging_request_number: int,
            processing_request_number: int,
            **kwargs,
        ):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            key = dict(
                username=username, request_name=request_name, sample_name=sample_name,
                imaging_request_number=imaging_request_number, processing_request_number=processing_request_number,
            )  # fmt: skip
            ctx = load_pr(key, current_user.get_id())
            if ctx is None or not can(current_user, "request.view", ctx.relation):
                abort(404)
            if action != "request.view" and not ctx.can(action):
                abort(403)
            return view(*args, ctx=ctx, **kwargs)

        wrapper.__lightserv_rule__ = RouteRule("request", action)  # type: ignore[attr-defined]
        return wrapper

    return decorator
