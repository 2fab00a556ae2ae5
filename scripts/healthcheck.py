"""Container health checks (docker-compose-*.yml): `python scripts/healthcheck.py web|worker|beat`.

- web: the web process answers `GET /healthz` at all (200, or 503 when a dependency is down: that
  dependency's own check reports it, and restarting the web process would not help);
- worker: this container's Celery worker stamped its heartbeat in Redis within the last 45 s;
- beat: the scheduler stamped its heartbeat within the last 45 s.

Exit status 0 = healthy. No database access, no app import beyond the heartbeat key names.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.error
import urllib.request


def check_web() -> bool:
    port = os.environ.get("PORT", "5000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:  # noqa: S310
            return resp.status == 200
    except urllib.error.HTTPError as exc:
        return exc.code == 503
    except OSError:
        return False


def _fresh(value: bytes | None, ttl: float) -> bool:
    try:
        return value is not None and time.time() - float(value) < ttl
    except ValueError:
        return False


def check_heartbeat(kind: str) -> bool:
    import redis

    from lightserv.celery_app import BEAT_HEARTBEAT_KEY, HEARTBEAT_TTL, WORKER_HEARTBEAT_KEY

    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_timeout=5)
    if kind == "beat":
        return _fresh(r.get(BEAT_HEARTBEAT_KEY), HEARTBEAT_TTL)
    keys = list(r.scan_iter(f"{WORKER_HEARTBEAT_KEY}{socket.gethostname()}:*", count=100))
    return any(_fresh(v, HEARTBEAT_TTL) for v in (r.mget(keys) if keys else []))


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("web", "worker", "beat"):
        print("usage: healthcheck.py web|worker|beat", file=sys.stderr)
        return 2
    try:
        healthy = check_web() if argv[1] == "web" else check_heartbeat(argv[1])
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", with the reason on stderr
        print(f"{argv[1]} unhealthy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
