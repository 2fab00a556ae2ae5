"""Reads about requests. Visibility, paging and sorting happen in MariaDB, never per row in Python."""

from __future__ import annotations

from lightserv.common.pagination import Page, PageRequest
from lightserv.common.permissions import STAFF_ROLES
from lightserv.db import get_schemas

REQUEST_SORTS = {
    "submitted_at": "submitted_at",
    "request_name": "request_name",
    "username": "username",
    "species": "species",
    "number_of_samples": "number_of_samples",
}


def get_request_and_relation(owner: str, request_name: str, viewer: str) -> tuple[dict, str | None] | None:
    """The request row and the viewer's relation to it (`owner`, `collaborator`, `auditor`, None)."""
    ls = get_schemas().lightsheet
    rows = (ls.Request & {"username": owner, "request_name": request_name}).to_dicts()
    if not rows:
        return None
    if viewer == owner:
        return rows[0], "owner"
    access = (ls.Request.Access & {"username": owner, "request_name": request_name, "grantee": viewer}).to_dicts()
    return rows[0], (access[0]["access_level"] if access else None)


def visible_requests(viewer: str, roles: frozenset[str]):
    """The DataJoint expression of the requests `viewer` may see (README §3)."""
    ls = get_schemas().lightsheet
    if roles & STAFF_ROLES:
        return ls.Request()
    shared = (ls.Request.Access & {"grantee": viewer}).proj(shared_by="grantee")
    return ls.Request & [{"username": viewer}, shared]


def list_requests(viewer: str, roles: frozenset[str], page: PageRequest) -> Page:
    query = visible_requests(viewer, roles)
    total = len(query)
    items = query.proj("submitted_at", "species", "number_of_samples", "description", "labname").to_dicts(
        order_by=page.order_by(REQUEST_SORTS, ["username", "request_name"]), limit=page.per_page, offset=page.offset
    )
    return Page(items=items, total=total, request=page)
