"""Local passwords: the policy a new password must meet, hashing, and checking that costs the same whether
or not the account exists (so response times do not tell which usernames exist)."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable

from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

PASSWORD_METHOD = "scrypt"  # noqa: S105 - a hashing method name, not a password
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
MIN_STRENGTH = 3  # zxcvbn score 0..4; 3 = "safely unguessable: moderate protection from offline attacks"
ZXCVBN_MAX_LENGTH = 72  # zxcvbn refuses longer input; a longer password is at least as strong as its prefix


def password_problem(password: str, user_inputs: Iterable[str] = ()) -> str | None:
    """Why `password` is refused (too short, too long, common or guessable), or None when it is accepted.
    `user_inputs` (username, email) are words a guesser tries first."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Passwords must have at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Passwords have at most {MAX_PASSWORD_LENGTH} characters."
    result = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=[u for u in user_inputs if u])
    if result["score"] >= MIN_STRENGTH:
        return None
    feedback = result["feedback"]
    hints = " ".join(filter(None, [feedback.get("warning"), *feedback.get("suggestions", [])]))
    return ("This password is too common or too easy to guess. " + hints).strip()


def hash_password(password: str) -> str:
    return generate_password_hash(password, PASSWORD_METHOD)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, made once per process, checked when there is no real hash."""
    return hash_password(secrets.token_urlsafe(32))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; an unknown account or one without a password costs one full check too."""
    if not password_hash:
        check_password_hash(_dummy_hash(), password or "")
        return False
    return check_password_hash(password_hash, password or "")
