"""Who may use which clearing page (clearing.md §1, README §3).

A batch URL names `<username>/<request_name>/<clearing_batch_number>`. A batch that does not exist, or
whose request the user may not view, is a 404; a user who may view the request but not use the page
gets 403. Besides roles, the user's relation to the *batch* counts: "clearer" when they hold it (this
is how a self-clearing owner reaches their own form).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from flask import abort, current_app
from flask_login import current_user

from lightserv.common.permissions import ACTIONS, RouteRule, can, roles_of
from lightserv.db import get_schemas
from lightserv.requests.queries import get_request_and_relation


def queue_relation(username: str) -> str | None:
    """ "clearer" when the user holds at least one clearing batch (the queue then shows only those)."""
    ls = get_schemas().lightsheet
    held = ls.Request.ClearingBatch & {"clearer": username}
    return "clearer" if held.to_dicts(limit=1) else None


def may_open_queue(user) -> bool:
    return can(user, "clearing.open_queue") or can(user, "clearing.open_queue", queue_relation(user.get_id()))


@dataclass
class BatchContext:
    """A clearing batch with its request, seen by the current user."""

    key: dict  # username, request_name, clearing_batch_number
    batch: dict
    req: dict
    relation: str | None  # the user's relation to the request
    viewer: str

    @property
    def is_clearer(self) -> bool:
        return self.batch["clearer"] == self.viewer

    @property
    def batch_relation(self) -> str | None:
        return "clearer" if self.is_clearer else None

    def can(self, action: str) -> bool:
        return can(current_user, action, self.batch_relation)

    @property
    def roles(self) -> frozenset[str]:
        return roles_of(current_user)


def load_batch(username: str, request_name: str, number: int, viewer: str) -> BatchContext | None:
    found = get_request_and_relation(username, request_name, viewer)
    if found is None:
        return None
    req, relation = found
    key = {"username": username, "request_name": request_name, "clearing_batch_number": number}
    rows = (get_schemas().lightsheet.Request.ClearingBatch & key).to_dicts()
    if not rows:
        return None
    return BatchContext(key=key, batch=rows[0], req=req, relation=relation, viewer=viewer)


def batch_route(action: str) -> Callable[[Callable], Callable]:
    """Route decorator for `/clearing/batch/<username>/<request_name>/<int:number>/...`: 404 unless the
    user may view the request, 403 unless `action` allows them (with their relation to the batch).
    The view receives `ctx` (a BatchContext)."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, username: str, request_name: str, number: int, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            ctx = load_batch(username, request_name, number, current_user.get_id())
            if ctx is None or not can(current_user, "request.view", ctx.relation):
                abort(404)
            if action != "request.view" and not ctx.can(action):
                abort(403)
            return view(*args, ctx=ctx, **kwargs)

        wrapper.__lightserv_rule__ = RouteRule("batch", action)  # type: ignore[attr-defined]
        return wrapper

    return decorator


def queue_route(view: Callable) -> Callable:
    """The clearing queue: clearing staff and admins, or anyone who holds a batch (self-clearers)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        if not may_open_queue(current_user):
            abort(403)
        return view(*args, **kwargs)

    wrapper.__lightserv_rule__ = RouteRule("action", "clearing.open_queue", notes="or the clearer of a batch")  # type: ignore[attr-defined]
    return wrapper
