"""GET /healthz: the state of every part the product depends on.

Each value is "ok", "not_configured", or a sentence starting "error:" (the part is down; the status is then
"degraded" with 503) or another word ("unknown: ...") that names a state which is not a fault.
Two keys appear only where they apply: `proxy` when the viewer launcher is configured (views need
configurable-http-proxy: only behind it do the access cookie and the data share one origin), and `cluster` when
CLUSTER_BACKEND=slurm (read from the poller's last outcome, no scheduler call here).
"""

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
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the server is gone; the pool reconnects on the next check
            db.session.remove()
        settings = current_app.config["SETTINGS"]
        return f"error: MariaDB at {settings.db_host}:{settings.db_port} is not answering ({type(exc).__name__})"


def _check_redis() -> tuple[str, object]:
    try:
        r = get_redis()
        r.ping()
        return "ok", r
    except Exception as exc:  # noqa: BLE001
        from urllib.parse import urlsplit

        url = urlsplit(current_app.config["SETTINGS"].redis_url)  # host and port only: never a password
        return f"error: Redis at {url.hostname}:{url.port or 6379} is not answering ({type(exc).__name__})", None


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


def _check_proxy() -> str:
    settings = current_app.config["SETTINGS"]
    if not settings.viewer_proxy_api_url:
        return "error: configurable-http-proxy is not configured (VIEWER_PROXY_API_URL); views cannot open without it"
    from lib.proxy import ProxyClient, ProxyError

    try:
        ProxyClient(settings.viewer_proxy_api_url, settings.configproxy_auth_token, timeout=2).ping()
        return "ok"
    except (ProxyError, OSError, ValueError) as exc:
        return f"error: configurable-http-proxy at {settings.viewer_proxy_api_url} is not answering ({exc})"


def _check_cluster(redis_state: str) -> str:
    from lightserv.runs.poller import cluster_status, unreachable_since

    if redis_state != "ok":
        return "unknown: redis unavailable"
    if cluster_status() is None:
        return "unknown: not polled yet"
    down = unreachable_since()
    if down is None:
        return "ok"
    since, error = down
    return (
        f"error: the cluster cannot be reached since {since.isoformat(timespec='seconds')} UTC ({error}); "
        "runs keep their last known state"
    )


@bp.route("/healthz")
@public
def healthz():
    redis_state, r = _check_redis()
    settings = current_app.config["SETTINGS"]
    report = {
        "db": _check_db(),
        "redis": redis_state,
        "worker": _check_worker(r),
        "launcher": _check_launcher(),
        "scheduler": _check_scheduler(r),
    }
    if settings.viewer_launcher_url:
        report["proxy"] = _check_proxy()
    if settings.cluster_backend == "slurm":
        report["cluster"] = _check_cluster(redis_state)
    healthy = not any(v.startswith("error") for v in report.values())
    report["status"] = "ok" if healthy else "degraded"
    return jsonify(report), (200 if healthy else 503)
