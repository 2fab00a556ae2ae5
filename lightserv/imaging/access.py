"""Who may use which imaging page (imaging.md §1, §3, README §3).

A batch URL names `<username>/<request_name>/<clearing_batch_number>/<imaging_request_number>/
<imaging_batch_number>`. A batch that does not exist, or whose request the user may not view, is a 404;
a user who may view the request but not use the page gets 403. Besides roles, the user's relation to the
*batch* counts: "imager" when they image it (this is how a self-imaging owner reaches their own form).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from flask import abort, current_app
from flask_login import current_user

from lightserv.common.permissions import ACTIONS, ADMIN, RouteRule, can, roles_of
from lightserv.db import get_schemas
from lightserv.requests.queries import get_request_and_relation

BATCH_KEY = ("username", "request_name", "clearing_batch_number", "imaging_request_number", "imaging_batch_number")


def queue_relation(username: str) -> str | None:
    """ "imager" when the user images at least one batch (the queue then shows only those)."""
    ls = get_schemas().lightsheet
    held = ls.Request.ImagingBatch & {"imager": username}
    return "imager" if held.to_dicts(limit=1) else None


def may_open_queue(user) -> bool:
    return can(user, "imaging.open_queue") or can(user, "imaging.open_queue", queue_relation(user.get_id()))


@dataclass
class BatchContext:
    """An imaging batch with its clearing batch and request, seen by the current user."""

    key: dict  # the five key attributes of BATCH_KEY
    batch: dict  # the ImagingBatch row
    clearing: dict  # its ClearingBatch row
    req: dict
    relation: str | None  # the user's relation to the request
    viewer: str

    @property
    def is_imager(self) -> bool:
        return self.batch["imager"] == self.viewer

    @property
    def batch_relation(self) -> str | None:
        return "imager" if self.is_imager else None

    def can(self, action: str) -> bool:
        return can(current_user, action, self.batch_relation)

    @property
    def roles(self) -> frozenset[str]:
        return roles_of(current_user)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def url_args(self) -> dict:
        k = self.key
        return dict(
            username=k["username"],
            request_name=k["request_name"],
            clearing_batch=k["clearing_batch_number"],
            imaging_request=k["imaging_request_number"],
            imaging_batch=k["imaging_batch_number"],
        )


def load_batch(
    username: str, request_name: str, clearing_batch: int, imaging_request: int, imaging_batch: int, viewer: str
) -> BatchContext | None:
    found = get_request_and_relation(username, request_name, viewer)
    if found is None:
        return None
    req, relation = found
    ls = get_schemas().lightsheet
    key = dict(
        username=username,
        request_name=request_name,
        clearing_batch_number=clearing_batch,
        imaging_request_number=imaging_request,
        imaging_batch_number=imaging_batch,
    )
    rows = (ls.Request.ImagingBatch & key).to_dicts()
    if not rows:
        return None
    clearing_key = {k: key[k] for k in ("username", "request_name", "clearing_batch_number")}
    clearing = (ls.Request.ClearingBatch & clearing_key).to_dicts()[0]
    return BatchContext(key=key, batch=rows[0], clearing=clearing, req=req, relation=relation, viewer=viewer)


def batch_route(action: str) -> Callable[[Callable], Callable]:
    """Route decorator for `/imaging/batch/<ib>/...`: 404 unless the user may view the request, 403 unless
    `action` allows them (with their relation to the batch). The view receives `ctx` (a BatchContext)."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(
            *args,
            username: str,
            request_name: str,
            clearing_batch: int,
            imaging_request: int,
            imaging_batch: int,
            **kwargs,
        ):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            ctx = load_batch(
                username, request_name, clearing_batch, imaging_request, imaging_batch, current_user.get_id()
            )
            if ctx is None or not can(current_user, "request.view", ctx.relation):
                abort(404)
            if action != "request.view" and not ctx.can(action):
                abort(403)
            return view(*args, ctx=ctx, **kwargs)

        wrapper.__lightserv_rule__ = RouteRule("batch", action)  # type: ignore[attr-defined]
        return wrapper

    return decorator


def queue_route(view: Callable) -> Callable:
    """The imaging queue: imaging staff and admins, or anyone who images a batch (self-imagers)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        if not may_open_queue(current_user):
            abort(403)
        return view(*args, **kwargs)

    wrapper.__lightserv_rule__ = RouteRule("action", "imaging.open_queue", notes="or the imager of a batch")  # type: ignore[attr-defined]
    return wrapper
