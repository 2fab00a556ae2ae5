"""Writes of the viewer: links, sessions and their limits.

The web request only writes rows and queues tasks; it never waits for a server. Counting
live sessions and inserting a new one happen under a Redis lock, so the caps hold across web workers.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from lightserv.common.audit import record_event, utcnow
from lightserv.common.dispatch import enqueue, relay_pending
from lightserv.common.errors import DomainError
from lightserv.extensions import db
from lightserv.models import ViewerLink, ViewerSession
from lightserv.runs.locks import redis_lock

from .groups import VARIANT_OF_SPACE, link_title
from .queries import LIVE

SLOTS_LOCK = "lightserv:viewer:session-slots"
BUSY_MESSAGE = "The viewer is busy; please try again in a few minutes."
_ALPHABET = string.ascii_letters + string.digits


class ViewerBusy(DomainError):
    """VIEWER_MAX_SESSIONS live sessions already run."""


class LinkGone(DomainError):
    """The link was revoked (410)."""


@dataclass
class Opened:
    session: ViewerSession
    reused: bool


def new_link_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


def create_link(spec: dict, created_by: str, title: str | None = None) -> ViewerLink:
    """A persistent link (no paths, no session ids). The caller commits."""
    req = spec.get("request") or {}
    link = ViewerLink(
        id=new_link_id(),
        created_by=created_by,
        created_at=utcnow(),
        title=(title or link_title(spec))[:128],
        request_username=req.get("username"),
        request_name=req.get("request_name"),
        spec=spec,
        is_gallery=False,
        gallery_description="",
        revoked_at=None,
        revoked_by=None,
        last_opened_at=None,
        open_count=0,
    )
    db.session.add(link)
    record_event(
        "viewer.link_created",
        "viewer_link",
        {"id": link.id},
        f"Viewer link {link.id} created: {link.title}",
        request_key=(link.request_username, link.request_name) if link.request_username else None,
        after={"spec": spec},
    )
    return link


def save_link(spec: dict, created_by: str) -> ViewerLink:
    """A persistent link, committed at once (a session started next may fail without losing it)."""
    link = create_link(spec, created_by)
    db.session.commit()
    return link


def live_sessions(owner: str | None = None) -> list[ViewerSession]:
    query = select(ViewerSession).where(ViewerSession.status.in_(LIVE))
    if owner is not None:
        query = query.where(ViewerSession.owner == owner)
    return list(db.session.scalars(query))


def _activity(s: ViewerSession):
    return s.last_activity_at or s.ready_at or s.created_at


def start_session(link: ViewerLink, owner: str) -> ViewerSession:
    """A `starting` session of `link` for `owner`, its launch queued. Makes room among the owner's sessions
    (the least recently active are stopped) and refuses with ViewerBusy when the site is full."""
    settings = current_app.config["SETTINGS"]
    space = (link.spec.get("group") or {}).get("space", "full")
    to_stop: list[str] = []
    # while Redis is down the caps are kept without the lock (a race may start one session too many); the
    # launch waits in the outbox until the worker is back
    with redis_lock(SLOTS_LOCK, 30, wait=15, if_unreachable=True) as held:
        if not held:
            raise ViewerBusy(BUSY_MESSAGE)
        running = [s for s in live_sessions() if s.status != "stopping"]
        mine = sorted((s for s in running if s.owner == owner), key=_activity)
        excess = len(mine) - settings.viewer_max_sessions_per_user + 1
        doomed = mine[: max(0, excess)]
        if len(running) - len(doomed) >= settings.viewer_max_sessions:
            raise ViewerBusy(BUSY_MESSAGE)
        for old in doomed:
            old.status = "stopping"
            to_stop.append(old.id)
        session = ViewerSession(
            id=secrets.token_hex(16),
            link_id=link.id,
            owner=owner,
            variant=VARIANT_OF_SPACE.get(space, "general"),
            status="starting",
            ng_token=secrets.token_hex(16),
            created_at=utcnow(),
            ready_at=None,
            last_activity_at=None,
            ended_at=None,
            end_reason=None,
            error_message="",
        )
        db.session.add(session)
        for sid in to_stop:
            enqueue("lightserv.viewer.stop_session", sid, "user", key=f"viewer.stop:{sid}", what="Stopping a viewer")
        enqueue("lightserv.viewer.launch_session", session.id, key=f"viewer.launch:{session.id}", what="Viewer start")
        db.session.commit()
    relay_pending()
    return session


def open_link(link: ViewerLink, user: str) -> Opened:
    """Reuse the user's own `starting`/`ready` session of the link or launch one; count the open. Sessions are
    never shared: each answers only its owner's browser."""
    if link.revoked_at is not None:
        raise LinkGone("This link was revoked.")
    link.open_count = (link.open_count or 0) + 1
    link.last_opened_at = utcnow()
    db.session.commit()
    existing = db.session.scalars(
        select(ViewerSession)
        .where(
            ViewerSession.link_id == link.id,
            ViewerSession.owner == user,
            ViewerSession.status.in_(("starting", "ready")),
        )
        .order_by(ViewerSession.created_at.desc())
    ).first()
    if existing is not None:
        return Opened(existing, True)
    return Opened(start_session(link, user), False)


