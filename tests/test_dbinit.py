"""Creating the databases is explicit, idempotent and leaves nothing behind when dropped."""

from __future__ import annotations

import uuid

import pymysql
import pytest

from tests.support.databases import DB, databases_with_prefix, server_connection


def test_init_db_twice_is_harmless(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["init-db"])
    second = runner.invoke(args=["init-db"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "nothing to migrate" in second.output
    from lightserv.db import get_schemas

    with app.app_context():
        ls = get_schemas().lightsheet
        assert len(ls.ClearingProtocol()) == 7
        assert len(ls.Atlas()) == 4


def test_the_session_prefix_has_all_four_databases(app, schema_prefix):
    names = sorted(databases_with_prefix(schema_prefix))
    assert names == sorted(f"{schema_prefix}{s}" for s in ("app", "facility", "jobs", "lightsheet"))


def test_creating_the_app_touches_no_database(settings_overrides):
    """create_app with an unreachable database still builds: nothing connects at import or start."""
    from lightserv import create_app
    from lightserv.settings import Settings

    app = create_app(Settings(**{**settings_overrides, "db_port": 1, "redis_url": "redis://127.0.0.1:1/0"}))
    assert "auth.login" in app.view_functions


def test_a_database_behind_the_code_is_refused_with_503(app):
    from lightserv.dbinit import SchemaMigration
    from lightserv.extensions import db

    with app.app_context():
        db.session.query(SchemaMigration).delete()
        db.session.commit()
    app.extensions.pop("lightserv_db_state", None)
    try:
        resp = app.test_client().get("/login")
        assert resp.status_code == 503
        assert "init-db" in resp.get_data(as_text=True)
    finally:
        app.test_cli_runner().invoke(args=["init-db"])
        app.extensions.pop("lightserv_db_state", None)
    assert app.test_client().get("/login").status_code == 200


def test_the_event_log_is_insert_and_select_only_for_the_application_account(app, settings):
    from lightserv.dbinit import grant_app_user

    user, password = f"lst_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
        cur.execute(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY %s", (password,))
    try:
        grant_app_user(settings, user, "%")
        grant_app_user(settings, user, "localhost")
        table = f"`{settings.app_database}`.`event_log`"
        with pymysql.connect(host=DB["host"], port=DB["port"], user=user, password=password, autocommit=True) as conn:
            with conn.cursor() as cur:
                cur.execute(
                    f"INSERT INTO {table} (occurred_at, action, entity_type, entity_key, summary, "
                    "correlation_id) VALUES (NOW(6), 'test.inserted', 'test', '{}', 'x', REPEAT('a', 32))"
                )
                cur.execute(f"SELECT COUNT(*) FROM {table}")
                assert cur.fetchone()[0] == 1
                with pytest.raises(pymysql.err.OperationalError, match="denied"):
                    cur.execute(f"UPDATE {table} SET summary = 'changed'")
                with pytest.raises(pymysql.err.OperationalError, match="denied"):
                    cur.execute(f"DELETE FROM {table}")
                cur.execute(f"UPDATE `{settings.app_database}`.`account` SET failed_logins = 0")  # others: allowed
    finally:
        with server_connection() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'localhost'")


def test_seed_demo_creates_the_six_demo_accounts_only_in_dev(app, settings_overrides, tmp_path):
    from lightserv import create_app
    from lightserv.common.permissions import list_roles
    from lightserv.demo import DEMO_USERS, demo_password, seed_demo
    from lightserv.settings import Settings

    refused = app.test_cli_runner().invoke(args=["seed-demo"])
    assert refused.exit_code != 0 and "only with LIGHTSERV_MODE=DEV" in refused.output
    dev = create_app(Settings(**{**settings_overrides, "lightserv_mode": "DEV"}))
    password = demo_password(tmp_path / "demo-password")
    assert password == demo_password(tmp_path / "demo-password")  # generated once, then reused
    with dev.app_context():
        seed_demo(password)
        seed_demo(password)  # idempotent
        roles = {name: list_roles(name) for name, _ in DEMO_USERS}
    assert roles == {
        "admin": ["facility_admin"],
        "clearer": ["clearing_staff"],
        "imager": ["imaging_staff"],
        "processor": ["processing_staff"],
        "researcher": [],
        "auditor": [],
    }
    client = dev.test_client()
    from tests.conftest import csrf_from

    token = csrf_from(client.get("/login").get_data(as_text=True))
    assert (
        client.post("/login", data={"username": "imager", "password": password, "csrf_token": token}).status_code == 302
    )
