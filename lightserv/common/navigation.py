"""The menu, derived from the same permission checks as the routes."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from flask import request, url_for

from .permissions import can


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    action: str
    #: "module:function" giving the user's relation for `action` when their roles alone do not allow it
    relation: str | None = None


#: Later issues append their queues here; an endpoint that is not registered yet is skipped.
NAV: list[NavItem] = [
    NavItem("Home", "home.index", "home"),
    NavItem("Requests", "requests.request_list", "request.list"),
    NavItem("Clearing", "clearing.queue", "clearing.open_queue", "lightserv.clearing.access:queue_relation"),
    NavItem("Imaging", "imaging.queue", "imaging.open_queue", "lightserv.imaging.access:queue_relation"),
    NavItem("Processing", "processing.queue", "processing.queue"),
    NavItem("Antibodies", "clearing.antibody_history", "antibody.view"),
    NavItem("Dashboard", "admin.dashboard_page", "admin"),
    NavItem("Users & roles", "admin.users", "admin"),
    NavItem("Event log", "admin.event_log", "admin"),
    NavItem("Storage", "admin.storage_page", "admin"),
    NavItem("Viewer sessions", "viewer.admin_sessions", "admin"),
]


def navigation(user) -> list[dict]:
    if user is None or not user.is_authenticated:
        return []
    from flask import current_app

    items = []
    for item in NAV:
        if item.endpoint not in current_app.view_functions:
            continue
        if can(user, item.action) or (item.relation and can(user, item.action, _relation(item.relation, user))):
            url = url_for(item.endpoint)
            active = request.path == url if url == "/" else request.path.startswith(url)  # "/" prefixes every path
            items.append({"label": item.label, "url": url, "active": active})
    return items


def _relation(path: str, user) -> str | None:
    module, name = path.split(":", 1)
    return getattr(importlib.import_module(module), name)(user.get_id())
