"""Benchmark of backup and restore on the 5,000-request facility (docs/backup.md).

    python -m benchmarks.bench_backup [--requests 5000] [--samples 20000] [--keep]

1. Seeds the prefix `lsbench_backup_` with `benchmarks.seed` (5,000 requests, 20,000 samples), or reuses it
   when it holds that many requests already (`--keep` leaves it for the next run).
2. Times `backup` (the function behind `flask backup`, in this process) three times into a temporary folder:
   archive size, dump size, tables, rows; then mariadb-dump alone and the checksums alone.
3. Drops the four databases and times `restore` into the same prefix, verification included.
4. Times a restore of the same archive into a second prefix (the renaming path, as in a restore drill).
5. Times `flask --app run:app backup` as an operator runs it (process start-up included).
6. Writes `benchmarks/results/backup.json`; drops the second prefix (and the first unless `--keep`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pymysql

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.seed import db_params, drop_prefix, seed_prefix, settings_for  # noqa: E402

PREFIX = "lsbench_backup_"
DRILL_PREFIX = "lsbench_backup_drill_"
RESULTS = ROOT / "benchmarks" / "results" / "backup.json"


def request_count(prefix: str) -> int:
    with pymysql.connect(**db_params()) as conn, conn.cursor() as cur:
        try:
            cur.execute(f"SELECT COUNT(*) FROM `{prefix}lightsheet`.`request`")
        except pymysql.MySQLError:
            return 0
        return cur.fetchone()[0]


def dump_bytes(archive: Path) -> int:
    with tarfile.open(archive) as tar, gzip.GzipFile(fileobj=tar.extractfile("dump.sql.gz")) as dump:
        return sum(len(chunk) for chunk in iter(lambda: dump.read(1 << 20), b""))


def phase_seconds(settings) -> dict:
    """Where a backup's time goes: mariadb-dump alone (to /dev/null) and the manifest's checksums alone."""
    from lightserv.backup.tables import connect, database_names, list_tables, table_checksums
    from lightserv.backup.tools import client_argv, client_env

    databases = database_names(settings.dj_schema_prefix)
    started = time.perf_counter()
    subprocess.run(  # noqa: S603 - fixed argv
        [*client_argv("mariadb-dump", settings), "--single-transaction", "--quick", "--hex-blob", "--databases",
         *databases.values()],
        stdout=subprocess.DEVNULL, env=client_env(settings), check=True,
    )  # fmt: skip
    dump = time.perf_counter() - started
    with connect(settings) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        table_checksums(cur, list_tables(cur, databases), settings.dj_schema_prefix)
        checksums = time.perf_counter() - started
    return {"mariadb_dump_alone_seconds": round(dump, 2), "checksums_alone_seconds": round(checksums, 2)}


def timed_restore(prefix: str, archive: Path, migrations: list[str]) -> dict:
    from lightserv.backup import restore

    started = time.perf_counter()
    done = restore(settings_for(prefix), archive, force=False, code_migrations=migrations)
    seconds = time.perf_counter() - started
    assert not done.differences, done.differences
    return {"seconds": round(seconds, 2), "tables": done.tables, "rows": done.rows, "verified": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--keep", action="store_true", help="keep the seeded prefix for the next run")
    args = parser.parse_args(argv)

    from lightserv.backup import backup
    from lightserv.dbinit import MIGRATIONS

    migrations = [name for name, _ in MIGRATIONS]
    result: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}
    result["load_average_at_start"] = [round(x, 1) for x in os.getloadavg()]
    if request_count(PREFIX) != args.requests:
        drop_prefix(PREFIX)
        print(f"seeding {PREFIX} with {args.requests} requests ...", flush=True)
        result["seed"] = seed_prefix(PREFIX, requests=args.requests, samples=args.samples)
    settings = settings_for(PREFIX)
    try:
        with tempfile.TemporaryDirectory() as folder:
            runs, paused = [], []
            for i in range(3):
                done = backup(settings, Path(folder) / f"run{i}.tar", migrations)
                runs.append(done.seconds)
                paused.append(done.commits_paused_ms)
                print(f"backup {i + 1}: {done.seconds:.1f} s, {done.bytes / 1e6:.1f} MB", flush=True)
            archive = done.path
            phases = phase_seconds(settings)
            result["backup"] = {
                "seconds_median": round(statistics.median(runs), 2),
                "seconds": runs,
                "commits_paused_ms": paused,
                "archive_mb": round(done.bytes / 1e6, 1),
                "dump_mb": round(dump_bytes(archive) / 1e6, 1),
                "tables": done.tables,
                "rows": done.rows,
                "exact_floats": done.exact_floats,
                **phases,
            }
            drop_prefix(PREFIX)
            result["restore_same_prefix"] = timed_restore(PREFIX, archive, migrations)
            print(f"restore: {result['restore_same_prefix']['seconds']:.1f} s", flush=True)
            drop_prefix(DRILL_PREFIX)
            result["restore_other_prefix"] = timed_restore(DRILL_PREFIX, archive, migrations)
            print(f"restore into another prefix: {result['restore_other_prefix']['seconds']:.1f} s", flush=True)
            env = {**os.environ, "LIGHTSERV_MODE": "TEST", "DJ_SCHEMA_PREFIX": PREFIX, "PYTHONPATH": str(ROOT)}
            started = time.perf_counter()
            subprocess.run(  # noqa: S603 - fixed argv
                [str(Path(sys.executable).parent / "flask"), "--app", "run:app", "backup", folder],
                cwd=ROOT, env=env, check=True, capture_output=True,
            )  # fmt: skip
            result["flask_backup_command_seconds"] = round(time.perf_counter() - started, 2)
    finally:
        drop_prefix(DRILL_PREFIX)
        if not args.keep:
            drop_prefix(PREFIX)
    result["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
