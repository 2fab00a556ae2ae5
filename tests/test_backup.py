"""Backup and restore of the facility's records (`flask backup`, `flask restore`, lightserv/backup).

A facility of its own prefix is built through the product's services (users with roles, requests pending, in
clearing, waiting for imaging and being imaged, a shared request, events, outbox emails, storage snapshots
with FLOAT values mariadb-dump prints inexactly). It is backed up with the real command, its databases are
dropped and restored with the real command, and then the pages read the same and every table's row count and
CHECKSUM TABLE value are those of before. Refused: a target that holds records (without --force), a damaged
archive, an archive of a newer version, and a restore by the application's account.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import subprocess
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

from tests.conftest import CSRF_RE, ROOT, csrf_from
from tests.factories import new_request, submit
from tests.imaging.conftest import finish_clearing
from tests.support import processes
from tests.support.databases import DB, databases_with_prefix, drop_prefix, server_connection
from tests.support.ports import free_port

pytestmark = pytest.mark.skipif(
    shutil.which("mariadb-dump") is None, reason="mariadb-dump (Debian package mariadb-client) is not installed"
)

PASSWORD = f"Backup-{uuid.uuid4().hex[:12]}-Zq9!"
USERS = {"ana": (), "aud": (), "cleo": ("clearing_staff",), "ian": ("imaging_staff",), "ada": ("facility_admin",)}
#: (user, page) pairs compared before the backup and after the restore
PAGES = [
    ("ana", "/requests/"),
    ("ana", "/requests/ana/being_imaged"),
    ("aud", "/requests/ana/pending"),
    ("ada", "/requests/"),
    ("ada", "/requests/samples"),
    ("cleo", "/requests/ana/in_clearing"),
    ("ada", "/admin/dashboard"),
]


@dataclass
class Facility:
    prefix: str
    values: dict  # settings of the facility (for the commands run as subprocesses)
    app: object

    def flask(self, *args: str, **overrides) -> subprocess.CompletedProcess:
        """`flask --app run:app <args>` with the facility's settings (any overridden)."""
        env = processes.env_for({**self.values, **overrides})
        return subprocess.run(  # noqa: S603 - fixed argv
            [str(processes.BIN / "flask"), "--app", "run:app", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    def cli(self, *args: str, **overrides):
        """The same command run in this process (no start-up time): exit_code, output."""
        from lightserv import create_app
        from lightserv.settings import Settings

        return create_app(Settings(**{**self.values, **overrides})).test_cli_runner().invoke(args=list(args))


def _seed(app) -> None:
    from lightserv.admin.storage import take_snapshot
    from lightserv.auth.services import ensure_user, grant_role
    from lightserv.clearing import services as clearing
    from lightserv.db import get_schemas
    from lightserv.imaging.batch_services import start_batch as start_imaging

    with app.test_request_context():
        for name, roles in USERS.items():
            ensure_user(name, email=f"{name}@test.example", password=PASSWORD, actor=None)
            for role in roles:
                grant_role(name, role, actor=None)
    submit(app, new_request("ana", "pending", auditors=["aud"]))
    for name in ("in_clearing", "waiting_for_imaging", "being_imaged"):
        submit(app, new_request("ana", name, description=f"Brains 'quoted' \\ {name}\nsecond line ✓"))
    with app.test_request_context():
        for name in ("in_clearing", "waiting_for_imaging", "being_imaged"):
            key = {"username": "ana", "request_name": name, "clearing_batch_number": 1}
            clearing.start_batch(key, "cleo", frozenset({"clearing_staff"}))
    for name in ("waiting_for_imaging", "being_imaged"):
        finish_clearing(app, "ana", name)  # the imaging tests' helper: the batch's clearing is complete
    with app.test_request_context():
        key = {"username": "ana", "request_name": "being_imaged", "clearing_batch_number": 1}
        start_imaging(
            {**key, "imaging_request_number": 1, "imaging_batch_number": 1}, "ian", frozenset({"imaging_staff"})
        )
        take_snapshot()  # measured sizes, and an email to the admins in the outbox
        get_schemas().facility.StorageSnapshot.insert1(
            dict(taken_at=dt.datetime(2026, 1, 2, 3, 4, 5), filesystem="data", size_tb=5.909091, used_tb=0.1234567,
                 avail_tb=5.785634, status="ok")
        )  # fmt: skip


def _add_probe_trigger(prefix: str) -> None:
    """A trigger as a DBA might leave one: on a table with FLOAT columns (the archive's FLOAT updates must not
    fire it), naming its database in its body (renamed with the prefix), its definer an account that does not
    exist where the backup is restored (a restored trigger runs as the restoring account)."""
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{prefix}facility`.trigger_probe (id INT AUTO_INCREMENT PRIMARY KEY, note TEXT)")
        cur.execute(
            f"CREATE DEFINER=`lsbk_gone`@`%` TRIGGER `{prefix}facility`.storage_snapshot_probe AFTER UPDATE ON"
            f" `{prefix}facility`.storage_snapshot FOR EACH ROW INSERT INTO {prefix}facility.trigger_probe (note)"
            " VALUES (NEW.status)"
        )


def fire_probe_trigger(prefix: str) -> tuple[list[str], int, str]:
    """(definers of the prefix's triggers, rows the probe trigger wrote, the account restoring) after updating
    every storage row."""
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(f"UPDATE `{prefix}facility`.storage_snapshot SET message = message")
        cur.execute("SELECT definer FROM information_schema.triggers WHERE trigger_schema = %s", (f"{prefix}facility",))
        definers = [row[0] for row in cur.fetchall()]
        cur.execute(f"SELECT COUNT(*) FROM `{prefix}facility`.trigger_probe")
        fired = cur.fetchone()[0]
        cur.execute("SELECT CURRENT_USER()")
        return definers, fired, cur.fetchone()[0]


@pytest.fixture(scope="module")
def facility(settings_overrides, schema_prefix):
    from lightserv import create_app
    from lightserv.db import forget_connections
    from lightserv.dbinit import init_db
    from lightserv.extensions import db
    from lightserv.settings import Settings

    prefix = f"{schema_prefix}bk{uuid.uuid4().hex[:4]}_"
    values = {**settings_overrides, "dj_schema_prefix": prefix}
    app = create_app(Settings(**values))
    init_db(app)
    _seed(app)
    _add_probe_trigger(prefix)
    yield Facility(prefix, values, app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    forget_connections()
    drop_prefix(prefix)


@pytest.fixture(scope="module")
def archive(facility, tmp_path_factory) -> Path:
    """A backup of the seeded facility, taken with the real command into a folder."""
    folder = tmp_path_factory.mktemp("backups")
    done = facility.cli("backup", str(folder))
    assert done.exit_code == 0, done.output
    (path,) = folder.glob("*.tar")
    assert f"to {path} " in done.output
    return path


@pytest.fixture
def scratch_prefix(schema_prefix):
    prefix = f"{schema_prefix}rs{uuid.uuid4().hex[:4]}_"
    yield prefix
    drop_prefix(prefix)


def reconnect(app) -> None:
    """What restarting lightserv after a restore does: no pooled connection to a dropped database."""
    from lightserv.db import forget_connections
    from lightserv.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    forget_connections()


def table_state(prefix: str) -> dict[str, tuple[int, int]]:
    """{database.table: (rows, CHECKSUM TABLE)} of every table of the prefix (MariaDB's own checksum, not
    the one the backup computes)."""
    state = {}
    with server_connection() as conn, conn.cursor() as cur:
        for database in databases_with_prefix(prefix):
            cur.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                (database,),
            )
            for (table,) in cur.fetchall():
                name = f"`{database}`.`{table}`"
                cur.execute(f"SELECT COUNT(*) FROM {name}")
                rows = cur.fetchone()[0]
                cur.execute(f"CHECKSUM TABLE {name}")
                state[f"{database[len(prefix) :]}.{table}"] = (rows, cur.fetchone()[1])
    return state


def logged_in(app, username: str):
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return client


def page(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return CSRF_RE.sub(lambda m: m.group(0).replace(m.group(1), "<token>"), resp.get_data(as_text=True))


def manifest_of(path: Path) -> dict:
    with tarfile.open(path) as tar:
        return json.loads(tar.extractfile("manifest.json").read())


def rewrite_archive(source: Path, target: Path, *, manifest: dict | None = None, dump: bytes | None = None) -> None:
    """A copy of an archive with its manifest or dump replaced."""
    with tarfile.open(source) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    if manifest is not None:
        members["manifest.json"] = json.dumps(manifest).encode()
    if dump is not None:
        members["dump.sql.gz"] = dump
    with tarfile.open(target, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


# --- the round trip --------------------------------------------------------------------------------------


def test_a_facility_backed_up_dropped_and_restored_serves_the_same_pages_and_rows(facility, tmp_path):
    clients = {user: logged_in(facility.app, user) for user in {u for u, _ in PAGES}}
    before = {(user, url): page(clients[user], url) for user, url in PAGES}
    assert "being_imaged" in before[("ana", "/requests/")] and "waiting_for_imaging" in before[("ada", "/requests/")]
    rows_before = table_state(facility.prefix)
    assert rows_before["lightsheet.request"][0] == 4 and rows_before["app.email_outbox"][0] > 0
    assert rows_before["app.event_log"][0] > 10 and rows_before["facility.storage_snapshot"][0] == 2

    backup = facility.flask("backup", str(tmp_path / "facility.tar"))
    assert backup.returncode == 0, backup.stderr
    assert re.search(r"Backed up \d+ tables \([\d,]+ rows\) to .*facility\.tar", backup.stdout)
    manifest = manifest_of(tmp_path / "facility.tar")
    assert manifest["prefix"] == facility.prefix and manifest["exact_floats"] >= 1
    assert manifest["migrations"] == manifest["code_migrations"]
    assert manifest["tables"]["lightsheet.request"]["rows"] == 4
    assert (tmp_path / "facility.tar").stat().st_mode & 0o077 == 0, "the archive holds password hashes: owner only"

    drop_prefix(facility.prefix)
    reconnect(facility.app)
    assert databases_with_prefix(facility.prefix) == []

    restore = facility.flask("restore", str(tmp_path / "facility.tar"))
    assert restore.returncode == 0, restore.stderr
    assert f"into prefix '{facility.prefix}'" in restore.stdout
    assert "Verified: every table's row count and checksum equal the backup's manifest." in restore.stdout
    assert table_state(facility.prefix) == rows_before
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(
            f"SELECT CAST(size_tb AS DOUBLE), CAST(used_tb AS DOUBLE) FROM `{facility.prefix}facility`.storage_snapshot"
            " WHERE taken_at = %s",
            (dt.datetime(2026, 1, 2, 3, 4, 5),),
        )
        assert cur.fetchone() == pytest.approx((5.909091, 0.1234567), rel=1e-7)  # not 5.90909 / 0.123457

    reconnect(facility.app)
    after = {(user, url): page(clients[user], url) for user, url in PAGES}
    for key in PAGES:
        assert after[key] == before[key], f"{key} differs after the restore"

    assert rows_before["facility.trigger_probe"][0] == 0, "restoring fired no trigger"
    definers, fired, restorer = fire_probe_trigger(facility.prefix)
    assert definers == [restorer] and fired == 2, "the restored trigger works, as the restoring account"


def test_restoring_over_a_facility_that_holds_records_needs_force(facility, archive):
    rows_before = table_state(facility.prefix)
    refused = facility.cli("restore", str(archive))
    assert refused.exit_code == 1
    assert f"The databases of prefix '{facility.prefix}' already hold records" in refused.output
    assert "run restore again with --force" in refused.output and "Nothing was restored." in refused.output
    assert table_state(facility.prefix) == rows_before

    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(f"UPDATE `{facility.prefix}lightsheet`.request SET description = 'changed since the backup'")
    forced = facility.cli("restore", "--force", str(archive))
    assert forced.exit_code == 0, forced.output
    assert "Verified" in forced.output
    assert table_state(facility.prefix) == rows_before
    reconnect(facility.app)


@pytest.mark.parametrize("damage", ["flipped bytes in the dump", "truncated", "not an archive", "altered manifest"])
def test_a_damaged_archive_is_refused_before_anything_is_touched(facility, archive, tmp_path, damage):
    data = archive.read_bytes()
    bad = tmp_path / "bad.tar"
    if damage == "flipped bytes in the dump":
        with tarfile.open(archive) as tar:
            offset = tar.getmember("dump.sql.gz").offset_data + 2000
        bad.write_bytes(data[:offset] + bytes(b ^ 0x5A for b in data[offset : offset + 16]) + data[offset + 16 :])
    elif damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "not an archive":
        bad.write_bytes(b"-- MariaDB dump\nDROP DATABASE x;\n")
    else:
        manifest = manifest_of(archive)
        manifest["tables"]["lightsheet.request"]["rows"] = "four"
        del manifest["dump"]
        rewrite_archive(archive, bad, manifest=manifest)
    rows_before = table_state(facility.prefix)

    refused = facility.cli("restore", "--force", str(bad))
    assert refused.exit_code == 1
    assert f"{bad} is not a usable lightserv backup" in refused.output
    assert "Nothing was restored." in refused.output
    assert table_state(facility.prefix) == rows_before


def test_an_archive_of_a_newer_version_is_refused(facility, archive, tmp_path):
    manifest = manifest_of(archive)
    manifest["migrations"].append("9999_from_the_future")
    newer = tmp_path / "newer.tar"
    rewrite_archive(archive, newer, manifest=manifest)
    refused = facility.cli("restore", "--force", str(newer))
    assert refused.exit_code == 1
    assert "taken with a newer lightserv (migrations 9999_from_the_future are unknown" in refused.output


def test_a_restore_whose_tables_differ_from_the_manifest_reports_them(facility, archive, tmp_path, scratch_prefix):
    manifest = manifest_of(archive)
    grants = manifest["tables"]["app.role_grant"]["rows"]
    manifest["tables"]["lightsheet.request"]["checksum"] = "12345"
    manifest["tables"]["app.role_grant"]["rows"] = grants + 1
    wrong = tmp_path / "wrong.tar"
    rewrite_archive(archive, wrong, manifest=manifest)
    done = facility.cli("restore", str(wrong), dj_schema_prefix=scratch_prefix)
    assert done.exit_code == 1
    assert "Verification FAILED" in done.output
    assert "lightsheet.request: checksum differs from the backup's (4 rows)" in done.output
    assert f"app.role_grant: {grants} rows, the backup has {grants + 1}" in done.output


# --- another prefix, consistency under writes, accounts -------------------------------------------------


def test_a_backup_restores_into_another_prefix_with_its_names_renamed(facility, archive, scratch_prefix):
    done = facility.cli("restore", str(archive), dj_schema_prefix=scratch_prefix)
    assert done.exit_code == 0, done.output
    assert f"(taken of prefix '{facility.prefix}') into prefix '{scratch_prefix}'" in done.output
    assert "Verified" in done.output
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(f"SHOW CREATE TABLE `{scratch_prefix}jobs`.pipeline_run")
        ddl = cur.fetchone()[1]
        assert f"REFERENCES `{scratch_prefix}lightsheet`.`request`" in ddl and facility.prefix not in ddl
        cur.execute(f"SELECT DISTINCT SUBSTRING_INDEX(lineage, '.', 1) FROM `{scratch_prefix}lightsheet`.`~lineage`")
        assert {row[0] for row in cur.fetchall()} == {f"{scratch_prefix}lightsheet"}
        cur.execute(f"SELECT description FROM `{scratch_prefix}lightsheet`.request WHERE request_name = 'in_clearing'")
        assert cur.fetchone()[0] == "Brains 'quoted' \\ in_clearing\nsecond line ✓"
    own_probe_rows = table_state(facility.prefix)["facility.trigger_probe"][0]
    restored_rows = table_state(scratch_prefix)["facility.trigger_probe"][0]
    assert fire_probe_trigger(scratch_prefix)[1] == restored_rows + 2, "the trigger writes into its prefix's table"
    assert table_state(facility.prefix)["facility.trigger_probe"][0] == own_probe_rows


def test_a_backup_taken_while_events_are_written_is_one_consistent_moment(facility, tmp_path, scratch_prefix):
    table = f"`{facility.prefix}app`.event_log"
    stop = threading.Event()
    counts: dict[str, int] = {}

    def write_events():
        with pymysql.connect(autocommit=True, **DB) as conn, conn.cursor() as cur:
            while not stop.is_set():
                cur.execute(
                    f"INSERT INTO {table} (occurred_at, actor, action, entity_type, entity_key, summary, "
                    "correlation_id) VALUES (NOW(6), 'writer', 'test.write', 'test', '{}', 'written during a backup', "
                    "REPLACE(UUID(), '-', ''))"
                )
                time.sleep(0.002)

    def count() -> int:
        with server_connection() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            return cur.fetchone()[0]

    writer = threading.Thread(target=write_events)
    writer.start()
    try:
        time.sleep(0.5)
        counts["start"] = count()
        backup = facility.cli("backup", str(tmp_path / "busy.tar"))
        counts["end"] = count()
    finally:
        stop.set()
        writer.join()
    assert backup.exit_code == 0, backup.output
    in_backup = manifest_of(tmp_path / "busy.tar")["tables"]["app.event_log"]["rows"]
    assert counts["start"] < in_backup < counts["end"], "the snapshot was taken while events were being written"

    done = facility.cli("restore", str(tmp_path / "busy.tar"), dj_schema_prefix=scratch_prefix)
    assert done.exit_code == 0, done.output
    assert "Verified" in done.output
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{scratch_prefix}app`.event_log")
        assert cur.fetchone()[0] == in_backup


@pytest.fixture
def accounts(facility):
    """A backup account with the privileges docs/backup.md grants, and the application's account as init-db
    grants it; both with passwords a shell would mangle."""
    from lightserv.dbinit import grant_app_user
    from lightserv.settings import Settings

    suffix = uuid.uuid4().hex[:6]
    made = {
        "backup": (f"lsbk_{suffix}", "p w'\"$(touch /tmp/x);#`\\"),
        "app": (f"lsapp_{suffix}", "a;b c'd\"e$f"),
    }
    like = facility.prefix.replace("_", "\\_") + "%"
    with server_connection() as conn, conn.cursor() as cur:
        for user, password in made.values():
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
        user = made["backup"][0]
        cur.execute(f"GRANT SELECT, SHOW VIEW, TRIGGER ON `{like}`.* TO '{user}'@'%'")
        cur.execute(f"GRANT RELOAD, BINLOG MONITOR ON *.* TO '{user}'@'%'")
    grant_app_user(Settings(**facility.values), made["app"][0])
    yield made
    with server_connection() as conn, conn.cursor() as cur:
        for user, _ in made.values():
            cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))


