"""Personal API tokens: one per user, shown once, stored only as a SHA-256 digest.

A token is 256 random bits, so a fast digest is enough (there is nothing to guess) and lets the token
be found by its digest with one query on the small `account` table (one row per person). Creating and revoking
are event-logged; the token itself is never logged or stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select

from lightserv.common.audit import record_event, utcnow
from lightserv.extensions import db
from lightserv.models import Account

PREFIX = "lsv1_"
_DIGEST = "sha256$"


def _digest(token: str) -> str:
    return _DIGEST + hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(username: str, *, actor: str | None) -> str:
    """A new token for `username`, replacing any previous one; returns the token (shown once)."""
    account = db.session.get(Account, username)
    if account is None:
        raise LookupError(username)
    replaced = account.api_token_hash is not None
    token = PREFIX + secrets.token_urlsafe(32)
    account.api_token_hash = _digest(token)
    account.api_token_created_at = utcnow().replace(microsecond=0)
    record_event(
        "user.api_token_created",
        "user",
        {"username": username},
        f"API token of {username} {'replaced' if replaced else 'created'}",
        actor=actor,
        after={"api_token_created_at": account.api_token_created_at.isoformat()},
    )
    db.session.commit()
    return token


def revoke_token(username: str, *, actor: str | None) -> bool:
    """Remove the user's token; False when they had none."""
    account = db.session.get(Account, username)
    if account is None or account.api_token_hash is None:
        return False
    before = {
        "api_token_created_at": account.api_token_created_at.isoformat() if account.api_token_created_at else None
    }
    account.api_token_hash = None
    account.api_token_created_at = None
    record_event(
        "user.api_token_revoked",
        "user",
        {"username": username},
        f"API token of {username} revoked",
        actor=actor,
        before=before,
    )
    db.session.commit()
    return True


def account_for_token(token: str) -> Account | None:
    """The account holding `token`, or None (unknown, revoked or malformed)."""
    if not token.startswith(PREFIX) or len(token) > 128:
        return None
    digest = _digest(token)
    account = db.session.scalars(select(Account).where(Account.api_token_hash == digest)).first()
    if account is None or not hmac.compare_digest(account.api_token_hash or "", digest):
        return None
    return account
