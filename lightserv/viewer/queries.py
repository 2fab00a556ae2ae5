"""Reads about viewer links and sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from lightserv.extensions import db
from lightserv.models import ViewerLink, ViewerSession

#: statuses of a session whose servers run or are being started or stopped
LIVE = ("starting", "ready", "stopping")


def get_session(session_id: str) -> ViewerSession | None:
    """The session with this id (32 hex digits), or None."""
    return db.session.get(ViewerSession, session_id) if len(session_id) == 32 else None


def get_link(link_id: str) -> ViewerLink | None:
    """The link with this id (at most 10 characters), or None."""
    return db.session.get(ViewerLink, link_id) if 0 < len(link_id) <= 10 else None


def list_live_sessions() -> list[ViewerSession]:
    """Live sessions, newest first."""
    return list(
        db.session.scalars(
            select(ViewerSession).where(ViewerSession.status.in_(LIVE)).order_by(ViewerSession.created_at.desc())
        )
    )


def list_ended_sessions(since: dt.datetime, limit: int = 500) -> list[ViewerSession]:
    """Sessions that ended at or after `since`, the latest first (at most `limit`)."""
    return list(
        db.session.scalars(
            select(ViewerSession)
            .where(ViewerSession.ended_at.is_not(None), ViewerSession.ended_at >= since)
            .order_by(ViewerSession.ended_at.desc())
            .limit(limit)
        )
    )


def get_links_by_id(link_ids: set[str]) -> dict[str, ViewerLink]:
    """Link id -> link, for the given ids (unknown ids are absent)."""
    if not link_ids:
        return {}
    return {link.id: link for link in db.session.scalars(select(ViewerLink).where(ViewerLink.id.in_(link_ids)))}


def list_request_links(username: str, request_name: str, limit: int = 200) -> list[ViewerLink]:
    """The request's saved views, newest first (at most `limit`)."""
    return list(
        db.session.scalars(
            select(ViewerLink)
            .where(ViewerLink.request_username == username, ViewerLink.request_name == request_name)
            .order_by(ViewerLink.created_at.desc(), ViewerLink.id)
            .limit(limit)
        )
    )
