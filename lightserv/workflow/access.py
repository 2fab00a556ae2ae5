"""Route guards of the staff workflow: a page about one batch (or processing request) and a team's queue.

A page whose row does not exist, or whose request the user may not view, is a 404; a user who may view
the request but not use the page gets 403. Besides roles, the user's relation to the *batch* counts: its
holder ("clearer", "imager") may use it (this is how a self-clearing or self-imaging owner reaches their
own form), and the holder of any batch may open the team's queue.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from flask import abort
from flask_login import current_user

from lightserv.common.permissions import (
    ACTIONS,
    ADMIN,
    RouteRule,
    can,
    get_request_and_relation,
    login_required,
    roles_of,
)
from lightserv.db import get_schemas

from .stage import Stage


class Guarded(Protocol):
    relation: str | None  # the user's relation to the request

    def can(self, action: str) -> bool: ...


@dataclass
class BatchContext:
    """A batch with its request, seen by the current user (`viewer`)."""

    key: dict
    batch: dict
    req: dict
    relation: str | None  # the user's relation to the request
    viewer: str
    holder: ClassVar[str] = ""  # the batch column naming its holder; also the holder's relation

    @property
    def holds(self) -> bool:
        return self.batch[self.holder] == self.viewer

    @property
    def batch_relation(self) -> str | None:
        return self.holder if self.holds else None

    def can(self, action: str) -> bool:
        return can(current_user, action, self.batch_relation)

    @property
    def roles(self) -> frozenset[str]:
        return roles_of(current_user)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles


def load_row(table: Callable[[Any], Any], key: dict, viewer: str) -> tuple[dict, dict, str | None] | None:
    """The row of `table` at `key`, its request and the viewer's relation to that request; None when the
    request is not visible to the viewer or the row does not exist."""
    found = get_request_and_relation(key["username"], key["request_name"], viewer)
    if found is None:
        return None
    rows = (table(get_schemas().lightsheet) & key).to_dicts()
    return (rows[0], *found) if rows else None


def _with_rule(wrapper: Callable, rule: RouteRule) -> Callable:
    """The permission-matrix rule of a guarded view (replaces login_required's own)."""
    wrapper.__lightserv_rule__ = rule  # type: ignore[attr-defined]
    return wrapper


def guarded_route(kind: str, action: str, url_args: tuple[str, ...], load: Callable[..., Guarded | None]):
    """Route decorator: the URL arguments `url_args` (and `viewer`) go to `load`; 404 unless the user may
    view the request, 403 unless `action` allows them (with their relation). The view receives `ctx`."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            url = {name: kwargs.pop(name) for name in url_args}
            ctx = load(**url, viewer=current_user.get_id())
            if ctx is None or not can(current_user, "request.view", ctx.relation):
                abort(404)
            if action != "request.view" and not ctx.can(action):
                abort(403)
            return view(*args, ctx=ctx, **kwargs)

        return _with_rule(login_required(guarded), RouteRule(kind, action))

    return decorator


def may_open_queue(stage: Stage, user) -> bool:
    """The team's staff and admins by role, or anyone who holds one of its batches."""
    action = f"{stage.name}.open_queue"
    return can(user, action) or can(user, action, stage.queue_relation(user.get_id()))


def queue_route(stage: Stage) -> Callable[[Callable], Callable]:
    """Route decorator for a team's queue: 403 unless `may_open_queue`."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            if not may_open_queue(stage, current_user):
                abort(403)
            return view(*args, **kwargs)

        rule = RouteRule("action", f"{stage.name}.open_queue", notes=f"or the {stage.holder} of a batch")
        return _with_rule(login_required(guarded), rule)

    return decorator
