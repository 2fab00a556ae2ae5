"""Admin view of live sessions. Viewing changes nothing; stopping and sweeping
are POSTs that queue tasks."""

from __future__ import annotations

import datetime as dt
import re

from flask import abort, flash, redirect, render_template, url_for

from lib.proxy import ProxyError
from lightserv.common.audit import utcnow
from lightserv.common.permissions import requires

from .. import queries
from ..client import LauncherError, launcher, proxy, session_of_route
from ..pages import STATUS_BADGES, STATUS_LABELS, ago, link_url
from ..services import queue_orphan_stop, queue_sweep, request_stop
from . import bp

SESSION_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def _launcher_view() -> tuple[dict[str, dict], str]:
    try:
        return {s["session_id"]: s for s in launcher().list_sessions()}, ""
    except LauncherError as exc:
        return {}, f"The launcher could not be asked: {exc}"


def _proxy_activity() -> tuple[dict[str, dt.datetime], str]:
    client = proxy()
    if client is None:
        return {}, ""
    try:
        routes = client.routes()
    except ProxyError as exc:
        return {}, f"The proxy could not be asked: {exc}"
    latest: dict[str, dt.datetime] = {}
    for path, route in routes.items():
        sid = session_of_route(path)
        if sid and route.last_activity and (sid not in latest or route.last_activity > latest[sid]):
            latest[sid] = route.last_activity
    return latest, ""


@bp.route("/admin/sessions")
@requires("admin")
def admin_sessions():
    now = utcnow()
    live = queries.list_live_sessions()
    ended = queries.list_ended_sessions(now - dt.timedelta(days=7))
    links = queries.get_links_by_id({s.link_id for s in live + ended})
    reported, launcher_problem = _launcher_view()
    activity, proxy_problem = _proxy_activity()
    rows = []
    for s in live:
        last = activity.get(s.id) or s.last_activity_at
        link = links.get(s.link_id)
        rows.append(
            {
                "s": s,
                "title": link.title if link else "",
                "link_url": link_url(s.link_id),
                "status_label": STATUS_LABELS[s.status],
                "badge": STATUS_BADGES[s.status],
                "last_activity": ago(last, now),
                "idle": ago(last or s.ready_at or s.created_at, now).replace(" ago", ""),
                "containers": (reported.get(s.id) or {}).get("containers", []),
            }
        )
    live_ids = {s.id for s in live}
    orphans = [r for sid, r in sorted(reported.items()) if sid not in live_ids]
    ended_rows = [
        {"s": s, "title": links[s.link_id].title if s.link_id in links else "", "status_label": STATUS_LABELS[s.status]}
        for s in ended
    ]
    return render_template(
        "viewer/admin_sessions.html",
        rows=rows,
        orphans=orphans,
        ended=ended_rows,
        problems=[p for p in (launcher_problem, proxy_problem) if p],
    )


@bp.route("/admin/sessions/<session_id>/stop", methods=["POST"])
@requires("admin")
def admin_stop(session_id: str):
    if not SESSION_ID_RE.match(session_id):
        abort(404)
    session = queries.get_session(session_id)
    if session is not None and request_stop(session, "admin"):
        flash(f"Session {session_id[:8]} is being stopped.", "info")
    else:
        queue_orphan_stop(session_id)  # no live row: remove its containers and routes
        flash(f"The containers and routes of {session_id[:8]} are being removed.", "info")
    return redirect(url_for("viewer.admin_sessions"), 303)


@bp.route("/admin/sweep", methods=["POST"])
@requires("admin")
def admin_sweep():
    queue_sweep()
    flash("Orphan sweep queued: containers and routes of sessions that are not live will be removed.", "info")
    return redirect(url_for("viewer.admin_sessions"), 303)
