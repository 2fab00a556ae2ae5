"""The MariaDB client programs (Debian package mariadb-client): found on PATH, started with an argument
list (never a shell), the password handed over in the environment (MYSQL_PWD), never on the command line."""

from __future__ import annotations

import os
import shutil

from .archive import BackupError

#: MariaDB error codes of a refused privilege (database, table, global, and the DBA's privileges)
ACCESS_DENIED = {1044, 1045, 1142, 1227}


def program(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not installed (Debian package mariadb-client).")
    return found


def client_argv(name: str, settings) -> list[str]:
    """`name` connecting with the configured account over TCP; option files are not read, so only these
    settings apply."""
    return [
        program(name),
        "--no-defaults",
        "--protocol=TCP",
        f"--host={settings.db_host}",
        f"--port={settings.db_port}",
        f"--user={settings.db_user}",
        "--default-character-set=utf8mb4",
    ]


def client_env(settings) -> dict[str, str]:
    return {**os.environ, "MYSQL_PWD": settings.db_password}


def tool_version(name: str) -> str:
    import subprocess

    done = subprocess.run([program(name), "--version"], capture_output=True, text=True, timeout=30)  # noqa: S603
    return done.stdout.strip()
