"""The menu, derived from the same permission checks as the routes (README §3, pitfall 4)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request, url_for

from .permissions import can


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    action: str


#: Later issues append their queues here; an endpoint that is not registered yet is skipped.
NAV: list[NavItem] = [
    NavItem("Requests", "requests.request_list", "request.list"),
    NavItem("Clearing", "clearing.queue", "clearing.queue"),
    NavItem("Imaging", "imaging.queue", "imaging.queue"),
    NavItem("Processing", "processing.queue", "processing.queue"),
    NavItem("Users & roles", "admin.users", "admin"),
    NavItem("Event log", "admin.event_log", "admin"),
    NavItem("Storage", "admin.storage_page", "admin"),
]


def navigation(user) -> list[dict]:
    if user is None or not user.is_authenticated:
        return []
    from flask import current_app

    items = []
    for item in NAV:
        if item.endpoint not in current_app.view_functions:
            continue
        if can(user, item.action):
            url = url_for(item.endpoint)
            items.append({"label": item.label, "url": url, "active": request.path.startswith(url)})
    return items
