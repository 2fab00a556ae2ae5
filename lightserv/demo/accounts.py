"""The demo accounts that `make run` seeds.

The demo password is generated once per checkout and kept in `var/demo-password` (never committed),
so no credential lives in the repository."""

from __future__ import annotations

import secrets
from pathlib import Path

from lightserv.auth.passwords import password_problem
from lightserv.auth.services import ensure_user, grant_role, set_password
from lightserv.settings import PROJECT_ROOT

PASSWORD_FILE = PROJECT_ROOT / "var" / "demo-password"

DEMO_USERS: list[tuple[str, list[str]]] = [
    ("admin", ["facility_admin"]),
    ("clearer", ["clearing_staff"]),
    ("imager", ["imaging_staff"]),
    ("processor", ["processing_staff"]),
    ("researcher", []),
    ("auditor", []),
]


def demo_password(path: Path = PASSWORD_FILE) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = "demo-" + secrets.token_urlsafe(12)
    while password_problem(password, [name for name, _ in DEMO_USERS]):  # practically never: 96 random bits
        password = "demo-" + secrets.token_urlsafe(12)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password


def seed_demo(password: str) -> list[tuple[str, list[str]]]:
    for username, roles in DEMO_USERS:
        ensure_user(username, full_name=f"Demo {username}", password=password, actor=None)
        set_password(username, password, actor=None)
        for role in roles:
            grant_role(username, role, actor=None)
    return DEMO_USERS


def roles_of(username: str) -> frozenset[str]:
    return frozenset(dict(DEMO_USERS)[username])
