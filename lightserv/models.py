"""Application tables (flask-sqlalchemy), in the database `<DJ_SCHEMA_PREFIX>app`.

They refer to DataJoint rows by natural key columns without declared foreign keys, so the event log
survives request deletion.
"""

from __future__ import annotations

import datetime as dt

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.mysql import DATETIME as MYSQL_DATETIME
from sqlalchemy.orm import Mapped, mapped_column

from schemas.enums import (
    EMAIL_STATUS,
    NOTIFICATION_CATEGORY,
    NOTIFICATION_MODE,
    ROLE,
    VIEWER_CONTAINER_ROLE,
    VIEWER_SESSION_END_REASON,
    VIEWER_SESSION_STATUS,
    VIEWER_VARIANT,
)

from .extensions import db


def utcnow() -> dt.datetime:
    """Naive UTC timestamp (every stored timestamp is UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# microsecond precision on MariaDB, plain DateTime elsewhere
DateTime6 = DateTime().with_variant(MYSQL_DATETIME(fsp=6), "mysql", "mariadb")


class Account(UserMixin, db.Model):
    """Credentials of one user: local password and API token, both stored only as hashes."""

    __tablename__ = "account"
    username: Mapped[str] = mapped_column(String(32), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    api_token_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    api_token_created_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    # flask-login
    def get_id(self) -> str:
        return self.username

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return bool(self.active)

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        # UserMixin ties this to is_active; an inactive user is still identified (and refused with 403)
        return True


class RoleGrant(db.Model):
    """One staff role held by one user. Revoking deletes the row; history is in the event log."""

    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("username", "role", name="uq_role_grant"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    role: Mapped[str] = mapped_column(Enum(*ROLE, name="role"), nullable=False)
    granted_by: Mapped[str] = mapped_column(String(32), nullable=False)
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class LoginSession(db.Model):
    """One login of one browser. The signed session cookie carries `id`; the login counts while the row
    is live: not ended, used within SESSION_IDLE_MINUTES, started within SESSION_MAX_HOURS."""

    __tablename__ = "login_session"
    __table_args__ = (Index("ix_login_session_user", "username", "ended_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # 128-bit random, hex
    username: Mapped[str] = mapped_column(String(32), nullable=False)
    method: Mapped[str] = mapped_column(String(16), nullable=False)  # "password" or "sso"
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)  # to the minute
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(24), nullable=True)  # see auth/login_sessions.py
    ip: Mapped[str] = mapped_column(String(45), nullable=False, default="")  # client address at login
    user_agent: Mapped[str] = mapped_column(String(255), nullable=False, default="")  # browser at login


class EventLog(db.Model):
    """Append-only audit trail; the application's database account has INSERT and SELECT only."""

    __tablename__ = "event_log"
    __table_args__ = (
        Index("ix_event_request", "request_username", "request_name", "occurred_at"),
        Index("ix_event_actor", "actor", "occurred_at"),
        Index("ix_event_action", "action", "occurred_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime6, nullable=False)
    actor: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_type: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_key: Mapped[dict] = mapped_column(JSON, nullable=False)
    request_username: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    summary: Mapped[str] = mapped_column(String(512), nullable=False)
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    correlation_id: Mapped[str] = mapped_column(String(32), nullable=False)


class EmailOutbox(db.Model):
    """One email to send; a unique de-duplication key makes every event email at most once."""

    __tablename__ = "email_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    template: Mapped[str] = mapped_column(String(64), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    to_addrs: Mapped[list] = mapped_column(JSON, nullable=False)
    cc_addrs: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    body_text: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(
        Enum(*EMAIL_STATUS, name="outbox_status"), nullable=False, default="queued", index=True
    )
    attempts: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    request_username: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request_name: Mapped[str | None] = mapped_column(String(64), nullable=True)


#: a background task's outbox row: waiting to reach the broker, handed to it, finished, or failed in its task
TASK_OUTBOX_STATUS = ("pending", "sent", "done", "failed")


class TaskOutbox(db.Model):
    """One piece of background work for Celery, written in the transaction of the change that causes it; the
    relay (lightserv.common.dispatch) hands it to the broker, the worker marks it done."""

    __tablename__ = "task_outbox"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime6, nullable=False, default=utcnow)
    task_name: Mapped[str] = mapped_column(String(128), nullable=False)  # the Celery task's registered name
    args: Mapped[list] = mapped_column(JSON, nullable=False)  # its positional arguments (keys, never objects)
    dedupe_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)  # one row per event
    status: Mapped[str] = mapped_column(
        Enum(*TASK_OUTBOX_STATUS, name="task_outbox_status"), nullable=False, default="pending"
    )
    not_before: Mapped[dt.datetime] = mapped_column(DateTime6, nullable=False, default=utcnow)  # UTC, a delay
    sends: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0)  # times handed to the broker
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime6, nullable=True)  # UTC, last hand-over
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime6, nullable=True)  # UTC, task done/failed
    last_error: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    what: Mapped[str] = mapped_column(String(255), nullable=False, default="")  # the work in words
    request_username: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    __table_args__ = (Index("ix_task_outbox_status_due", "status", "not_before"),)


