"""Launching and stopping a session, run by Celery tasks.

Launch: resolve the link's layers (paths from DataLayer/Atlas now), post the session to the launcher, register
the proxy routes, store the containers, mark `ready`. Any error, or the launch timeout, removes what was made
and marks `failed` with a message. Stop: the launcher deletes every container of the session, the proxy
routes go, the row ends. Both tolerate what is already gone and are safe to run twice.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, select

from lib import viewer_access
from lib.proxy import ProxyError
from lightserv.common.audit import record_event, utcnow
from lightserv.extensions import db
from lightserv.models import ViewerLink, ViewerSession, ViewerSessionContainer

from .catalogue import resolve_spec
from .client import LauncherError, belongs_to, launcher, proxy, session_paths
from .groups import ResolvedLayer, layout

log = logging.getLogger(__name__)
FINAL_STATUS = {"user": "stopped", "admin": "stopped", "orphan": "stopped", "idle": "expired",
                "max_lifetime": "expired", "launch_failed": "failed", "access_removed": "stopped"}  # fmt: skip


def public_base_url() -> str:
    return current_app.config["SETTINGS"].public_base_url.rstrip("/")


def access_key(session_id: str) -> str:
    """The session's key: its servers check the browser's cookie with it (lib/viewer_access.py)."""
    return viewer_access.session_key(current_app.config["SETTINGS"].secret_key, session_id)


def session_body(session: ViewerSession, link: ViewerLink) -> tuple[dict, list[str]]:
    """The launcher's session body and the warnings of layers left out. Views need the proxy: only behind it
    do the browser's cookie and the data share one origin."""
    settings = current_app.config["SETTINGS"]
    if not settings.viewer_proxy_api_url:
        raise LauncherError("The viewer needs configurable-http-proxy (VIEWER_PROXY_API_URL is not set).")
    layers, warnings = resolve_spec(link.spec or {})
    if not layers:
        raise LauncherError("This view is no longer available.")
    space = (link.spec.get("group") or {}).get("space", "full")
    body = {
        "session_id": session.id,
        "owner": session.owner,
        "variant": session.variant,
        "layers": [layer_body(layer) for layer in layers],
        "access_key": access_key(session.id),
        "neuroglancer": {
            "token": session.ng_token,
            "public_base_url": public_base_url(),
            "layout": layout(layers, space),
            "gain": settings.viewer_gain,
            "title": link.title,
        },
    }
    return body, warnings


def layer_body(layer: ResolvedLayer) -> dict:
    """A layer of the launch body: its route name, the name Neuroglancer shows and, for images, the contrast
    the data's own percentiles give (read now from its coarsest scale; absent when unreadable)."""
    from lib.precomputed.display_range import display_range  # the package loads cloud-volume: worker only

    out = {"name": layer.name, "type": layer.type, "host_path": layer.host_path, "label": layer.label or layer.name}
    span = display_range(Path(layer.host_path)) if layer.type == "image" else None
    if span:
        out["range"] = list(span)
    return out


def launch(session_id: str) -> str:
    """Launch a `starting` session; returns its final status. A session in any other state is left alone."""
    settings = current_app.config["SETTINGS"]
    session = db.session.get(ViewerSession, session_id)
    if session is None or session.status != "starting":
        return session.status if session else "missing"
    deadline = time.monotonic() + settings.viewer_launch_timeout_seconds
    link = db.session.get(ViewerLink, session.link_id)
    try:
        if link is None or link.revoked_at is not None:
            raise LauncherError("This link was revoked.")
        body, _warnings = session_body(session, link)
        result = launcher().create_session(body, timeout=max(5.0, deadline - time.monotonic()))
        routes = _store_containers(session, result, {x["name"]: x["host_path"] for x in body["layers"]})
        db.session.commit()
        _register_routes(routes)
        if time.monotonic() > deadline:
            raise LauncherError(f"The viewer did not start within {settings.viewer_launch_timeout_seconds} s.")
    except (LauncherError, ProxyError, OSError, ValueError, KeyError) as exc:
        db.session.rollback()
        message = str(exc) if isinstance(exc, LauncherError) else f"The viewer could not start: {exc}"
        return _fail(session_id, message)
    db.session.refresh(session)
    if session.status != "starting":  # stopped while it was starting: undo what we made
        stop(session_id, "user")
        return db.session.get(ViewerSession, session_id).status
    now = utcnow()
    session.status = "ready"
    session.ready_at = now
    session.last_activity_at = now
    record_event(
        "viewer.session_started",
        "viewer_session",
        {"id": session.id},
        f"Viewer session {session.id[:8]} started for {session.owner}: {link.title}",
        actor=session.owner,
        request_key=(link.request_username, link.request_name) if link.request_username else None,
    )
    db.session.commit()
    return "ready"