def test_the_documented_backup_account_backs_up_and_the_app_account_cannot_restore(facility, accounts, tmp_path):
    user, password = accounts["backup"]
    done = facility.cli("backup", str(tmp_path), db_user=user, db_password=password)
    assert done.exit_code == 0, done.output
    (path,) = tmp_path.glob("*.tar")
    rows_before = table_state(facility.prefix)

    user, password = accounts["app"]
    refused = facility.cli("restore", "--force", str(path), db_user=user, db_password=password)
    assert refused.exit_code == 1
    assert "Restore runs as the database administrator" in refused.output and "Nothing was restored." in refused.output
    assert table_state(facility.prefix) == rows_before


def test_a_backup_that_cannot_be_taken_says_why_and_leaves_no_archive(facility, archive, tmp_path):
    down = facility.cli("backup", str(tmp_path), db_port=free_port())
    assert down.exit_code == 1 and "MariaDB: Can't connect" in down.output and "No backup was written." in down.output
    missing = facility.cli("backup", str(tmp_path), dj_schema_prefix="lsbk_nothing_here_")
    assert missing.exit_code == 1 and "do not exist: nothing to back up" in missing.output
    taken = facility.cli("backup", str(archive))
    assert taken.exit_code == 1 and f"{archive} exists already" in taken.output
    assert list(tmp_path.iterdir()) == []


def test_the_password_reaches_the_mariadb_programs_only_through_their_environment(settings):
    from lightserv.backup.tools import client_argv, client_env

    secret = settings.model_copy(update={"db_password": "s3cret-$(id)"})
    assert not any("s3cret" in arg for arg in client_argv("mariadb-dump", secret))
    assert client_env(secret)["MYSQL_PWD"] == "s3cret-$(id)"


def test_the_application_image_carries_the_mariadb_client_programs():
    dockerfile = (ROOT / "flaskcelery.Dockerfile").read_text()
    install = re.search(r"apt-get install -y --no-install-recommends ([^\\\n]+)", dockerfile)
    assert install and "mariadb-client" in install.group(1).split()
