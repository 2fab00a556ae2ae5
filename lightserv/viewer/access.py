"""Who may use which viewer page.

- A link may be opened by whoever may view its request (`viewer.open`), by any logged-in user when it is a
  gallery link or an atlas view (no request); it may be renamed or revoked by its creator, the request's
  owner and admins (`viewer.manage_link`).
- A session's pages: its owner, anyone who may open its link, admins; stopping it: its owner and admins
  (`viewer.stop_session`).
Someone who may not see a link or session gets 404, exactly like a missing one; someone who
may see it but not act gets 403.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import abort, current_app
from flask_login import current_user

from lightserv.common.permissions import ACTIONS, ADMIN, RouteRule, can, get_request_and_relation, roles_of
from lightserv.extensions import db
from lightserv.models import ViewerLink, ViewerSession


def request_relation(link: ViewerLink, user) -> tuple[bool, str | None]:
    """(whether the link's request exists, the user's relation to it)."""
    found = get_request_and_relation(link.request_username, link.request_name, user.get_id())
    if found is None:
        return False, None
    return True, found[1]


def may_open_link(link: ViewerLink, user) -> bool:
    if link.request_username is None or link.is_gallery:
        return bool(user.is_authenticated)
    exists, relation = request_relation(link, user)
    return exists and can(user, "viewer.open", relation)


def may_see_request(link: ViewerLink, user) -> bool:
    """Whether the link's request exists and the user may view its overview."""
    if link.request_username is None:
        return False
    exists, relation = request_relation(link, user)
    return exists and can(user, "request.view", relation)


def may_manage_link(link: ViewerLink, user) -> bool:
    if can(user, "viewer.manage_link"):
        return True
    if link.created_by == user.get_id() and can(user, "viewer.manage_link", "link_creator"):
        return True
    if link.request_username is None:
        return False
    _, relation = request_relation(link, user)
    return relation == "owner" and can(user, "viewer.manage_link", "owner")


def is_admin(user) -> bool:
    return ADMIN in roles_of(user)


def may_see_session(session: ViewerSession, user) -> bool:
    if is_admin(user) or session.owner == user.get_id():
        return True
    link = db.session.get(ViewerLink, session.link_id)
    return link is not None and link.revoked_at is None and may_open_link(link, user)


def may_stop_session(session: ViewerSession, user) -> bool:
    relation = "session_owner" if session.owner == user.get_id() else None
    return can(user, "viewer.stop_session", relation)


def session_route(action: str) -> Callable[[Callable], Callable]:
    """`/viewer/session/<session_id>...`: the view receives `session`. `action` is "viewer.open" (see the
    session) or "viewer.stop_session"."""
    if action not in ACTIONS:
        raise KeyError(action)

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, session_id: str, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            session = db.session.get(ViewerSession, session_id) if len(session_id) == 32 else None
            if session is None or not may_see_session(session, current_user):
                abort(404)
            if action == "viewer.stop_session" and not may_stop_session(session, current_user):
                abort(403)
            return view(*args, session=session, **kwargs)

        wrapper.__lightserv_rule__ = RouteRule("viewer_session", action)  # type: ignore[attr-defined]
        return wrapper

    return decorator


def link_route(action: str) -> Callable[[Callable], Callable]:
    """`/viewer/links/<link_id>...`: the view receives `link`. `action` is "viewer.open" (open the link) or
    "viewer.manage_link" (rename, revoke)."""
    if action not in ACTIONS:
        raise KeyError(action)

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, link_id: str, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            link = db.session.get(ViewerLink, link_id) if len(link_id) <= 10 else None
            if link is None or not (may_open_link(link, current_user) or is_admin(current_user)):
                abort(404)
            if action == "viewer.manage_link" and not may_manage_link(link, current_user):
                abort(403)
            return view(*args, link=link, **kwargs)

        wrapper.__lightserv_rule__ = RouteRule("viewer_link", action)  # type: ignore[attr-defined]
        return wrapper

    return decorator
