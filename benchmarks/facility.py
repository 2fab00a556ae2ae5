"""The seeded facility the load test and the soak run against: a database connection to it and the simulated
users' accounts (the 5,000-request seed itself is `benchmarks.seed`)."""

from __future__ import annotations

import pymysql

from benchmarks.seed import db_params, settings_for

PASSWORD = "load test password 11"  # noqa: S105 - throwaway accounts in a throwaway schema
STAFF_ROLES = {"admin": "facility_admin", "clearing": "clearing_staff", "imaging": "imaging_staff"}


def connect() -> pymysql.Connection:
    return pymysql.connect(charset="utf8mb4", autocommit=True, **db_params())


def query(conn, sql: str, args=()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def create_accounts(prefix: str, users: list[tuple[str, str]], redis_url: str | None = None) -> None:
    """Accounts (username, role) with PASSWORD and their staff roles, through the app's own services."""
    from lightserv import create_app
    from lightserv.auth import services
    from lightserv.db import forget_connections
    from lightserv.extensions import db

    overrides = {"redis_url": redis_url} if redis_url else {}
    app = create_app(settings_for(prefix, **overrides))
    try:
        with app.app_context():
            for username, role in users:
                services.ensure_user(username, password=PASSWORD, actor=None)
                if role in STAFF_ROLES:
                    services.grant_role(username, STAFF_ROLES[role], actor=None)
            db.session.remove()
            db.engine.dispose()
    finally:
        forget_connections()
