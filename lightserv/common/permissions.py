"""The one permission helper: the permission matrix as data, the reads it decides on (a user's roles, their
relation to a request), and the route decorators that declare each route's rule.

Two kinds of checks:
- global actions (`can(user, "admin.users")`): decided by the user's roles alone;
- request actions (`can(user, "request.view", relation="auditor")`): decided by roles and the user's
  relation to the request (`owner`, `collaborator`, `auditor` or None).

Menus call the same `can` as the routes, so a user never sees a link they cannot use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import abort, current_app, g, request
from flask_login import current_user
from sqlalchemy import select

from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import RoleGrant
from schemas.enums import ROLE

ADMIN = "facility_admin"
STAFF_ROLES = frozenset({"clearing_staff", "imaging_staff", "processing_staff", ADMIN})
RELATIONS = ("owner", "collaborator", "auditor")


@dataclass(frozen=True)
class Action:
    """Who may perform an action: any of `roles`, or any of `relations` to the request."""

    name: str
    description: str
    roles: frozenset[str] = frozenset()
    relations: frozenset[str] = frozenset()
    anyone: bool = False  # every authenticated user
    request_scoped: bool = False

    def allows(self, roles: Iterable[str], relation: str | None = None) -> bool:
        if self.anyone:
            return True
        held = set(roles)
        if ADMIN in held and ADMIN in self.roles:
            return True
        if held & self.roles:
            return True
        return relation is not None and relation in self.relations


def _a(name, description, roles=(), relations=(), anyone=False, request_scoped=False) -> Action:
    return Action(name, description, frozenset(roles), frozenset(relations), anyone, request_scoped)


_ALL_STAFF = ("clearing_staff", "imaging_staff", "processing_staff", ADMIN)
_SHARED = ("owner", "collaborator", "auditor")

#: The permission matrix. Admin is listed explicitly wherever the matrix says "yes" for admins.
ACTIONS: dict[str, Action] = {
    a.name: a
    for a in [
        _a("request.submit", "Submit a request for oneself", anyone=True),
        _a("request.submit_for_other", "Submit a request on behalf of another user", ("clearing_staff", ADMIN)),
        _a("request.list", "See request and sample lists", anyone=True),
        _a("request.view", "See a request's overview and logs", _ALL_STAFF, _SHARED, request_scoped=True),
        _a("request.delete", "Delete a request before clearing starts", (ADMIN,), ("owner",), request_scoped=True),
        _a("request.manage_access", "Manage auditors and collaborators", (ADMIN,), ("owner",), request_scoped=True),
        _a(
            "request.add_imaging",
            "Request additional imaging",
            ("imaging_staff", ADMIN),
            ("owner", "collaborator"),
            request_scoped=True,
        ),
        _a(
            "request.add_processing",
            "Request additional processing",
            ("processing_staff", ADMIN),
            ("owner", "collaborator"),
            request_scoped=True,
        ),
        _a("request.feedback", "Give feedback", (), ("owner", "collaborator"), request_scoped=True),
        _a("clearing.queue", "Clearing queue and forms", ("clearing_staff", ADMIN)),
        _a("imaging.queue", "Imaging queue and forms", ("imaging_staff", ADMIN)),
        _a("processing.queue", "Processing queue", ("processing_staff", ADMIN)),
        _a(
            "processing.start",
            "Start processing of a pending request",
            ("processing_staff", ADMIN),
            ("owner",),
            request_scoped=True,
        ),
        _a("processing.manage_runs", "Cancel or re-run a pipeline", ("processing_staff", ADMIN)),
        _a("processing.flatfield", "Set flat-field files and start destriping", ("processing_staff", ADMIN)),
        _a("viewer.open", "Open viewers on request data", _ALL_STAFF, _SHARED, request_scoped=True),
        # relation "link_creator" = made the link, "session_owner" = launched the session
        _a("viewer.manage_link", "Rename or revoke a saved view", (ADMIN,), ("owner", "link_creator")),
        _a("viewer.stop_session", "Stop a viewer session", (ADMIN,), ("session_owner",)),
        _a("antibody.view", "Antibody history: view", anyone=True),
        _a("antibody.edit_history", "Antibody history: edit a row", ("clearing_staff", ADMIN), ("owner",)),
        _a("antibody.edit_overview", "Antibody overview: edit", ("clearing_staff", ADMIN)),
        _a("admin", "Users and roles, event log, dashboard, live viewer sessions", (ADMIN,)),
        _a("profile", "Edit one's own profile and password", anyone=True),
        _a("home", "See one's home page (what needs doing, new data, recent changes)", anyone=True),
        # clearing; relation "clearer" = the user holds the batch (or some batch, for the queue)
        _a(
            "clearing.open_queue",
            "Open the clearing queue (self-clearers: their own batches)",
            ("clearing_staff", ADMIN),
            ("clearer",),
        ),
        _a("clearing.open_batch", "Open a clearing entry form", ("clearing_staff", ADMIN), ("clearer",)),
        _a("clearing.claim", "Claim an unassigned clearing batch", ("clearing_staff", ADMIN)),
        _a("clearing.record", "Start, save and complete a clearing batch", (ADMIN,), ("clearer",)),
        _a("clearing.release", "Release a clearing batch", (ADMIN,), ("clearer",)),
        _a("clearing.assign", "Assign a clearing batch to a clearer", (ADMIN,)),
        _a("clearing.reopen", "Reopen a completed clearing batch", (ADMIN,)),
        _a("antibody.new_trial", "Antibody history: add a trial", ("clearing_staff", ADMIN)),
        _a(
            "antibody.edit_history_lots",
            "Antibody history: edit lots, date, description, animal model",
            ("clearing_staff", ADMIN),
        ),
        # imaging; relation "imager" = the user images the batch (or some batch, for the queue)
        _a(
            "imaging.open_queue",
            "Open the imaging queue (self-imagers: their own batches)",
            ("imaging_staff", ADMIN),
            ("imager",),
        ),
        _a("imaging.open_batch", "Open an imaging entry form", ("imaging_staff", ADMIN), ("imager",)),
        _a("imaging.claim", "Claim an unassigned imaging batch", ("imaging_staff", ADMIN)),
        _a("imaging.record", "Start, enter, submit and complete an imaging batch", (ADMIN,), ("imager",)),
        _a("imaging.release", "Release an imaging batch", (ADMIN,), ("imager",)),
        _a("imaging.assign", "Assign an imaging batch to an imager", (ADMIN,)),
        _a("imaging.reopen", "Reopen an imaged or skipped sample", (ADMIN,)),
    ]
}


def list_roles(username: str) -> list[str]:
    """The roles granted to `username`, from the role-grant table."""
    return list(db.session.scalars(select(RoleGrant.role).where(RoleGrant.username == username)))


def get_request_and_relation(owner: str, request_name: str, viewer: str) -> tuple[dict, str | None] | None:
    """The request row and the viewer's relation to it (`owner`, `collaborator`, `auditor`, None)."""
    ls = get_schemas().lightsheet
    rows = (ls.Request & {"username": owner, "request_name": request_name}).to_dicts()
    if not rows:
        return None
    if viewer == owner:
        return rows[0], "owner"
    access = (ls.Request.Access & {"username": owner, "request_name": request_name, "grantee": viewer}).to_dicts()
    return rows[0], (access[0]["access_level"] if access else None)


