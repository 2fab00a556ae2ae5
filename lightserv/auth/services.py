"""Accounts, passwords, roles and login throttling. Every change is event-logged."""

from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from lightserv.common.audit import record_event, utcnow
from lightserv.common.redis import get_redis
from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import Account, RoleGrant
from schemas.enums import ROLE

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
PASSWORD_METHOD = "scrypt"  # noqa: S105 - a hashing method name, not a password
MIN_PASSWORD_LENGTH = 10


class AuthError(Exception):
    """A domain error with a message safe to show to the user."""


class LoginThrottled(AuthError):
    pass


def validate_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username or ""):
        raise AuthError(
            "Usernames are 1–32 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return username


def validate_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AuthError(f"Passwords must have at least {MIN_PASSWORD_LENGTH} characters.")
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
            account.password_hash = generate_password_hash(validate_password(password), PASSWORD_METHOD)
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


def set_password(username: str, password: str, *, actor: str | None) -> None:
    account = db.session.get(Account, username)
    if account is None:
        raise AuthError(f"There is no user {username!r}.")
    account.password_hash = generate_password_hash(validate_password(password), PASSWORD_METHOD)
    record_event(
        "user.password_changed", "user", {"username": username}, f"Password of {username} changed", actor=actor
    )
    db.session.commit()


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


# ----------------------------------------------------------------------------------------------
# Login with throttling: 5 failures per minute per username and per address (Redis counters, so
# every web worker shares them).
# ----------------------------------------------------------------------------------------------


def _throttle_keys(username: str, address: str | None) -> list[str]:
    keys = [f"lightserv:loginfail:user:{username}"]
    if address:
        keys.append(f"lightserv:loginfail:addr:{address}")
    return keys


def check_throttle(username: str, address: str | None) -> None:
    limit = current_app.config["SETTINGS"].login_max_failures_per_minute
    r = get_redis()
    counts = r.mget(_throttle_keys(username, address))
    if any(int(c or 0) >= limit for c in counts):
        raise LoginThrottled("Too many failed logins. Wait a minute and try again.")


def _note_failure(username: str, address: str | None) -> None:
    r = get_redis()
    pipe = r.pipeline()
    for key in _throttle_keys(username, address):
        pipe.incr(key)
        pipe.expire(key, 60, nx=True)
    pipe.execute()
    account = db.session.get(Account, username)
    if account is not None:
        account.failed_logins = (account.failed_logins or 0) + 1
        db.session.commit()


def authenticate(username: str, password: str, address: str | None) -> Account:
    """Return the account for a correct password, or raise AuthError with one neutral message."""
    username = (username or "").strip().lower()
    check_throttle(username, address)
    account = db.session.get(Account, username) if USERNAME_RE.fullmatch(username) else None
    if account is None or not account.password_hash or not check_password_hash(account.password_hash, password):
        _note_failure(username, address)
        raise AuthError("Unknown username or wrong password.")
    return account


def note_login(account: Account, method: str) -> None:
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
