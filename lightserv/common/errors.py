"""Error pages with matching status codes; JSON for API and JSON-accepting clients.

A dependency that is down (the database, Redis, a read-only or full DATA_ROOT) answers 503 with a sentence
naming what is unavailable, never a traceback or a bare 500. That page is built without templates: the
navigation and the signed-in user both need the database, which may be the part that is down.
"""

from __future__ import annotations

import errno

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from .forms import EXPIRED_MESSAGE, is_form_view

_TEMPLATES = {
    400: "errors/400.html",
    401: "errors/401.html",
    403: "errors/403.html",
    404: "errors/404.html",
    405: "errors/400.html",
    429: "errors/429.html",
}


def _wants_json() -> bool:
    return (
        request.path.startswith("/api/")
        or request.path == "/healthz"
        or (request.accept_mimetypes.best == "application/json")
    )


def _render(status: int, message: str):
    if _wants_json():
        return jsonify(error=message, status=status), status
    template = _TEMPLATES.get(status, "errors/500.html" if status >= 500 else "errors/400.html")
    return render_template(template, message=message, status=status), status


#: MySQL client errors that mean "the server is not there" (2002/2003 cannot connect, 2006 gone away, 2013 lost
#: during a query, 2055 lost at handshake, 1053 shutting down, 1927 connection killed, 4031 idle disconnect)
DB_GONE = {1053, 1927, 2002, 2003, 2005, 2006, 2013, 2055, 4031}
STORAGE_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT}

UNAVAILABLE = {
    "db": (
        "The database is not reachable at the moment, so this page cannot be shown and nothing can be saved. "
        "Nothing already saved is lost; try again in a minute."
    ),
    "redis": (
        "The background-task service (Redis) is not reachable at the moment, so this action could not be "
        "completed. Pages that only show data still work; try again in a minute."
    ),
    "storage": (
        "The data storage (DATA_ROOT) cannot be written at the moment (read-only or full), so this action could "
        "not be completed. Pages that only show data still work; try again when the storage is writable."
    ),
}


def unavailable_service(exc: BaseException) -> str | None:
    """ "db", "redis" or "storage" when `exc` (or what it wraps) means that dependency is down, else None."""
    import pymysql
    import redis
    from datajoint.errors import LostConnectionError
    from kombu.exceptions import OperationalError as BrokerError
    from sqlalchemy.exc import DBAPIError

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError | BrokerError):
            return "redis"
        if isinstance(e, LostConnectionError | pymysql.err.InterfaceError):
            return "db"
        if isinstance(e, pymysql.err.OperationalError) and e.args and e.args[0] in DB_GONE:
            return "db"
        if isinstance(e, DBAPIError) and e.connection_invalidated:
            return "db"
        if isinstance(e, OSError) and e.errno in STORAGE_ERRNOS:
            return "storage"
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return None


def _unavailable(service: str):
    message = UNAVAILABLE[service]
    if _wants_json():
        response = jsonify(error=message, status=503, unavailable=service)
    else:
        response = Response(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Service unavailable</title>'
            '</head><body style="font-family: sans-serif; margin: 2rem"><h1>Service unavailable (503)</h1>'
            f'<p data-testid="error-message">{escape(message)}</p>'
            '<p><a href="/healthz">What is unavailable</a> &middot; <a href="/">Back to the home page</a></p>'
            "</body></html>",
            mimetype="text/html",
        )
    response.status_code = 503
    response.headers["Retry-After"] = "60"
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        if "expired" in (exc.description or "") and request.endpoint:
            view = current_app.view_functions.get(request.endpoint)
            if view is not None and is_form_view(view):
                g.form_expired = True
                response = current_app.make_response(view(**(request.view_args or {})))
                response.status_code = 400
                return response
            return _render(400, EXPIRED_MESSAGE)
        return _render(400, f"The form could not be accepted: {exc.description}")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        return _render(status, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        service = unavailable_service(exc)
        if service is not None:
            current_app.logger.warning(
                "%s unavailable on %s %s: %s: %s", service, request.method, request.path, type(exc).__name__, exc
            )
            try:
                from lightserv.extensions import db

                db.session.rollback()
            except Exception:  # the database itself may be the failure
                current_app.logger.debug("rollback while %s is unavailable failed", service)
            return _unavailable(service)
        current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
        try:
            from lightserv.extensions import db

            db.session.rollback()
        except Exception:  # the database itself may be the failure
            current_app.logger.exception("rollback after error failed")
        return _render(500, "Something went wrong on our side. The facility has been told.")


class DomainError(Exception):
    """A refused action, in words for the user, with the HTTP status the view answers with."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.message, self.status = message, status
