"""Stop at once, with one clear message, when MariaDB or Redis is not reachable."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

HINT = "Or start both with: docker compose -f docker-compose-dev.yml up -d db redis"


def reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def main() -> int:
    problems = []
    db_host = os.environ.get("DB_HOST", "127.0.0.1")
    db_port = int(os.environ.get("DB_PORT", "3306"))
    if not reachable(db_host, db_port):
        problems.append(f"MariaDB is not reachable at {db_host}:{db_port} (set DB_HOST / DB_PORT to change it).")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    parts = urlsplit(redis_url)
    r_host, r_port = parts.hostname or "127.0.0.1", parts.port or 6379
    if not reachable(r_host, r_port):
        problems.append(f"Redis is not reachable at {r_host}:{r_port} (set REDIS_URL to change it).")
    if problems:
        print("lightserv cannot start:", file=sys.stderr)
        for p in problems:
            print("  - " + p, file=sys.stderr)
        print("  " + HINT, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
