"""Reads about users and roles."""

from __future__ import annotations

from sqlalchemy import select

from lightserv.extensions import db
from lightserv.models import Account, RoleGrant


def get_account(username: str) -> Account | None:
    return db.session.get(Account, username)


def list_assignable(role: str, owner: str, owner_too: bool) -> list[str]:
    """Who an admin may assign a team's batch to: the active holders of the team's staff `role` and active
    admins, and the request's `owner` when they do that work themselves (`owner_too`)."""
    staff = set(
        db.session.scalars(
            select(RoleGrant.username)
            .join(Account, Account.username == RoleGrant.username)
            .where(RoleGrant.role.in_([role, "facility_admin"]), Account.active.is_(True))
        )
    )
    if owner_too:
        staff.add(owner)
    return sorted(staff)


def list_staff_emails(role: str) -> list[str]:
    """Emails of everyone holding `role` (admins hold every staff role), from stored user rows."""
    from lightserv.db import get_schemas

    usernames = set(db.session.scalars(select(RoleGrant.username).where(RoleGrant.role.in_([role, "facility_admin"]))))
    active = set(db.session.scalars(select(Account.username).where(Account.active.is_(True))))
    usernames &= active
    if not usernames:
        return []
    user_table = get_schemas().lightsheet.User
    rows = (user_table & [{"username": u} for u in sorted(usernames)]).to_dicts()
    return sorted({r["email"] for r in rows if r["email"]})


def get_user(username: str) -> dict | None:
    """The person's stored user row (name, email, active flag), or None."""
    from lightserv.db import get_schemas

    rows = (get_schemas().lightsheet.User & {"username": username}).to_dicts()
    return rows[0] if rows else None


def get_user_email(username: str) -> str:
    """The person's stored email address, or "" when there is none."""
    row = get_user(username)
    return row["email"] if row else ""
