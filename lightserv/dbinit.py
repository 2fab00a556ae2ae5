"""Creating and migrating the databases: an explicit step (`flask --app run:app init-db`), never at
import or app start. Every step is idempotent, so running it twice is harmless."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pymysql
from flask import Flask, current_app
from sqlalchemy import String, select, text
from sqlalchemy.orm import Mapped, mapped_column

from lightserv.extensions import db
from lightserv.models import DateTime6


class SchemaMigration(db.Model):
    """Migration steps applied to this deployment's databases, in order."""

    __tablename__ = "schema_migration"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    applied_at: Mapped[dt.datetime] = mapped_column(DateTime6, nullable=False)


def _initial(app: Flask) -> None:
    """0001: every DataJoint table, every application table, the seeded lookups."""


def _notifications(app: Flask) -> None:
    """0002: notification preferences and held digest emails (issue 10); `db.create_all` above makes the
    two tables, this step marks deployments that have them."""


def _viewer_access_removed(app: Flask) -> None:
    """A viewer session can end because its owner lost access to the request (`access_removed`)."""
    from schemas.enums import VIEWER_SESSION_END_REASON

    values = ", ".join(f"'{v}'" for v in VIEWER_SESSION_END_REASON)
    db.session.execute(text(f"ALTER TABLE viewer_session MODIFY end_reason ENUM({values}) NULL"))


def _login_sessions(app: Flask) -> None:
    """0004: one row per browser login (`login_session`); `db.create_all` above makes the table, this step
    marks deployments that have it."""


#: indexes the staff queues count and sort by (declared in schemas/lightsheet.py for new databases)
QUEUE_INDEXES = {
    "request__clearing_batch": ("clearing_progress", "completed_at"),
    "request__imaging_batch": ("imaging_progress", "submitted_at"),
    "request__processing_request": ("processing_progress", "submitted_at"),
}


def _fast_lists(app: Flask) -> None:
    """0005: the queue indexes, and the `request_status` counts kept by triggers
    (lightserv.requests.status_store), filled from the rows already there."""
    from lightserv.requests.status_store import install_statements

    settings = app.config["SETTINGS"]
    schema = f"{settings.dj_schema_prefix}lightsheet"
    with _server_connection(settings) as conn, conn.cursor() as cur:
        for table, columns in QUEUE_INDEXES.items():
            cur.execute(f"ALTER TABLE `{schema}`.`{table}` ADD INDEX IF NOT EXISTS {columns[0]} ({', '.join(columns)})")
        for statement in install_statements(schema):
            cur.execute(statement)


def _clearing_step_skipped(app: Flask) -> None:
    """0006: a clearing step can be recorded as skipped, with its reason (`skip_reason`); the column as
    DataJoint declares it (its type is kept at the front of the comment)."""
    settings = app.config["SETTINGS"]
    table = f"`{settings.dj_schema_prefix}lightsheet`.`request__clearing_step_entry`"
    with _server_connection(settings) as conn, conn.cursor() as cur:
        cur.execute(
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS skip_reason varchar(500) NOT NULL DEFAULT '' "
            "COMMENT ':varchar(500):non-empty: the step was skipped, for this reason' AFTER step_notes"
        )


def _task_outbox(app: Flask) -> None:
    """0007: the outbox of background tasks (`task_outbox`); `db.create_all` above makes the table, this step
    marks deployments that have it."""


#: indexes of the queues' "ready", "waiting" and finished tables (declared in schemas/lightsheet for new databases)
STATE_INDEXES = {
    "request__imaging_batch": {
        "imaging_progress_2": ("imaging_progress", "clearing_state", "submitted_at"),
        "imaging_progress_3": ("imaging_progress", "completed_at"),
    },
    "request__processing_request": {
        "processing_progress_2": ("processing_progress", "imaging_state", "submitted_at"),
        "processing_progress_3": ("processing_progress", "completed_at"),
    },
}


