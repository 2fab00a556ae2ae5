"""Taking a backup: mariadb-dump of the prefix's four databases in one consistent snapshot
(--single-transaction), and a manifest read in a snapshot of exactly the same moment.

Both snapshots start while commits are paused (BACKUP STAGE BLOCK_COMMIT, RELOAD privilege): ours first,
then mariadb-dump's, which has begun once it writes its first `-- Current Database:` line. Commits resume
after tens to hundreds of milliseconds (reported as `commits_paused_ms`); reads are never blocked.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
import select
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pymysql

from .archive import DUMP, FORMAT, BackupError, archive_path, sha256_of, write_archive
from .tables import (
    connect,
    database_names,
    exact_float_statements,
    existing_databases,
    list_tables,
    quote_name,
    table_checksums,
)
from .tools import client_argv, client_env, tool_version

#: mariadb-dump writes this line only after it has started its transaction
SNAPSHOT_STARTED = b"\n-- Current Database: "
SNAPSHOT_TIMEOUT_SECONDS = 30
_CHUNK = 1 << 20
FLOATS_HEADER = b"\n-- lightserv: FLOAT values set exactly (mariadb-dump prints 6 significant digits)\n"
TRIGGERS_HEADER = b"\n-- lightserv: the triggers, after the data and the FLOAT updates (which must not fire them)\n"
#: a trigger's definer: removed, so a restored trigger runs as the account that restored it
DEFINER = re.compile(rb"/\*!50017 DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*`\s*\*/ ?")


@dataclass(frozen=True)
class BackupDone:
    path: Path
    bytes: int
    seconds: float
    tables: int
    rows: int
    binlog: dict | None  # {"file", "position", "gtid"} of the snapshot when the server keeps binary logs
    exact_floats: int  # rows whose FLOAT values the archive sets exactly after the dump
    commits_paused_ms: int  # how long commits waited while the snapshots started


def backup(settings, destination: Path, code_migrations: Sequence[str]) -> BackupDone:
    """Write an archive of every database of the configured prefix to `destination` (a file, or a folder
    to name it in) and return what it holds."""
    started = time.monotonic()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    prefix = settings.dj_schema_prefix
    databases = database_names(prefix)
    path = archive_path(destination, prefix, now)
    work = path.with_name(f".{path.name}.{DUMP}")
    try:
        with connect(settings) as lock_conn, connect(settings) as snap_conn, work.open("wb") as raw:
            cur = snap_conn.cursor()
            present = existing_databases(cur, databases)
            missing = [name for suffix, name in databases.items() if suffix not in present]
            if missing:
                raise BackupError(f"The databases {', '.join(missing)} do not exist: nothing to back up "
                                  "(check DJ_SCHEMA_PREFIX, or run init-db).")  # fmt: skip
            tables = list_tables(cur, databases)
            triggers = _triggers(settings, list(databases.values()))
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as out:
                binlog, paused = _dump(settings, lock_conn, snap_conn, list(databases.values()), out)
                checksums = table_checksums(cur, tables, prefix)  # still in the snapshot of the dump
                cur.execute(f"SELECT name FROM {quote_name(databases['app'])}.`schema_migration` ORDER BY name")
                applied = [row[0] for row in cur.fetchall()]
                out.write(FLOATS_HEADER)
                exact = 0
                for line in exact_float_statements(snap_conn, tables):
                    out.write(line)
                    exact += line.startswith(b"UPDATE ")
                cur.execute("COMMIT")
                out.write(TRIGGERS_HEADER + triggers)
            cur.execute("SELECT VERSION()")
            server = cur.fetchone()[0]
        with work.open("rb") as written:
            sha256, size = sha256_of(written)
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "prefix": prefix,
            "databases": databases,
            "migrations": applied,
            "code_migrations": list(code_migrations),
            "server": server,
            "dump_program": tool_version("mariadb-dump"),
            "binlog": binlog,
            "exact_floats": exact,
            "commits_paused_ms": paused,
            "dump": {"sha256": sha256, "bytes": size},
            "tables": checksums,
        }
        write_archive(path, manifest, work)
    finally:
        work.unlink(missing_ok=True)
    return BackupDone(
        path=path,
        bytes=path.stat().st_size,
        seconds=round(time.monotonic() - started, 2),
        tables=len(checksums),
        rows=sum(int(t["rows"]) for t in checksums.values()),
        binlog=binlog,
        commits_paused_ms=paused,
        exact_floats=exact,
    )


def _dump(settings, lock_conn, snap_conn, databases: list[str], out: IO[bytes]) -> tuple[dict | None, int]:
    """Run mariadb-dump into `out`; `snap_conn` is left in a transaction seeing what the dump saw.
    Returns the snapshot's binary-log position and how long commits were paused (ms)."""
    lock, snap = lock_conn.cursor(), snap_conn.cursor()
    snap.execute("SELECT @@log_bin")
    log_bin = bool(snap.fetchone()[0])
    argv = client_argv("mariadb-dump", settings) + ["--single-transaction", "--quick", "--hex-blob", "--skip-triggers"]
    argv += ["--master-data=2"] if log_bin else []  # the snapshot's binary-log position, as a comment
    argv += ["--databases", *databases]
    with tempfile.TemporaryFile() as errors:
        try:
            lock.execute(f"SET SESSION lock_wait_timeout = {SNAPSHOT_TIMEOUT_SECONDS}")
            lock.execute("BACKUP STAGE START")
            paused_at = time.monotonic()
            lock.execute("BACKUP STAGE BLOCK_COMMIT")
        except pymysql.MySQLError as exc:
            raise BackupError(
                f"Could not pause commits for the snapshot: {exc.args[-1]}. The backup account needs the RELOAD "
                "privilege (docs/backup.md), and no other backup may be running."
            ) from None
        try:
            snap.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            snap.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            binlog = _binlog_position(snap) if log_bin else None
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, env=client_env(settings))  # noqa: S603
            try:
                head = _read_until_snapshot(proc)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
        finally:
            lock.execute("BACKUP STAGE END")
            paused = round((time.monotonic() - paused_at) * 1000)
        try:
            out.write(head)
            while chunk := proc.stdout.read(_CHUNK):
                out.write(chunk)
        except BaseException:  # e.g. a full disk: stop the dump too
            proc.kill()
            proc.wait()
            raise
        if proc.wait() != 0 or SNAPSHOT_STARTED not in head:
            errors.seek(0)
            raise BackupError(f"mariadb-dump failed: {errors.read().decode(errors='replace').strip()}")
    return binlog, paused


