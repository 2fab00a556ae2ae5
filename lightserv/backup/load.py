"""Restoring a backup into the configured prefix, then checking every table against the manifest.

Order: the archive is checked (manifest, SHA-256 of the dump, migrations this code knows) before the
databases are looked at; databases holding records are replaced only with `force`; the four databases are
dropped and loaded with the `mariadb` client; then every table's row count and checksum are compared with
the manifest. Restore runs as the DBA: the application's account may not drop or rewrite the event log.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pymysql

from .archive import BackupError, dump_chunks, dump_lines, read_manifest, renamed
from .tables import (
    connect,
    database_names,
    existing_databases,
    list_tables,
    quote_name,
    table_checksums,
    tables_with_rows,
)
from .tools import ACCESS_DENIED, client_argv, client_env

DBA_NEEDED = (
    "Restore runs as the database administrator (DB_USER/DB_PASSWORD of an account that may create and "
    "drop the prefix's databases); the application's account may not."
)


@dataclass(frozen=True)
class RestoreDone:
    prefix: str
    source_prefix: str
    taken_at: str
    tables: int
    rows: int
    seconds: float
    differences: list[str]  # tables whose rows or checksum differ from the manifest (empty: verified)
    pending_migrations: list[str]  # steps this code has and the backup lacks: run init-db


def restore(settings, path: Path, *, force: bool, code_migrations: Sequence[str]) -> RestoreDone:
    """Replace the configured prefix's databases by the archive's and verify them against its manifest."""
    started = time.monotonic()
    manifest = read_manifest(path)
    unknown = [name for name in manifest["migrations"] if name not in code_migrations]
    if unknown:
        raise BackupError(
            f"The backup was taken with a newer lightserv (migrations {', '.join(unknown)} are unknown to this "
            "version); restore it with that version. Nothing was restored."
        )
    prefix = settings.dj_schema_prefix
    databases = database_names(prefix)
    _clear_target(settings, databases, force)
    _load(settings, path, manifest["prefix"], prefix)
    with connect(settings) as conn, conn.cursor() as cur:
        found = table_checksums(cur, list_tables(cur, databases), prefix)
    return RestoreDone(
        prefix=prefix,
        source_prefix=manifest["prefix"],
        taken_at=str(manifest.get("created_at", "")),
        tables=len(found),
        rows=sum(int(t["rows"]) for t in found.values()),
        seconds=round(time.monotonic() - started, 2),
        differences=compare(manifest["tables"], found),
        pending_migrations=[name for name in code_migrations if name not in manifest["migrations"]],
    )


def _clear_target(settings, databases: dict[str, str], force: bool) -> None:
    """Drop the target databases; refused when they hold records, unless `force`."""
    with connect(settings) as conn, conn.cursor() as cur:
        present = existing_databases(cur, databases)
        filled = tables_with_rows(cur, list_tables(cur, present)) if present else []
        if filled and not force:
            shown = ", ".join(filled[:5]) + (f" and {len(filled) - 5} more" if len(filled) > 5 else "")
            raise BackupError(
                f"The databases of prefix {settings.dj_schema_prefix!r} already hold records ({shown}). A restore "
                "replaces them: stop lightserv, back them up if they matter, and run restore again with --force. "
                "Nothing was restored."
            )
        try:
            cur.execute("SET SESSION foreign_key_checks = 0")
            for name in reversed(list(present.values())):  # dependants first
                cur.execute(f"DROP DATABASE {quote_name(name)}")
        except pymysql.MySQLError as exc:
            if exc.args and exc.args[0] in ACCESS_DENIED:
                raise BackupError(f"{exc.args[-1]}. {DBA_NEEDED} Nothing was restored.") from None
            raise BackupError(f"Could not replace the databases: {exc.args[-1]}") from None


def _load(settings, path: Path, old_prefix: str, new_prefix: str) -> None:
    """Feed the dump to the `mariadb` client, renaming its databases when the prefix differs."""
    argv = client_argv("mariadb", settings) + ["--binary-mode", "--batch"]
    source = dump_chunks(path) if old_prefix == new_prefix else renamed(dump_lines(path), old_prefix, new_prefix)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(  # noqa: S603 - argument list, no shell
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors, env=client_env(settings)
        )
        try:
            for chunk in source:
                proc.stdin.write(chunk)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the client stopped at an error: reported below
        if proc.wait() != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
            hint = f" {DBA_NEEDED}" if "denied" in message.lower() else ""
            raise BackupError(f"Loading the dump failed, the databases are incomplete: {message}.{hint}")


def compare(expected: dict, found: dict) -> list[str]:
    """One line per table whose rows or checksum differ between the manifest and the databases."""
    differences = []
    for label in sorted(expected.keys() | found.keys()):
        want, got = expected.get(label), found.get(label)
        if got is None:
            differences.append(f"{label}: missing after the restore")
        elif want is None:
            differences.append(f"{label}: not in the backup")
        elif int(want["rows"]) != got["rows"]:
            differences.append(f"{label}: {got['rows']} rows, the backup has {want['rows']}")
        elif str(want["checksum"]) != got["checksum"]:
            differences.append(f"{label}: checksum differs from the backup's ({got['rows']} rows)")
    return differences
