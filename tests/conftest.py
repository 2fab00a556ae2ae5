"""Test infrastructure on the real components.

- Every test session gets its own schema prefix on the local MariaDB, dropped at the end.
- Every test starts from empty tables (the seeded lookups stay) and an empty Redis test database.
- `smtp` is a real aiosmtpd server on a loopback port; the app sends mail to it.
- `login_as(role)` logs the test client in as a fresh user holding that role.
- `running_worker`: a real Celery worker (solo pool, in this process) for the duration of a test.
- `act(url, data)`: a POST with a CSRF token taken from a page the client can see.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.support.auth import CSRF_RE, csrf_from
from tests.support.databases import DB, databases_with_prefix, drop_prefix, server_connection
from tests.support.ports import free_port
from tests.support.smtp import SmtpSink

# the tests import these from here too
__all__ = ["CSRF_RE", "DB", "csrf_from", "databases_with_prefix", "drop_prefix", "free_port", "server_connection"]

pytest_plugins = ("tests.support.cluster_fixtures", "tests.support.browser_fixtures", "tests.support.launcher")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"

REDIS_HOST_URL = "redis://127.0.0.1:6379"

# Lookup tables keep their seeded rows between tests.
LOOKUP_TABLES = {"#clearing_protocol", "#clearing_section", "#clearing_step", "#atlas", "schema_migration"}


@pytest.fixture(scope="session")
def schema_prefix() -> str:
    return f"lstest_{uuid.uuid4().hex[:8]}_"


@pytest.fixture(scope="session")
def redis_url():
    """A Redis database of our own for this session (1..15), so concurrent test runs on one machine
    never flush or consume each other's keys and Celery messages. Claimed with SET NX in database 0."""
    import redis

    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    claim = redis.Redis.from_url(REDIS_HOST_URL + "/0")
    owner = uuid.uuid4().hex
    for number in range(15, 0, -1):
        if claim.set(f"lightserv:test-redis-db:{number}", owner, nx=True, ex=3 * 3600):
            break
    else:
        pytest.fail("no free Redis database for tests (all of 1..15 are claimed)")
    redis.Redis.from_url(f"{REDIS_HOST_URL}/{number}").flushdb()
    yield f"{REDIS_HOST_URL}/{number}"
    if claim.get(f"lightserv:test-redis-db:{number}") == owner.encode():
        claim.delete(f"lightserv:test-redis-db:{number}")


@pytest.fixture(scope="session")
def smtp():
    sink = SmtpSink(port=free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def settings_overrides(schema_prefix, smtp, redis_url, tmp_path_factory) -> dict:
    data_root = tmp_path_factory.mktemp("data")
    return dict(
        lightserv_mode="TEST",
        secret_key="test-secret-key-" + uuid.uuid4().hex,
        db_host=DB["host"],
        db_port=DB["port"],
        db_user=DB["user"],
        db_password=DB["password"],
        dj_schema_prefix=schema_prefix,
        redis_url=redis_url,
        mail_server="127.0.0.1",
        mail_port=smtp.port,
        data_root=data_root,
        atlas_root=tmp_path_factory.mktemp("atlas"),
        facility_name="Test Light-Sheet Core",
        facility_contact_email="core@test.example",
        email_domain="test.example",
        public_base_url="https://lightserv.test.example",
    )


@pytest.fixture(scope="session")
def settings(settings_overrides):
    from lightserv.settings import Settings

    return Settings(**settings_overrides)


@pytest.fixture(scope="session")
def app(settings, schema_prefix):
    from lightserv import create_app
    from lightserv.db import forget_connections
    from lightserv.dbinit import init_db

    flask_app = create_app(settings)
    init_db(flask_app)
    import lightserv.common.tasks  # noqa: F401  registers tasks with the app's Celery

    yield flask_app
    forget_connections()
    from lightserv.extensions import db

    with flask_app.app_context():
        db.session.remove()
        db.engine.dispose()
    drop_prefix(schema_prefix)


@pytest.fixture(scope="session")
def _table_list(app, schema_prefix) -> list[str]:
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE %s",
            (schema_prefix.replace("_", "\\_") + "%",),
        )
        return [f"`{s}`.`{t}`" for s, t in cur.fetchall() if t not in LOOKUP_TABLES and not t.startswith("~")]


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Empty tables and Redis before each test that uses the app."""
    if "app" not in request.fixturenames:
        yield
        return
    _table_list = request.getfixturevalue("_table_list")
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute("SET FOREIGN_KEY_CHECKS=0")
        for table in _table_list:
            cur.execute(f"DELETE FROM {table}")
    import redis

    redis.Redis.from_url(request.getfixturevalue("redis_url")).flushdb()
    # a test that built another app (a broken or DEV one) made its Celery the current app; tasks queued
    # through `shared_task` must reach the session app's broker
    celery = request.getfixturevalue("app").extensions["celery"]
    celery.set_default()
    celery.set_current()
    yield
    from lightserv.extensions import db

    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()


@pytest.fixture(autouse=True)
def _clear_smtp(request):
    if "smtp" in request.fixturenames:
        request.getfixturevalue("smtp").clear()
    yield


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def running_worker(app):
    """A real Celery worker consuming the test broker for the duration of the test."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(app.extensions["celery"], pool="solo", perform_ping_check=False):
        yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(app):
    """Factory: make_user("ana", roles=["clearing_staff"], password=None, active=True) -> username."""
    from lightserv.auth import services

    def make(
        username: str | None = None,
        *,
        roles=(),
        password: str | None = None,
        active: bool = True,
        email: str | None = None,
    ) -> str:
        username = username or f"u{uuid.uuid4().hex[:8]}"
        with app.app_context():
            services.ensure_user(username, email=email, password=password, actor="test")
            for role in roles:
                services.grant_role(username, role, actor="test")
            if not active:
                services.set_active(username, False, actor="test")
        return username

    return make


ROLE_OF = {
    "researcher": (),
    "clearing": ("clearing_staff",),
    "imaging": ("imaging_staff",),
    "processing": ("processing_staff",),
    "admin": ("facility_admin",),
}


@pytest.fixture
def login_as(client, make_user):
    """login_as("clearing") -> username; the test client is then logged in as that user."""

    def login(role: str = "researcher", username: str | None = None) -> str:
        from tests.support.auth import sign_in

        name = make_user(username, roles=ROLE_OF[role])
        sign_in(client, name)
        return name

    return login


@pytest.fixture
def act(client):
    """act(url, data=None): POST with a CSRF token from a page the client can see."""

    def post(url: str, data: dict | None = None, **kwargs):
        token = csrf_from(client.get("/about").get_data(as_text=True))
        return client.post(url, data={**(data or {}), "csrf_token": token}, **kwargs)

    return post


@pytest.fixture
def post_form(client):
    """POST with a valid CSRF token taken from a page the client can see."""

    def post(url: str, data: dict, token_page: str = "/about", **kwargs):
        token = csrf_from(client.get(token_page).get_data(as_text=True)) if "csrf_token" not in data else None
        payload = dict(data)
        if token:
            payload["csrf_token"] = token
        return client.post(url, data=payload, **kwargs)

    return post


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