def _store_containers(session: ViewerSession, result: dict, folders: dict[str, str]) -> dict[str, str]:
    """One row per container; returns proxy path -> target."""
    db.session.execute(delete(ViewerSessionContainer).where(ViewerSessionContainer.session_id == session.id))
    routes = {}
    for c in result.get("containers", []):
        path = c.get("proxy_path") or ""
        db.session.add(
            ViewerSessionContainer(
                session_id=session.id,
                role=c["role"],
                container_name=c["name"],
                container_id=None,
                image=c.get("image", "")[:255],
                layer_name=c.get("layer") or None,
                host_path=folders.get(c.get("layer") or ""),
                proxy_path=path[:255],
            )
        )
        routes[path] = c["target"]
    return routes


def _register_routes(routes: dict[str, str]) -> None:
    client = proxy()
    if client is None:
        return
    for path, target in routes.items():
        client.add_route(path, target)


def _fail(session_id: str, message: str) -> str:
    """Remove whatever the launch made and mark the session failed (the page offers "Try again")."""
    _remove_everything(session_id)
    session = db.session.get(ViewerSession, session_id)
    if session is None:
        return "missing"
    session.status = "failed"
    session.error_message = message[:1024]
    session.ended_at = utcnow()
    session.end_reason = "launch_failed"
    db.session.commit()
    log.warning("viewer session %s failed: %s", session_id, message)
    return "failed"


def _remove_everything(session_id: str) -> list[str]:
    """Delete the session's containers at the launcher and its proxy routes; errors are collected, not
    raised, so one failure never stops the rest."""
    problems = []
    try:
        launcher().delete_session(session_id)
    except LauncherError as exc:
        problems.append(f"launcher: {exc}")
    client = proxy()
    if client is not None:
        paths = {
            c.proxy_path
            for c in db.session.scalars(
                select(ViewerSessionContainer).where(ViewerSessionContainer.session_id == session_id)
            )
            if c.proxy_path.startswith("/")
        }
        paths.add(session_paths(session_id)[0])
        try:
            paths |= {p for p in client.routes() if belongs_to(p, session_id)}
        except ProxyError as exc:
            problems.append(f"proxy: {exc}")
        for path in sorted(paths):
            try:
                client.delete_route(path)
            except ProxyError as exc:
                problems.append(f"proxy: {exc}")
    return problems


def stop(session_id: str, reason: str) -> str:
    """Stop a session for `reason` (user, admin, idle, max_lifetime, launch_failed, orphan); idempotent."""
    session = db.session.get(ViewerSession, session_id)
    if session is None:
        _remove_everything(session_id)  # an orphan without a row: remove what the launcher and proxy hold
        return "missing"
    if session.ended_at is not None and session.status in ("stopped", "expired", "failed"):
        _remove_everything(session_id)
        return session.status
    if session.status != "stopping":
        session.status = "stopping"
        db.session.commit()
    problems = _remove_everything(session_id)
    session.status = FINAL_STATUS.get(reason, "stopped")
    session.ended_at = utcnow()
    session.end_reason = reason
    if problems:
        session.error_message = ("; ".join(problems))[:1024]
    link = db.session.get(ViewerLink, session.link_id)
    record_event(
        "viewer.session_stopped",
        "viewer_session",
        {"id": session.id},
        f"Viewer session {session.id[:8]} of {session.owner} ended ({reason})",
        actor=None,
        request_key=(link.request_username, link.request_name) if link and link.request_username else None,
    )
    db.session.commit()
    return session.status
