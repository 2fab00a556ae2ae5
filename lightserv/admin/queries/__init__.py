"""Reads for the admin pages."""

from __future__ import annotations

from sqlalchemy import select

from lightserv.common.pagination import Page, PageRequest
from lightserv.common.sql import search_page
from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import Account, RoleGrant

USER_SORTS = {"username": "username", "email": "email", "last_login_at": "last_login_at", "created_at": "created_at"}


def list_users(page: PageRequest, search: str = "") -> Page:
    """One page of users (sorted and paged in SQL) with their roles (one extra query for the page)."""
    users = get_schemas().lightsheet.User
    found = search_page(users, ("username", "email", "full_name"), search[:100], page, USER_SORTS, ["username"])
    rows = found.items
    names = [r["username"] for r in rows]
    roles: dict[str, list[str]] = {n: [] for n in names}
    accounts: dict[str, Account] = {}
    if names:
        for username, role in db.session.execute(
            select(RoleGrant.username, RoleGrant.role).where(RoleGrant.username.in_(names)).order_by(RoleGrant.role)
        ):
            roles[username].append(role)
        accounts = {a.username: a for a in db.session.scalars(select(Account).where(Account.username.in_(names)))}
    for r in rows:
        r["roles"] = roles[r["username"]]
        account = accounts.get(r["username"])
        r["has_password"] = bool(account and account.password_hash)
        r["active"] = bool(account.active) if account else bool(r["is_active"])
    return found
