"""What the session, link and admin pages show (read-only)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import current_app, url_for
from flask_login import current_user

from lightserv.common.audit import utcnow
from lightserv.extensions import db
from lightserv.models import ViewerLink, ViewerSession

from .access import may_see_request
from .catalogue import resolve_spec

STATUS_LABELS = {
    "starting": "Starting",
    "ready": "Ready",
    "stopping": "Stopping",
    "stopped": "Stopped",
    "expired": "Expired",
    "failed": "Failed",
}
STATUS_BADGES = {
    "starting": "text-bg-info",
    "ready": "text-bg-success",
    "stopping": "text-bg-secondary",
    "stopped": "text-bg-secondary",
    "expired": "text-bg-secondary",
    "failed": "text-bg-danger",
}


def public(path: str) -> str:
    return current_app.config["SETTINGS"].public_base_url.rstrip("/") + path


def viewer_url(session: ViewerSession) -> str:
    """`<PUBLIC_BASE_URL>/nglancer/<session_id>/v/<ng_token>/`, the Neuroglancer page behind the proxy."""
    return public(f"/nglancer/{session.id}/v/{session.ng_token}/")


def link_url(link_id: str) -> str:
    return public(url_for("viewer.open_link", link_id=link_id))


def status_json(session: ViewerSession) -> dict:
    """Status, message and, for the session's owner once it is ready, the address that opens it (the cookie
    that lets the browser read the data is set there; nobody else gets it)."""
    message = ""
    if session.status == "failed":
        message = session.error_message or "The viewer could not start."
    elif session.status in ("stopped", "expired"):
        message = "This viewer session has ended; open the link again to relaunch it."
    mine = session.owner == current_user.get_id()
    url = url_for("viewer.enter_session", session_id=session.id) if mine and session.status == "ready" else ""
    if not mine and session.status in ("starting", "ready"):
        message = "This view belongs to someone else; open its link to start your own."
    return {"status": session.status, "url": url, "message": message}


def layer_rows(link: ViewerLink) -> tuple[list[dict], list[str]]:
    """The layer table of a session card: resolution, light sheet, the layer in words, its name in Neuroglancer,
    source and layer folders."""
    settings = current_app.config["SETTINGS"]
    display = (settings.data_root_display or str(settings.data_root)).rstrip("/")
    group = (link.spec or {}).get("group") or {}
    layers, warnings = resolve_spec(link.spec or {})
    rows = []
    for layer in layers:
        if layer.product == "atlas":
            folder = str(Path(settings.atlas_root) / layer.layer_path)
            source = ""
        else:
            folder = f"{display}/{layer.layer_path}"
            source = f"{display}/{layer.source_path}" if layer.source_path else ""
        rows.append(
            {
                "resolution": group.get("image_resolution", ""),
                "lightsheet": layer.lightsheet if layer.lightsheet != "none" else "",
                "name": layer.name,  # the route and source name, for scripts and tests (data-layer), not shown
                "label": layer.label or layer.name,
                "words": layer.words,
                "source": source,
                "folder": folder,
            }
        )
    return rows, warnings


def session_card(session: ViewerSession) -> dict:
    link = db.session.get(ViewerLink, session.link_id)
    rows, warnings = layer_rows(link) if link else ([], [])
    return {
        "session": session,
        "link": link,
        "title": link.title if link else session.id[:8],
        "status_label": STATUS_LABELS[session.status],
        "badge": STATUS_BADGES[session.status],
        "state": status_json(session),
        "link_url": link_url(link.id) if link else "",
        "layers": rows,
        "warnings": warnings,
    }


def back_links(cards: list[dict]) -> list[dict]:
    """"Back to request <name>" for each request the page's views show that the user may see (atlas views have
    none)."""
    seen: dict[tuple[str, str], dict] = {}
    for card in cards:
        link = card["link"]
        if link is None or (link.request_username, link.request_name) in seen:
            continue
        if may_see_request(link, current_user):
            url = url_for("requests.overview", username=link.request_username, request_name=link.request_name)
            seen[(link.request_username, link.request_name)] = {"name": link.request_name, "url": url}
    return list(seen.values())


def ago(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """"3 hours ago" (admin page)."""
    if value is None:
        return "—"
    seconds = int(((now or utcnow()) - value).total_seconds())
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"
