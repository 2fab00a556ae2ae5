"""Error pages with matching status codes; JSON for API and JSON-accepting clients."""

from __future__ import annotations

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
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
        current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
        try:
            from lightserv.extensions import db

            db.session.rollback()
        except Exception:  # the database itself may be the failure
            current_app.logger.exception("rollback after error failed")
        return _render(500, "Something went wrong on our side. The facility has been told.")