def _triggers(settings, databases: list[str]) -> bytes:
    """mariadb-dump's statements creating the databases' triggers, without their definers (a DDL statement,
    so the one moment before the snapshot is as good as any: nothing changes triggers but init-db)."""
    argv = client_argv("mariadb-dump", settings) + ["--no-create-info", "--no-data", "--no-create-db", "--triggers"]
    argv += ["--skip-lock-tables"]  # no rows are read
    done = subprocess.run(  # noqa: S603 - argument list, no shell
        [*argv, "--databases", *databases], capture_output=True, env=client_env(settings), timeout=300
    )
    if done.returncode != 0:
        raise BackupError(f"mariadb-dump failed: {done.stderr.decode(errors='replace').strip()}")
    return DEFINER.sub(b"", done.stdout)


def _read_until_snapshot(proc: subprocess.Popen) -> bytes:
    """What mariadb-dump wrote up to the line showing its snapshot has begun (or until it ended)."""
    fd = proc.stdout.fileno()
    head = b""
    deadline = time.monotonic() + SNAPSHOT_TIMEOUT_SECONDS
    while SNAPSHOT_STARTED not in head:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BackupError(f"mariadb-dump did not start its snapshot within {SNAPSHOT_TIMEOUT_SECONDS} s.")
        if select.select([fd], [], [], remaining)[0]:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            head += chunk
    return head


def _binlog_position(cur) -> dict:
    """The binary-log file and position (and GTID) of the transaction's snapshot."""
    cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
    status = {name.lower(): value for name, value in cur.fetchall()}
    cur.execute("SELECT @@gtid_binlog_pos")
    return {
        "file": status.get("binlog_snapshot_file"),
        "position": int(status.get("binlog_snapshot_position") or 0),
        "gtid": cur.fetchone()[0],
    }
