"""Group membership on the cluster host ("owner not in DATA_GROUP")."""

from __future__ import annotations

from .errors import CommandFailed
from .transport import Transport


def groups_of(transport: Transport, username: str) -> set[str] | None:
    """The groups `username` belongs to on the host behind `transport`; None when the user is unknown there."""
    result = transport.run(["id", "-nG", "--", username], timeout=30)
    if result.returncode != 0:
        if "no such user" in (result.stderr or "").lower():
            return None
        raise CommandFailed("id -nG", result.returncode, result.stderr or "")
    return set(result.stdout.split())