class ViewerLink(db.Model):
    """A persistent description of what to show in Neuroglancer."""

    __tablename__ = "viewer_link"
    id: Mapped[str] = mapped_column(String(10), primary_key=True)
    created_by: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    title: Mapped[str] = mapped_column(String(128), nullable=False)
    request_username: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    spec: Mapped[dict] = mapped_column(JSON, nullable=False)
    is_gallery: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    gallery_description: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    open_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ViewerSession(db.Model):
    """A short-lived set of viewer containers behind the proxy."""

    __tablename__ = "viewer_session"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    link_id: Mapped[str] = mapped_column(ForeignKey("viewer_link.id"), nullable=False, index=True)
    owner: Mapped[str] = mapped_column(String(32), nullable=False)
    variant: Mapped[str] = mapped_column(Enum(*VIEWER_VARIANT, name="viewer_variant"), nullable=False)
    status: Mapped[str] = mapped_column(
        Enum(*VIEWER_SESSION_STATUS, name="viewer_session_status"), nullable=False, default="starting"
    )
    ng_token: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    ready_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_activity_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(
        Enum(*VIEWER_SESSION_END_REASON, name="viewer_end_reason"), nullable=True
    )
    error_message: Mapped[str] = mapped_column(String(1024), nullable=False, default="")


class ViewerSessionContainer(db.Model):
    """One container (or local process) of a viewer session."""

    __tablename__ = "viewer_session_container"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("viewer_session.id"), nullable=False, index=True)
    role: Mapped[str] = mapped_column(Enum(*VIEWER_CONTAINER_ROLE, name="viewer_container_role"), nullable=False)
    container_name: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    container_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    image: Mapped[str] = mapped_column(String(255), nullable=False)
    layer_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    host_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    proxy_path: Mapped[str] = mapped_column(String(255), nullable=False)


class Feedback(db.Model):
    """A requester's or collaborator's feedback on one request; saving again updates it."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("request_username", "request_name", "submitted_by", name="uq_feedback"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_username: Mapped[str] = mapped_column(String(32), nullable=False)
    request_name: Mapped[str] = mapped_column(String(64), nullable=False)
    submitted_by: Mapped[str] = mapped_column(String(32), nullable=False)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    clearing_rating: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    imaging_rating: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    processing_rating: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    clearing_notes: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    imaging_notes: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    processing_notes: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    other_notes: Mapped[str] = mapped_column(String(1000), nullable=False, default="")


class NotificationPreference(db.Model):
    """How one user wants one category of emails: at once (the default, no row) or in a daily digest."""

    __tablename__ = "notification_preference"
    __table_args__ = (UniqueConstraint("username", "category", name="uq_notification_preference"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    category: Mapped[str] = mapped_column(Enum(*NOTIFICATION_CATEGORY, name="notification_category"), nullable=False)
    mode: Mapped[str] = mapped_column(Enum(*NOTIFICATION_MODE, name="notification_mode"), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class DigestItem(db.Model):
    """One email held back for a user's daily digest; `digest_outbox_id` is set when the digest is queued."""

    __tablename__ = "digest_item"
    __table_args__ = (Index("ix_digest_pending", "username", "digest_outbox_id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(32), nullable=False)
    email: Mapped[str] = mapped_column(String(100), nullable=False)
    category: Mapped[str] = mapped_column(Enum(*NOTIFICATION_CATEGORY, name="notification_category"), nullable=False)
    template: Mapped[str] = mapped_column(String(64), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    body_text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    source_outbox_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the email it was held from
    digest_outbox_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the digest that carried it