def request_stop(session: ViewerSession, reason: str) -> bool:
    """Mark a live session `stopping` and queue its stop; False when it had already ended."""
    if session.status not in LIVE:
        return False
    if session.status != "stopping":
        session.status = "stopping"
    enqueue("lightserv.viewer.stop_session", session.id, reason, key=f"viewer.stop:{session.id}", what="Viewer stop")
    db.session.commit()
    relay_pending()
    return True


def queue_orphan_stop(session_id: str) -> None:
    """Remove the containers and routes of a session that has no live row (an admin's stop)."""
    enqueue("lightserv.viewer.stop_session", session_id, "orphan", what="Removing an orphan viewer")
    db.session.commit()
    relay_pending()


def queue_sweep() -> None:
    """Remove the containers and routes of every session that is not live (an admin's sweep)."""
    enqueue("lightserv.viewer.sweep", what="Sweeping orphan viewers")
    db.session.commit()
    relay_pending()


def rename_link(link: ViewerLink, title: str, actor: str) -> None:
    before = link.title
    link.title = title[:128]
    record_event(
        "viewer.link_renamed",
        "viewer_link",
        {"id": link.id},
        f"Viewer link {link.id} renamed",
        request_key=(link.request_username, link.request_name) if link.request_username else None,
        before={"title": before},
        after={"title": link.title},
    )
    db.session.commit()


def revoke_link(link: ViewerLink, actor: str) -> None:
    if link.revoked_at is not None:
        return
    link.revoked_at = utcnow()
    link.revoked_by = actor
    record_event(
        "viewer.link_revoked",
        "viewer_link",
        {"id": link.id},
        f"Viewer link {link.id} revoked",
        request_key=(link.request_username, link.request_name) if link.request_username else None,
    )
    db.session.commit()
    for session in db.session.scalars(
        select(ViewerSession).where(ViewerSession.link_id == link.id, ViewerSession.status.in_(LIVE))
    ):
        request_stop(session, "user")


def atlas_link(atlas_name: str, user: str) -> ViewerLink:
    """The one shared link of an atlas shown on its own (created on first use)."""
    from .groups import atlas_spec

    spec = atlas_spec(atlas_name)
    found = db.session.scalars(
        select(ViewerLink)
        .where(ViewerLink.request_username.is_(None), ViewerLink.revoked_at.is_(None))
        .order_by(ViewerLink.created_at)
    ).all()
    for link in found:
        if (link.spec or {}).get("atlas_only") and link.spec.get("atlas_name") == atlas_name:
            return link
    link = create_link(spec, user)
    db.session.commit()
    return link

