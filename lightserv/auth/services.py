"""Accounts, passwords, roles and logging in. Every change is event-logged."""

from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import delete, select

from lightserv.common.audit import record_event, utcnow
from lightserv.common.errors import DomainError
from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import Account, RoleGrant
from schemas.enums import ROLE

from . import login_sessions, throttle
from .passwords import hash_password, password_problem, verify_password

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


class AuthError(DomainError):
    """A domain error with a message safe to show to the user."""


def validate_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username or ""):
        raise AuthError(
            "Usernames are 1–32 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return username


def validate_password(password: str, username: str = "") -> str:
    """The password policy (length, not common or guessable); AuthError says what is wrong."""
    problem = password_problem(password, [username])
    if problem:
        raise AuthError(problem)
    return password


def ensure_user(
    username: str,
    *,
    email: str | None = None,
    full_name: str = "",
    password: str | None = None,
    actor: str | None = None,
) -> Account:
    """Create the user row (DataJoint) and the account row (app) if missing; idempotent.

    The user row is written first: a failure between the two leaves a user without an account, which
    the next call completes, never an account without a user."""
    validate_username(username)
    settings = current_app.config["SETTINGS"]
    users = get_schemas().lightsheet.User
    if not (users & {"username": username}):
        users.insert1(
            dict(
                username=username,
                email=(email or f"{username}@{settings.email_domain}").strip().lower(),
                full_name=full_name,
                is_active=1,
                created_at=utcnow(),
                last_login_at=None,
            ),
            skip_duplicates=True,
        )
    account = db.session.get(Account, username)
    if account is None:
        account = Account(username=username, active=True, created_at=utcnow(), failed_logins=0)
        if password is not None:
            account.password_hash = hash_password(validate_password(password, username))
        db.session.add(account)
        record_event(
            "user.created",
            "user",
            {"username": username},
            f"User {username} created",
            actor=actor,
            after={"email": email or f"{username}@{settings.email_domain}"},
        )
        db.session.commit()
    return account


def set_password(username: str, password: str, *, actor: str | None, keep_session: str | None = None) -> None:
    """Set the password and end the user's login sessions (all but `keep_session`, the one that changed it)."""
    account = db.session.get(Account, username)
    if account is None:
        raise AuthError(f"There is no user {username!r}.")
    account.password_hash = hash_password(validate_password(password, username))
    login_sessions.end_all(username, "password_changed", keep=keep_session)
    record_event(
        "user.password_changed", "user", {"username": username}, f"Password of {username} changed", actor=actor
    )
    db.session.commit()


def check_own_password(account: Account, password: str) -> bool:
    return verify_password(account.password_hash, password)


def set_email(username: str, email: str, *, actor: str | None) -> None:
    users = get_schemas().lightsheet.User
    key = {"username": username}
    before = (users & key).to_dicts()
    if not before:
        raise AuthError(f"There is no user {username!r}.")
    email = email.strip().lower()
    users.update1({**key, "email": email})
    record_event(
        "user.email_changed",
        "user",
        key,
        f"Email of {username} set to {email}",
        actor=actor,
        before={"email": before[0]["email"]},
        after={"email": email},
    )
    db.session.commit()


def set_active(username: str, active: bool, *, actor: str | None) -> None:
    account = db.session.get(Account, username)
    if account is None:
        raise AuthError(f"There is no user {username!r}.")
    users = get_schemas().lightsheet.User
    before = bool(account.active)
    account.active = active
    users.update1({"username": username, "is_active": int(active)})
    if not active:
        login_sessions.end_all(username, "deactivated")
    record_event(
        "user.activated" if active else "user.deactivated",
        "user",
        {"username": username},
        f"{username} {'activated' if active else 'deactivated'}",
        actor=actor,
        before={"active": before},
        after={"active": active},
    )
    db.session.commit()


def grant_role(username: str, role: str, *, actor: str | None) -> bool:
    """Grant `role`; returns False when the user already holds it."""
    if role not in ROLE:
        raise AuthError(f"Unknown role {role!r}; roles are: {', '.join(ROLE)}.")
    if db.session.get(Account, username) is None:
        raise AuthError(f"There is no user {username!r}.")
    exists = db.session.scalar(select(RoleGrant.id).where(RoleGrant.username == username, RoleGrant.role == role))
    if exists:
        return False
    db.session.add(RoleGrant(username=username, role=role, granted_by=actor or "system", granted_at=utcnow()))
    record_event(
        "user.role_granted",
        "user",
        {"username": username},
        f"{role} granted to {username}",
        actor=actor,
        after={"role": role},
    )
    db.session.commit()
    return True


def revoke_role(username: str, role: str, *, actor: str | None) -> bool:
    result = db.session.execute(delete(RoleGrant).where(RoleGrant.username == username, RoleGrant.role == role))
    if not result.rowcount:
        db.session.rollback()
        return False
    record_event(
        "user.role_revoked",
        "user",
        {"username": username},
        f"{role} revoked from {username}",
        actor=actor,
        before={"role": role},
    )
    db.session.commit()
    return True


def authenticate(username: str, password: str, address: str | None) -> Account:
    """Return the account for a correct password, or raise AuthError with one neutral message
    (throttle.LoginThrottled while the account or address must wait). Unknown usernames cost the same
    password check as known ones, so response times do not tell which usernames exist."""
    username = (username or "").strip().lower()
    throttle.check(username, address)
    account = db.session.get(Account, username) if USERNAME_RE.fullmatch(username) else None
    if not verify_password(account.password_hash if account else None, password) or account is None:
        throttle.note_failure(username, address)
        if account is not None:
            account.failed_logins = (account.failed_logins or 0) + 1
            db.session.commit()
        raise AuthError("Unknown username or wrong password.")
    throttle.note_success(username)
    return account


def log_in(account: Account, method: str) -> None:
    """Log this browser in as `account` with a new login session; recorded on the user and in the event log."""
    login_sessions.start(account, method)
    now = utcnow()
    account.last_login_at = now
    account.failed_logins = 0
    get_schemas().lightsheet.User.update1({"username": account.username, "last_login_at": now})
    record_event(
        "user.logged_in",
        "user",
        {"username": account.username},
        f"{account.username} logged in ({method})",
        actor=account.username,
    )
    db.session.commit()


def sso_login(username: str) -> Account:
    """The trusted proxy vouched for `username`: create the user on first sight."""
    username = validate_username(username.strip().lower())
    account = ensure_user(username, actor=None)
    return account
