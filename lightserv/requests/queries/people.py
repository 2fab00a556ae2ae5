"""Who may be named on a request (owner filed for by staff, auditors, collaborators): active users only.

A name typed on a form never creates a user; the forms suggest existing users as the name is typed.
"""

from __future__ import annotations

from lightserv.common.sql import LIKE, like_contains, like_prefix, query
from lightserv.db import get_schemas

SUGGESTIONS = 10


def active_usernames(names) -> frozenset[str]:
    """The names among `names` that are active users."""
    wanted = sorted(set(names))
    if not wanted:
        return frozenset()
    table = get_schemas().lightsheet.User.full_table_name
    marks = ", ".join(["%s"] * len(wanted))
    rows = query(f"SELECT username FROM {table} WHERE is_active = 1 AND username IN ({marks})", wanted)
    return frozenset(r["username"] for r in rows)


def suggest(text: str) -> list[dict]:
    """At most `SUGGESTIONS` active users whose username or full name starts with `text` (or whose full
    name has a word starting with it), usernames first, in name order."""
    text = text.strip()[:100]
    if not text:
        return []
    table = get_schemas().lightsheet.User.full_table_name
    rows = query(
        f"SELECT username, full_name FROM {table} WHERE is_active = 1"
        f" AND (username {LIKE} OR full_name {LIKE} OR full_name {LIKE})"
        f" ORDER BY username {LIKE} DESC, username LIMIT %s",
        [like_prefix(text), like_prefix(text), like_contains(" " + text), like_prefix(text), SUGGESTIONS],
    )
    return [{"username": r["username"], "full_name": r["full_name"]} for r in rows]
