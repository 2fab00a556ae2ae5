"""Point-in-time recovery as docs/backup.md describes it, on a private MariaDB with binary logs on: the backup
records its snapshot's binary-log position (manifest and dump); after a mistake (the event log emptied and the
lightsheet schema dropped) the backup is restored and the binary logs replayed with mariadb-binlog up to a
moment before the mistake, so the requests filed after the backup are back and the mistake is not."""

from __future__ import annotations

import gzip
import json
import math
import shutil
import subprocess
import tarfile
import time

import pymysql
import pytest

from tests.factories import new_request, submit
from tests.slow.conftest import PrivateMariaDB, _need

PREFIX = "pitr_"


class BinlogMariaDB(PrivateMariaDB):
    """A private mariadbd keeping binary logs (row format) in <root>/binlog, as docs/backup.md enables them,
    with Debian's default character set (utf8mb4; without option files mariadbd's own default is latin1)."""

    def argv(self) -> list[str]:
        args = [a for a in super().argv() if a != "--skip-log-bin"]
        args += ["--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci"]
        return [*args, f"--log-bin={self.root / 'binlog' / 'lightserv-bin'}", "--binlog-format=ROW", "--server-id=1"]


@pytest.fixture
def binlog_mariadb(tmp_path_factory):
    _need("mariadbd", "Debian package mariadb-server")
    _need("mariadb-install-db", "Debian package mariadb-server")
    _need("mariadb-binlog", "Debian package mariadb-client")
    server = BinlogMariaDB(tmp_path_factory.mktemp("mariadb"))
    (server.root / "binlog").mkdir()
    server.install()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pitr_app(binlog_mariadb, settings_overrides):
    from lightserv import create_app
    from lightserv.db import forget_connections
    from lightserv.dbinit import init_db
    from lightserv.extensions import db
    from lightserv.settings import Settings

    values = {**settings_overrides, "db_port": binlog_mariadb.port, "db_user": "root", "db_password": ""}
    app = create_app(Settings(**{**values, "dj_schema_prefix": PREFIX}))
    init_db(app)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    forget_connections()


def test_a_backup_and_the_binary_logs_recover_the_databases_to_a_moment(binlog_mariadb, pitr_app, tmp_path):
    from lightserv.auth.services import ensure_user

    def sql(*statements: str) -> list[tuple]:
        with pymysql.connect(host="127.0.0.1", port=binlog_mariadb.port, user="root", autocommit=True) as conn:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
                return list(cur.fetchall())

    with pitr_app.test_request_context():
        ensure_user("ana", email="ana@test.example", actor=None)
    submit(pitr_app, new_request("ana", "before_backup"))

    cli = pitr_app.test_cli_runner()
    done = cli.invoke(args=["backup", str(tmp_path / "nightly.tar")])
    assert done.exit_code == 0, done.output
    with tarfile.open(tmp_path / "nightly.tar") as tar:
        binlog = json.loads(tar.extractfile("manifest.json").read())["binlog"]
        head = gzip.GzipFile(fileobj=tar.extractfile("dump.sql.gz")).read(20000).decode()
    assert binlog["file"] == "lightserv-bin.000001" and binlog["position"] > 0
    assert f"Binary-log position of the snapshot: {binlog['file']}:{binlog['position']}" in done.output
    assert f"-- CHANGE MASTER TO MASTER_LOG_FILE='{binlog['file']}', MASTER_LOG_POS={binlog['position']};" in head

    submit(pitr_app, new_request("ana", "after_backup"))
    sql("FLUSH BINARY LOGS")  # the replay must read on into the next file
    submit(pitr_app, new_request("ana", "after_rotation"))
    events_at_stop = sql(f"SELECT COUNT(*) FROM `{PREFIX}app`.event_log")[0][0]
    stop_at = math.floor(time.time()) + 1  # every change so far is logged before this second
    time.sleep(stop_at - time.time() + 0.3)
    sql(f"DELETE FROM `{PREFIX}app`.event_log")  # the mistake
    sql("SET foreign_key_checks = 0", f"DROP DATABASE `{PREFIX}lightsheet`")

    restored = cli.invoke(args=["restore", "--force", str(tmp_path / "nightly.tar")])
    assert restored.exit_code == 0, restored.output
    assert "Verified" in restored.output
    names = [row[0] for row in sql("SHOW BINARY LOGS")]
    files = [str(binlog_mariadb.root / "binlog" / n) for n in names[names.index(binlog["file"]) :]]
    assert len(files) >= 2
    replay = subprocess.Popen(  # noqa: S603 - fixed argv, as in docs/backup.md
        [shutil.which("mariadb-binlog"), f"--start-position={binlog['position']}",
         f"--stop-datetime={time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(stop_at))}", *files],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    applied = subprocess.run(  # noqa: S603
        [shutil.which("mariadb"), "--no-defaults", "--protocol=TCP", "--host=127.0.0.1",
         f"--port={binlog_mariadb.port}", "--user=root"],
        stdin=replay.stdout, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    replay.stdout.close()
    assert replay.wait(timeout=60) == 0 and applied.returncode == 0, applied.stderr

    requests = {row[0] for row in sql(f"SELECT request_name FROM `{PREFIX}lightsheet`.request")}
    assert requests == {"before_backup", "after_backup", "after_rotation"}
    assert sql(f"SELECT COUNT(*) FROM `{PREFIX}app`.event_log")[0][0] == events_at_stop
