"""Fixtures of the slow tier (`make test-slow`): the real programs started with the test settings, as
tests/browser's `live_server` does, but with the production gunicorn options and on request.

- `own_prefix`: a schema prefix of the test's own (inside the session prefix), dropped afterwards;
- `start_web(**settings)`: gunicorn (the project's config with the production image's workers) serving the
  test settings, with any setting overridden (e.g. `dj_schema_prefix=own_prefix`); stopped after the test;
- `start_worker(**settings)`: a Celery worker with the same settings; stopped after the test.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import processes, waiting
from tests.support.databases import drop_prefix
from tests.support.ports import free_port

PRODUCTION_WEB = processes.production_web_options()


def pytest_configure(config):
    config.addinivalue_line("markers", "soak: the 30-minute soak (make soak), left out unless `-m soak` is given")


def pytest_collection_modifyitems(config, items):
    """The soak runs only when asked for (`make soak` passes `-m soak`): never in `make test-slow`."""
    if "soak" in (config.option.markexpr or ""):
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]


@dataclass
class Web:
    url: str
    proc: processes.Proc

    def log(self) -> str:
        return self.proc.log()


@pytest.fixture
def own_prefix(schema_prefix):
    prefix = f"{schema_prefix}{uuid.uuid4().hex[:4]}_"
    yield prefix
    drop_prefix(prefix)


@pytest.fixture
def start_web(settings_overrides, tmp_path_factory):
    """start_web(workers=None, threads=None, timeout=None, **settings) -> Web (url, proc, log())."""
    started: list[processes.Proc] = []

    def start(workers: int | None = None, threads: int | None = None, timeout: int | None = None, **settings) -> Web:
        options = dict(PRODUCTION_WEB)
        options.update({k: v for k, v in (("workers", workers), ("threads", threads), ("timeout", timeout)) if v})
        env = processes.env_for({**settings_overrides, **settings})
        port = free_port()
        log_dir: Path = tmp_path_factory.mktemp("web")
        proc = processes.gunicorn(env, port, log_dir, **options)
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        processes.wait_http(url + "/login", timeout=60, proc=proc)
        return Web(url, proc)

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def start_worker(settings_overrides, tmp_path_factory):
    """start_worker(name="worker", **settings) -> Proc: a Celery worker (concurrency 1) on the test settings."""
    started: list[processes.Proc] = []

    def start(name: str = "worker", **settings) -> processes.Proc:
        env = processes.env_for({**settings_overrides, **settings})
        proc = processes.celery_worker(env, tmp_path_factory.mktemp(name), name=f"{name}-{uuid.uuid4().hex[:6]}")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


# --- fault tests (test_faults*.py) -------------------------------------------------------------------------
# Private Redis and MariaDB servers a test may kill and restart (the machine's shared servers are never
# touched), Celery beat on request, and a hard kill of a started program with everything it started.


class PrivateServer:
    """A server program of our own on a fixed loopback port: `start()`, `kill()` (SIGKILL, like a crash),
    `stop()`; a restart keeps the port and the data folder."""

    name = "server"

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.popen: subprocess.Popen[bytes] | None = None
        self.log_path = root / f"{self.name}.log"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout: float = 60.0) -> None:
        assert self.popen is None or self.popen.poll() is not None, f"{self.name} is already running"
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603 - fixed argv
                self.argv(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited at start:\n{self.log()[-3000:]}")
            if self.ready():
                return
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready on port {self.port} within {timeout} s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class PrivateRedis(PrivateServer):
    name = "redis"

    def argv(self) -> list[str]:
        return [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(self.root)]  # fmt: skip

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def ready(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False


class PrivateMariaDB(PrivateServer):
    """mariadbd with its own data folder (root, no password), initialised by mariadb-install-db."""

    name = "mariadb"

    # its own temporary folder: at start mariadbd (and mariadb-install-db) delete every `#sql*` file in theirs,
    # which in the default /tmp are the machine's shared server's live temporary tables
    def install(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(  # noqa: S603 - fixed argv
            [shutil.which("mariadb-install-db") or "mariadb-install-db", "--no-defaults", f"--datadir={self.data}",
             "--auth-root-authentication-method=normal", "--user=root", "--skip-test-db", f"--tmpdir={self.tmp}"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, f"mariadb-install-db failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def argv(self) -> list[str]:
        return [shutil.which("mariadbd") or "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.data}",
                f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.root / 'mariadb.sock'}",
                f"--pid-file={self.root / 'mariadb.pid'}", "--user=root", "--skip-log-bin", f"--tmpdir={self.tmp}",
                "--innodb-buffer-pool-size=64M", "--max-connections=200",
                # the shared server's character set (Debian's default): tables the app creates in SQL name it
                "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci"]  # fmt: skip

    def ready(self) -> bool:
        import pymysql

        try:
            pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="", connect_timeout=1).close()
            return True
        except pymysql.MySQLError:
            return False


def _need(program: str, package: str) -> None:
    if not (shutil.which(program) or Path("/usr/sbin", program).exists()):
        pytest.skip(f"{program} ({package}) is not installed: the fault test needs a private instance of it")


@pytest.fixture
def private_redis(tmp_path_factory):
    """A redis-server of this test's own (never the shared one), started; stopped afterwards."""
    _need("redis-server", "Debian package redis-server")
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_mariadb(tmp_path_factory):
    """A mariadbd of this test's own with a fresh data folder, started; stopped afterwards."""
    _need("mariadbd", "Debian package mariadb-server")
    _need("mariadb-install-db", "Debian package mariadb-server")
    server = PrivateMariaDB(tmp_path_factory.mktemp("mariadb"))
    server.install()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_beat(settings_overrides, tmp_path_factory):
    """start_beat(**settings) -> Proc: Celery beat (the HeartbeatScheduler) on the test settings."""
    started: list[processes.Proc] = []

    def start(**settings) -> processes.Proc:
        env = processes.env_for({**settings_overrides, **settings})
        proc = processes.celery_beat(env, tmp_path_factory.mktemp("beat"))
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def kill_hard(proc: processes.Proc) -> None:
    """SIGKILL a started program and everything it started (its process group), as a crash would."""
    if proc.popen.poll() is None:
        os.killpg(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait(timeout=30)


#: the slow tier polls the running programs every half second
wait_for = functools.partial(waiting.wait_for, interval=0.5)


def health(url: str) -> tuple[int, dict]:
    """(status, JSON) of GET /healthz; (0, {"error": ...}) when the web app does not answer."""
    import requests

    try:
        resp = requests.get(url + "/healthz", timeout=15)
        return resp.status_code, resp.json()
    except (requests.RequestException, ValueError) as exc:
        return 0, {"error": repr(exc)}


def login(url: str, username: str, password: str):
    """A requests.Session signed in through the login form."""
    import requests

    from tests.conftest import csrf_from

    session = requests.Session()
    token = csrf_from(session.get(url + "/login", timeout=10).text)
    resp = session.post(
        url + "/login", data={"username": username, "password": password, "csrf_token": token}, timeout=30,
        allow_redirects=False,
    )  # fmt: skip
    assert resp.status_code == 302, f"login of {username} answered {resp.status_code}: {resp.text[:500]}"
    return session


def emails_by_subject(smtp) -> dict[str, int]:
    """Subject -> number of messages the SMTP sink received with it."""
    with smtp.lock:
        subjects = [m["Subject"] for _, m in smtp.messages]
    return {s: subjects.count(s) for s in set(subjects)}