def _upstream_progress(app: Flask) -> None:
    """0008: each imaging batch and processing request keeps the progress of the row it waits for (the triggers of
    lightserv.workflow.upstream), indexed for the queues; the columns as DataJoint declares them."""
    from lightserv.workflow.upstream import COPIES, install_statements

    settings = app.config["SETTINGS"]
    schema = f"{settings.dj_schema_prefix}lightsheet"
    with _server_connection(settings) as conn, conn.cursor() as cur:
        for c in COPIES:
            values = ",".join(f"'{v}'" for v in c.values)
            comment = f":enum({values}):{c.comment}".replace("'", "''")
            indexes = ", ".join(
                f"ADD INDEX IF NOT EXISTS {name} ({', '.join(columns)})"
                for name, columns in STATE_INDEXES[c.table].items()
            )
            cur.execute(
                f"ALTER TABLE `{schema}`.`{c.table}` ADD COLUMN IF NOT EXISTS {c.column} ENUM({values}) NOT NULL"
                f" DEFAULT '{c.values[0]}' COMMENT '{comment}', {indexes}"
            )
        for statement in install_statements(schema):
            cur.execute(statement)


#: Ordered, idempotent migration steps. Append; never edit or reorder.
MIGRATIONS: list[tuple[str, Callable[[Flask], None]]] = [
    ("0001_initial", _initial),
    ("0002_notification_preferences", _notifications),
    ("0003_viewer_access_removed", _viewer_access_removed),
    ("0004_login_sessions", _login_sessions),
    ("0005_fast_lists", _fast_lists),
    ("0006_clearing_step_skipped", _clearing_step_skipped),
    ("0007_task_outbox", _task_outbox),
    ("0008_upstream_progress", _upstream_progress),
]


def _server_connection(settings) -> pymysql.Connection:
    return pymysql.connect(
        host=settings.db_host,
        port=settings.db_port,
        user=settings.db_user,
        password=settings.db_password,
        autocommit=True,
        charset="utf8mb4",
    )


def init_db(app: Flask, *, app_user: str | None = None, app_user_host: str = "%") -> list[str]:
    """Create what is missing and apply pending migrations. Returns the names of applied steps."""
    from lightserv.db import connect, forget_connections
    from schemas import activate_all
    from schemas.seed import seed_lookups

    settings = app.config["SETTINGS"]
    with _server_connection(settings) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{settings.app_database}` CHARACTER SET utf8mb4")
    dj_conn = connect(settings.db_host, settings.db_port, settings.db_user, settings.db_password)
    schemas = activate_all(settings.dj_schema_prefix, connection=dj_conn, create_tables=True)
    seed_lookups(schemas)
    dj_conn.close()
    forget_connections()
    applied: list[str] = []
    with app.app_context():
        db.create_all()
        done = set(db.session.scalars(select(SchemaMigration.name)))
        for name, step in MIGRATIONS:
            if name in done:
                continue
            step(app)
            db.session.add(SchemaMigration(name=name, applied_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
            db.session.commit()
            applied.append(name)
    if app_user:
        grant_app_user(settings, app_user, app_user_host)
    return applied


def grant_app_user(settings, user: str, host: str = "%") -> None:
    """Give the application's database account what it needs, and only INSERT and SELECT on the
    event log. The account must exist already (created by the DBA with its password)."""
    from schemas import SCHEMA_SUFFIXES

    quoted = f"'{user}'@'{host}'"
    with _server_connection(settings) as conn, conn.cursor() as cur:
        for suffix in SCHEMA_SUFFIXES:
            cur.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE, REFERENCES ON `{settings.dj_schema_prefix}{suffix}`.* "
                f"TO {quoted}"
            )
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (settings.app_database,)
        )
        for (table,) in cur.fetchall():
            privileges = "SELECT, INSERT" if table == "event_log" else "SELECT, INSERT, UPDATE, DELETE"
            cur.execute(f"GRANT {privileges} ON `{settings.app_database}`.`{table}` TO {quoted}")


def pending_migrations() -> list[str]:
    """Names of migration steps this code knows but the database lacks (empty when up to date)."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        done = set(db.session.scalars(select(SchemaMigration.name)))
    except (OperationalError, ProgrammingError) as exc:
        db.session.rollback()
        code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
        if code not in (1049, 1146):  # unknown database / table: nothing applied yet
            raise  # an unreachable server is not "behind" (the error page says the database is down)
        done = set()
    return [name for name, _ in MIGRATIONS if name not in done]


def check_database_current() -> str | None:
    """A message when the database is behind the code, else None (checked once per process)."""
    state = current_app.extensions.setdefault("lightserv_db_state", {})
    if state.get("current"):
        return None
    missing = pending_migrations()
    if missing:
        return (
            "The database is behind this version of lightserv (missing: "
            + ", ".join(missing)
            + "). An administrator must run: flask --app run:app init-db"
        )
    state["current"] = True
    return None
