"""The launcher's HTTP API. Every endpoint except `GET /healthz` needs
`Authorization: Bearer <VIEWER_LAUNCHER_TOKEN>` (compared in constant time; 401 otherwise). Every call is
logged with the caller's address, endpoint, session id and result; the token never is."""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from flask import Flask, Response, g, jsonify, request

from .backends.base import Backend, BackendError
from .config import LauncherConfig
from .sessions import SessionManager
from .spec import SESSION_ID_RE, SpecError

log = logging.getLogger("viewer_launcher")


def make_backend(config: LauncherConfig) -> Backend:
    if config.backend == "docker":
        from .backends.docker import DockerBackend

        return DockerBackend(config)
    from .backends.process import ProcessBackend

    return ProcessBackend(config)


def create_app(config: LauncherConfig | None = None, backend: Backend | None = None) -> Flask:
    config = config or LauncherConfig.from_env()
    backend = backend or make_backend(config)
    manager = SessionManager(config, backend)
    app = Flask(__name__)
    app.config.update(DEBUG=False, TESTING=False, JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=1024 * 1024)
    app.extensions["viewer_launcher"] = manager
    expected = ("Bearer " + config.token).encode()

    @app.before_request
    def _authenticate() -> Any:
        g.started = time.monotonic()
        if request.path == "/healthz" and request.method == "GET":
            return None
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return jsonify(error="unauthorized"), 401
        return None

    @app.after_request
    def _log(response: Response) -> Response:
        sid = (request.view_args or {}).get("session_id") or g.get("session_id", "")
        log.info(
            "%s %s %s session=%s -> %s (%.0f ms)",
            request.headers.get("X-Forwarded-For", request.remote_addr),
            request.method,
            request.url_rule.rule if request.url_rule else request.path,
            sid or "-",
            response.status_code,
            (time.monotonic() - g.get("started", time.monotonic())) * 1000,
        )
        return response

    @app.errorhandler(SpecError)
    def _refused(exc: SpecError) -> Any:
        return jsonify(exc.body()), exc.status

    @app.errorhandler(BackendError)
    def _backend(exc: BackendError) -> Any:
        return jsonify(error=str(exc)), 503

    @app.errorhandler(404)
    def _not_found(_exc: Exception) -> Any:
        return jsonify(error="not found"), 404

    @app.errorhandler(405)
    def _method(_exc: Exception) -> Any:
        return jsonify(error="method not allowed"), 405

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            backend.ping()
        except BackendError as exc:
            return jsonify(status="error", backend=backend.kind, error=str(exc)), 503
        return jsonify(status="ok", backend=backend.kind)

    @app.post("/v1/sessions")
    def create_session() -> Any:
        body = request.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("session_id"), str):
            g.session_id = body["session_id"][:40]
        return jsonify(manager.create(body)), 201

    @app.get("/v1/sessions")
    def list_sessions() -> Any:
        return jsonify(sessions=manager.sessions())

    @app.get("/v1/sessions/<session_id>")
    def get_session(session_id: str) -> Any:
        found = manager.session(session_id) if SESSION_ID_RE.match(session_id) else None
        if found is None:
            return jsonify(error="no such session"), 404
        return jsonify(found)

    @app.delete("/v1/sessions/<session_id>")
    def delete_session(session_id: str) -> Any:
        removed = manager.delete(session_id)
        return Response(status=204, headers={"X-Lightserv-Removed": str(removed)})

    @app.post("/v1/sweep")
    def sweep() -> Any:
        return jsonify(removed=manager.sweep(request.get_json(silent=True)))

    return app
