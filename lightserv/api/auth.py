"""Who is calling the API, and the permission declarations of its routes.

A request is authenticated by `Authorization: Bearer <token>` (a personal API token); without that
header, the signed-in browser session is accepted too, so the JSON can be opened from a page. The
caller then goes through the same permission helpers as the HTML pages (`can`, the request visibility
of `lightserv.requests.queries`). Every refusal is JSON (4xx), never an HTML page or a login redirect.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import abort, g, jsonify, request
from flask_login import current_user

from lightserv.common.errors import DomainError
from lightserv.common.permissions import RouteRule, _declare, can, get_request_and_relation
from lightserv.models import Account

from .tokens import account_for_token


class ApiRefusal(DomainError):
    """An authentication refusal answered as JSON with a `WWW-Authenticate` challenge."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def refusal_response(exc: ApiRefusal):
    response = jsonify(error=exc.message, status=exc.status)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="lightserv"'
    return response


def api_user() -> Account:
    """The authenticated caller of this request (token first, then session); raises ApiRefusal."""
    if "api_user" in g:
        return g.api_user
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiRefusal(401, "Send the token as: Authorization: Bearer <token>.")
        account = account_for_token(token.strip())
        if account is None:
            raise ApiRefusal(401, "This API token is not valid (unknown or revoked).")
        if not account.is_active:
            raise ApiRefusal(403, "This account is inactive.")
        g.api_user = account
    elif current_user.is_authenticated:
        g.api_user = current_user._get_current_object()
    else:
        raise ApiRefusal(401, "An API token is required: Authorization: Bearer <token> (create one on your profile).")
    return g.api_user


def api_route(action: str) -> Callable[[Callable], Callable]:
    """A global action (`can(user, action)`), checked for the API caller; 401/403 as JSON."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                user = api_user()
            except ApiRefusal as exc:
                return refusal_response(exc)
            if not can(user, action):
                abort(403, "You may not use this part of the API.")
            return view(*args, **kwargs)

        return _declare(wrapper, RouteRule("api", action))

    return decorator


def api_request_route(view: Callable) -> Callable:
    """A route about one request (`username`, `request_name` in the URL): 404 when the caller may not
    view it, exactly like a missing request. The view receives `req` and `relation`."""

    @functools.wraps(view)
    def wrapper(*args, username: str, request_name: str, **kwargs):
        try:
            user = api_user()
        except ApiRefusal as exc:
            return refusal_response(exc)
        found = visible_request(user, username, request_name)
        if found is None:
            abort(404, "No such request.")
        req, relation = found
        return view(*args, req=req, relation=relation, **kwargs)

    return _declare(wrapper, RouteRule("api-request", "request.view"))


def visible_request(user, owner: str, request_name: str) -> tuple[dict, str | None] | None:
    """The request row and the user's relation when the user may view it, else None."""
    found = get_request_and_relation(owner, request_name, user.get_id())
    if found is None or not can(user, "request.view", found[1]):
        return None
    return found
