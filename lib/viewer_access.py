"""Proof that a browser may read one viewer session's data: a signed cookie.

The portal derives one key per session from its own secret and gives it to the launcher, which hands it to
that session's servers only (environment `LIGHTSERV_VIEW_SESSION` and `LIGHTSERV_VIEW_KEY`). The portal sets
the cookie for the session's owner, scoped to the session's proxy paths; every server of the session answers
only requests that carry a valid, unexpired cookie for its own session. A server never learns another
session's key, and the portal's secret never leaves the portal.

Cookie: `lsv_view=<session id>.<expiry, unix seconds>.<hex HMAC-SHA256(key, "<session id>.<expiry>")>`.
Standard library only: the viewer images import it without the rest of the product.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from collections.abc import Mapping

COOKIE = "lsv_view"
SESSION_ENV = "LIGHTSERV_VIEW_SESSION"
KEY_ENV = "LIGHTSERV_VIEW_KEY"
SESSION_RE = re.compile(r"^[0-9a-f]{32}$")
KEY_RE = re.compile(r"^[0-9a-f]{64}$")


class AccessConfigError(ValueError):
    """The server was started without a valid session id or key."""


def session_key(secret: str | bytes, session_id: str) -> str:
    """The per-session key (64 hex digits) the portal derives from its secret."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, f"lightserv-viewer-session:{session_id}".encode(), hashlib.sha256).hexdigest()


def _signature(key: str, session_id: str, expires: int) -> str:
    return hmac.new(bytes.fromhex(key), f"{session_id}.{expires}".encode(), hashlib.sha256).hexdigest()


def cookie_value(key: str, session_id: str, expires: int) -> str:
    return f"{session_id}.{expires}.{_signature(key, session_id, expires)}"


def cookie_paths(session_id: str) -> tuple[str, str]:
    """The proxy paths the cookie is scoped to: the session's Neuroglancer page and its layers."""
    return f"/nglancer/{session_id}/", f"/cv/{session_id}/"


def _values(cookie_header: str) -> list[str]:
    """Every value of the access cookie in a `Cookie` header (one per matching path)."""
    out = []
    for part in cookie_header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == COOKIE:
            out.append(value.strip().strip('"'))
    return out


def check(cookie_header: str | None, key: str, session_id: str, now: float | None = None) -> int:
    """The HTTP status a server answers with: 200 for an unexpired cookie signed with `key` for `session_id`,
    401 when the request carries no access cookie at all, 403 when it carries only invalid ones."""
    values = _values(cookie_header or "")
    if not values:
        return 401
    now = time.time() if now is None else now
    for value in values:
        sid, _, rest = value.partition(".")
        expires, _, signature = rest.partition(".")
        if sid != session_id or not expires.isdigit() or int(expires) < now:
            continue
        if hmac.compare_digest(signature, _signature(key, session_id, int(expires))):
            return 200
    return 403


def from_env(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(session id, key) a server was started with, or AccessConfigError naming the missing variable."""
    env = os.environ if env is None else env
    session_id = env.get(SESSION_ENV, "")
    key = env.get(KEY_ENV, "")
    if not SESSION_RE.match(session_id):
        raise AccessConfigError(f"{SESSION_ENV} must be the session id (32 lower-case hex digits)")
    if not KEY_RE.match(key):
        raise AccessConfigError(f"{KEY_ENV} must be the session's access key (64 lower-case hex digits)")
    return session_id, key


def server_env(session_id: str, key: str) -> dict[str, str]:
    """The environment a session's server gets from the launcher."""
    return {SESSION_ENV: session_id, KEY_ENV: key}
