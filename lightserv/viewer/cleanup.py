"""Idle clean-up and orphan sweep, a beat task every VIEWER_CLEANUP_SECONDS.

1. Routes are read from the proxy (all of them, and those inactive since now − VIEWER_IDLE_SECONDS); the live
   sessions' `last_activity_at` is updated from the full list.
2. A session expires when none of its routes was active since the cutoff and it was created before it; also
   past VIEWER_MAX_LIFETIME_SECONDS; a session stuck in `starting` for 10 minutes fails; one stuck in
   `stopping` for 10 minutes is stopped again; one whose owner may no longer open its link (removed from the
   request, deactivated, link revoked) is stopped, so its data stops answering within one interval.
3. Each is stopped through launch.stop (launcher, proxy, row, event).
4. The launcher removes containers of sessions that are not live; the proxy loses routes of such sessions.

Every step is idempotent and one failure never stops the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from lib.proxy import ProxyError, Route
from lightserv.common.audit import utcnow
from lightserv.extensions import db
from lightserv.models import Account, ViewerLink, ViewerSession

from .access import may_open_link
from .client import LauncherError, belongs_to, launcher, proxy, session_of_route
from .launch import stop
from .services import LIVE

log = logging.getLogger(__name__)
STUCK = dt.timedelta(minutes=10)


@dataclass
class CleanupReport:
    expired: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    restopped: list[str] = field(default_factory=list)
    swept_containers: list[str] = field(default_factory=list)
    swept_routes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _routes_of(routes: dict[str, Route], session_id: str) -> list[Route]:
    return [r for path, r in routes.items() if belongs_to(path, session_id)]


def cleanup(now: dt.datetime | None = None) -> CleanupReport:
    settings = current_app.config["SETTINGS"]
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=settings.idle_seconds)
    report = CleanupReport()
    client = proxy()
    all_routes: dict[str, Route] | None = None
    idle_routes: dict[str, Route] | None = None
    if client is not None:
        try:
            all_routes = client.routes()
            idle_routes = client.routes(inactive_since=cutoff)
        except ProxyError as exc:
            report.problems.append(f"proxy: {exc}")
    sessions = list(db.session.scalars(select(ViewerSession).where(ViewerSession.status.in_(LIVE))))
    doomed: list[tuple[str, str]] = []
    for s in sessions:
        routes = _routes_of(all_routes, s.id) if all_routes is not None else []
        seen = [r.last_activity for r in routes if r.last_activity is not None]
        if seen:
            latest = max(seen)
            if s.last_activity_at is None or latest > s.last_activity_at:
                s.last_activity_at = latest
        if s.status == "starting":
            if s.created_at < now - STUCK:
                doomed.append((s.id, "launch_failed"))
            continue
        if s.status == "stopping":
            if (s.last_activity_at or s.ready_at or s.created_at) < now - STUCK:
                doomed.append((s.id, "user"))
            continue
        if not owner_may_still_open(s):
            doomed.append((s.id, "access_removed"))
            continue
        if s.created_at < now - dt.timedelta(seconds=settings.viewer_max_lifetime_seconds):
            doomed.append((s.id, "max_lifetime"))
            continue
        if s.created_at >= cutoff:
            continue
        if routes and idle_routes is not None:
            idle = all(r.path in idle_routes for r in routes)
        elif all_routes is not None or client is None:
            # no route (direct loopback URLs, or routes lost): the stored activity decides
            idle = (s.last_activity_at or s.ready_at or s.created_at) < cutoff
        else:
            idle = False  # the proxy could not be read: never expire on missing information
        if idle:
            doomed.append((s.id, "idle"))
    db.session.commit()
    for session_id, reason in doomed:
        try:
            status = stop(session_id, reason)
        except Exception as exc:  # noqa: BLE001 - one failure never stops the others
            db.session.rollback()
            report.problems.append(f"{session_id}: {exc}")
            log.exception("viewer clean-up could not stop %s", session_id)
            continue
        {"failed": report.failed, "expired": report.expired}.get(status, report.restopped).append(session_id)
    sweep_orphans(report)
    return report


def owner_may_still_open(session: ViewerSession) -> bool:
    account = db.session.get(Account, session.owner)
    link = db.session.get(ViewerLink, session.link_id)
    if account is None or not account.is_active or link is None or link.revoked_at is not None:
        return False
    return may_open_link(link, account)


def sweep_orphans(report: CleanupReport | None = None) -> CleanupReport:
    """Containers and routes of sessions that are not live are removed. The live sessions
    are read again after the routes are listed: a view launched while the launcher sweeps (seconds, when
    containers stop) registers its routes only once its row is `starting`, so it is never taken for an orphan."""
    report = report or CleanupReport()
    try:
        report.swept_containers = launcher().sweep(_live_ids())
    except LauncherError as exc:
        report.problems.append(f"launcher: {exc}")
    client = proxy()
    if client is not None:
        try:
            paths = sorted(client.routes())
            keep = set(_live_ids())
            for path in paths:
                sid = session_of_route(path)
                if sid is not None and sid not in keep:
                    if client.delete_route(path):
                        report.swept_routes.append(path)
        except ProxyError as exc:
            report.problems.append(f"proxy: {exc}")
    return report


def _live_ids() -> list[str]:
    """The live sessions now: the transaction ends first, so MariaDB's snapshot is not an older one."""
    db.session.commit()
    return sorted(db.session.scalars(select(ViewerSession.id).where(ViewerSession.status.in_(LIVE))))
