"""GET /healthz: the state of every part the product depends on (run-and-test.md §1)."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from lightserv.celery_app import BEAT_HEARTBEAT_KEY, HEARTBEAT_TTL, WORKER_HEARTBEAT_KEY
from lightserv.common.permissions import public
from lightserv.common.redis import get_redis
from lightserv.extensions import db

bp = Blueprint("health", __name__)


def _check_db() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        from lightserv.db import get_schemas

        get_schemas().connection.query("SELECT 1")
        return "ok"
    except Exception as exc:  # noqa: BLE001
        db.session.rollback()
        return f"error: {type(exc).__name__}"


def _check_redis() -> tuple[str, object]:
    try:
        r = get_redis()
        r.ping()
        return "ok", r
    except Exception as exc:  # noqa: BLE001
        return f"error: {type(exc).__name__}", None


def _fresh(value: str | None) -> bool:
    try:
        return value is not None and time.time() - float(value) < HEARTBEAT_TTL
    except ValueError:
        return False


def _check_worker(r) -> str:
    if r is None:
        return "unknown: redis unavailable"
    keys = list(r.scan_iter(WORKER_HEARTBEAT_KEY + "*", count=100))
    if any(_fresh(v) for v in (r.mget(keys) if keys else [])):
        return "ok"
    return "error: no worker heartbeat"


def _check_scheduler(r) -> str:
    if r is None:
        return "unknown: redis unavailable"
    return "ok" if _fresh(r.get(BEAT_HEARTBEAT_KEY)) else "error: no scheduler heartbeat"


def _check_launcher() -> str:
    settings = current_app.config["SETTINGS"]
    if not settings.viewer_launcher_url:
        return "not_configured"
    import urllib.request

    if not settings.viewer_launcher_url.startswith(("http://", "https://")):
        return "error: VIEWER_LAUNCHER_URL must be http(s)"
    req = urllib.request.Request(  # noqa: S310 - scheme checked above
        settings.viewer_launcher_url.rstrip("/") + "/healthz",
        headers={"Authorization": f"Bearer {settings.viewer_launcher_token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:  # noqa: S310 - scheme checked above
            return "ok" if resp.status == 200 else f"error: HTTP {resp.status}"
    except Exception as exc:  # noqa: BLE001
        return f"error: {type(exc).__name__}"


@bp.route("/healthz")
@public
def healthz():
    redis_state, r = _check_redis()
    report = {
        "db": _check_db(),
        "redis": redis_state,
        "worker": _check_worker(r),
        "launcher": _check_launcher(),
        "scheduler": _check_scheduler(r),
    }
    healthy = all(v in ("ok", "not_configured") for v in report.values())
    report["status"] = "ok" if healthy else "degraded"
    return jsonify(report), (200 if healthy else 503)
