"""Writes of the notifications blueprint."""

from __future__ import annotations

from lightserv.extensions import db

from . import preferences


def save_preferences(username: str, modes: dict[str, str]) -> list[str]:
    """Store a user's own choices in one transaction; returns the categories that changed."""
    changed = preferences.set_preferences(username, modes, actor=username)
    db.session.commit()
    return changed