def roles_of(user) -> frozenset[str]:
    """Roles held by `user`, read once per HTTP request from the role-grant table."""
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    cache = g.setdefault("_roles_cache", {})
    username = user.get_id()
    if username not in cache:
        cache[username] = frozenset(list_roles(username))
    return cache[username]


def can(user, action: str, relation: str | None = None) -> bool:
    """Whether `user` may perform `action` (with `relation` to the request for request actions)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    rule = ACTIONS[action]
    if action == "processing.start" and relation == "owner":
        if not current_app.config["SETTINGS"].allow_self_processing:
            relation = None
    return rule.allows(roles_of(user), relation)


# --------------------------------------------------------------------------------------------------
# Route declarations. Every view function carries exactly one rule; the permission-matrix test walks
# `app.url_map` and fails for any endpoint without one.
# --------------------------------------------------------------------------------------------------

PUBLIC = "public"
AUTHENTICATED = "authenticated"


@dataclass(frozen=True)
class RouteRule:
    kind: str  # "public", "authenticated", "action", "request"
    action: str | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _declare(view: Callable, rule: RouteRule) -> Callable:
    view.__lightserv_rule__ = rule  # type: ignore[attr-defined]
    return view


def public(view: Callable) -> Callable:
    """No login needed (login page, health check, static help pages)."""
    return _declare(view, RouteRule(PUBLIC))


def login_required(view: Callable) -> Callable:
    """Any authenticated, active user."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        return view(*args, **kwargs)

    return _declare(wrapper, RouteRule(AUTHENTICATED))


def requires(action: str) -> Callable[[Callable], Callable]:
    """A global action: 401/redirect when anonymous, 403 when the roles do not allow it."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if not can(current_user, action):
                abort(403)
            return view(*args, **kwargs)

        return _declare(wrapper, RouteRule("action", action))

    return decorator


def requires_request(action: str) -> Callable[[Callable], Callable]:
    """A request-scoped action. The view receives `owner` and `request_name` URL parts; a user who
    may not view the request gets 404 exactly like a missing request, one who may view it but not
    perform `action` gets 403. The decorator passes the loaded request row as `req`."""
    rule = ACTIONS[action]
    if not rule.request_scoped:
        raise KeyError(f"{action!r} is not a request action")

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, username: str, request_name: str, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            req = require_request_access(username, request_name, action)
            return view(*args, req=req, **kwargs)

        return _declare(wrapper, RouteRule("request", action))

    return decorator


def require_request_access(owner: str, request_name: str, action: str) -> dict:
    """The request row when the current user may perform `action` on it: 404 when they may not view it
    (exactly like a missing request), 403 when they may view it but not act."""
    found = get_request_and_relation(owner, request_name, current_user.get_id())
    if found is None:
        abort(404)
    req, relation = found
    if not can(current_user, "request.view", relation):
        abort(404)
    if not can(current_user, action, relation):
        abort(403)
    g.request_relation = relation
    return req


def requires_run(action: str) -> Callable[[Callable], Callable]:
    """A route about one pipeline run (`run_id` in the URL): the run's request decides visibility like
    `requires_request`, and `action` (global or request-scoped) decides what the user may do."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, run_id: int, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            runs = (get_schemas().jobs.PipelineRun & {"run_id": run_id}).to_dicts()
            if not runs:
                abort(404)
            require_request_access(runs[0]["username"], runs[0]["request_name"], "request.view")
            if action != "request.view" and not can(current_user, action, g.request_relation):
                abort(403)
            return view(*args, run=runs[0], **kwargs)

        return _declare(wrapper, RouteRule("run", action))

    return decorator


def rule_of(view: Callable) -> RouteRule | None:
    return getattr(view, "__lightserv_rule__", None)


def peer_address() -> str | None:
    return request.remote_addr


assert set(ROLE) == {"clearing_staff", "imaging_staff", "processing_staff", ADMIN}
