"""Logging a test client in without the login form: a real login-session row, as the login page makes one.

A session cookie that only names a user logs nobody in; it must carry the id of a live `login_session` row.
"""

from __future__ import annotations

import re

LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_login_session")
CSRF_RE = re.compile(r'(?:name="csrf_token"[^>]*value|name="csrf-token" content)="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login_session_keys(app, username: str) -> dict:
    """Start a login session of `username` (an existing account) and return the session-cookie keys that
    carry it; setting them on several clients shares the one login."""
    from flask import session

    from lightserv.auth import login_sessions
    from lightserv.extensions import db
    from lightserv.models import Account

    with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"}, headers={"User-Agent": "pytest"}):
        account = db.session.get(Account, username)
        assert account is not None, f"no account {username!r} to log in"
        login_sessions.start(account, "password")
        keys = {k: session[k] for k in LOGIN_KEYS if k in session}
    return keys


def sign_in(client, username: str, *, clear: bool = False) -> str:
    """Log `client` in as `username` (first dropping everything else in its session when `clear`); returns the
    login session's id."""
    keys = login_session_keys(client.application, username)
    with client.session_transaction() as sess:
        if clear:
            sess.clear()
        sess.update(keys)
    return keys["_login_session"]


def login(client, username: str) -> None:
    """Log `client` in as `username` alone: whatever its session held before is dropped."""
    sign_in(client, username, clear=True)


def post_login_form(client, username: str, password: str, next_value: str | None = None, **request_kwargs):
    """Submit the login form as a browser would (its CSRF token first); `request_kwargs` go to both requests."""
    token = csrf_from(client.get("/login", **request_kwargs).get_data(as_text=True))
    data = {"username": username, "password": password, "csrf_token": token}
    if next_value is not None:
        data["next"] = next_value
    return client.post("/login", data=data, **request_kwargs)
