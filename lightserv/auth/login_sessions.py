"""Login sessions: a login counts only while its `login_session` row is live.

The signed session cookie holds the row's 128-bit random id next to flask-login's user id. A row ends on
logout, on a password change (the user's other rows), on deactivation (all rows), when its user ends it
from the profile page, after SESSION_IDLE_MINUTES without a request, and SESSION_MAX_HOURS after login.
`last_seen_at` is written at most once a minute. Remember-me cookies are never issued, and one cannot
revive a login: without a live row id in the session nobody is logged in.
"""

from __future__ import annotations

import datetime as dt
import secrets

from flask import current_app, request, session
from flask_login import login_user, logout_user
from sqlalchemy import select, update

from lightserv.common.audit import record_event, utcnow
from lightserv.extensions import db
from lightserv.models import Account, LoginSession

SESSION_KEY = "_login_session"
TOUCH_EVERY = dt.timedelta(minutes=1)
#: why a row ended
END_REASONS = ("logout", "password_changed", "deactivated", "ended_by_user", "idle", "expired", "replaced")


def _limits() -> tuple[dt.timedelta, dt.timedelta]:
    settings = current_app.config["SETTINGS"]
    return dt.timedelta(minutes=settings.session_idle_minutes), dt.timedelta(hours=settings.session_max_hours)


def current_session_id() -> str | None:
    value = session.get(SESSION_KEY)
    return value if isinstance(value, str) else None


def start(account: Account, method: str) -> LoginSession:
    """Log `account` in on this browser with a new row (a row this browser held before ends)."""
    previous = current_session_id()
    if previous:
        db.session.execute(_ending(LoginSession.id == previous, "replaced"))
    now = utcnow()
    row = LoginSession(
        id=secrets.token_hex(16),
        username=account.username,
        method=method,
        created_at=now,
        last_seen_at=now,
        ip=(request.remote_addr or "")[:45],
        user_agent=request.user_agent.string[:255],
    )
    db.session.add(row)
    db.session.commit()
    login_user(account, remember=False)
    session[SESSION_KEY] = row.id
    return row


def load_user(username: str) -> Account | None:
    """flask-login's user loader: the account, while this browser's row is live and belongs to it. A
    deactivated account is returned too, so the request is refused with 403 rather than sent to log in."""
    session_id = current_session_id()
    row = db.session.get(LoginSession, session_id) if session_id else None
    if row is None or row.username != username:
        return None
    account = db.session.get(Account, username)
    if account is None or not account.is_active:
        return account
    if row.ended_at is not None:
        return None
    idle, longest = _limits()
    now = utcnow()
    lapsed = "expired" if now - row.created_at > longest else "idle" if now - row.last_seen_at > idle else None
    if lapsed or now - row.last_seen_at >= TOUCH_EVERY:
        # its own short transaction: the request's unit of work is never committed from a user loader
        with db.engine.begin() as conn:
            if lapsed:
                conn.execute(_ending(LoginSession.id == row.id, lapsed))
            else:
                conn.execute(update(LoginSession).where(LoginSession.id == row.id).values(last_seen_at=now))
    return None if lapsed else account


def _ending(condition, reason: str):
    """The UPDATE that ends the live rows matching `condition`."""
    return (
        update(LoginSession)
        .where(condition, LoginSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )


def end_current() -> None:
    """Log this browser out and end its row."""
    session_id = current_session_id()
    if session_id:
        db.session.execute(_ending(LoginSession.id == session_id, "logout"))
        db.session.commit()
    logout_user()
    session.pop(SESSION_KEY, None)


def end_all(username: str, reason: str, *, keep: str | None = None) -> int:
    """End every live row of `username` except `keep`, in the caller's transaction; returns how many."""
    condition = LoginSession.username == username
    if keep:
        condition = condition & (LoginSession.id != keep)
    return db.session.execute(_ending(condition, reason)).rowcount


def end_own(username: str, session_id: str | None = None) -> int:
    """The user ends one of their other sessions (or, without `session_id`, all of them); event-logged."""
    keep = current_session_id()
    if session_id is not None:
        if session_id == keep:
            return 0
        one = (LoginSession.id == session_id) & (LoginSession.username == username)
        ended = db.session.execute(_ending(one, "ended_by_user")).rowcount
    else:
        ended = end_all(username, "ended_by_user", keep=keep)
    if ended:
        record_event(
            "user.sessions_ended",
            "user",
            {"username": username},
            f"{username} ended {ended} other session{'' if ended == 1 else 's'}",
            actor=username,
        )
    db.session.commit()
    return ended


def list_live(username: str) -> list[LoginSession]:
    """The user's live sessions, the most recently used first."""
    idle, longest = _limits()
    now = utcnow()
    return list(
        db.session.scalars(
            select(LoginSession)
            .where(
                LoginSession.username == username,
                LoginSession.ended_at.is_(None),
                LoginSession.last_seen_at > now - idle,
                LoginSession.created_at > now - longest,
            )
            .order_by(LoginSession.last_seen_at.desc(), LoginSession.created_at.desc())
        )
    )
