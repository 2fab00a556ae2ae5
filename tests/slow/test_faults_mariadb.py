"""Fault: MariaDB killed (SIGKILL, as a crash) and started again (issue 11).

The web app and a Celery worker run as real programs on a MariaDB server of the test's own. While it is down
every page answers a clear 503 naming the database (never a traceback, never "run init-db"), and /healthz says
"degraded" naming MariaDB. When it is back the same processes serve pages and send email again: the DataJoint
connection and the SQLAlchemy pool reconnect by themselves.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT, csrf_from
from tests.requests.test_new_request_page import full_form
from tests.slow.conftest import emails_by_subject, health, login, wait_for
from tests.support import processes

PASSWORD = "correct horse battery"
UNAVAILABLE = "The database is not reachable at the moment"


def flask_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "run:app", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture
def db_stack(private_mariadb, settings_overrides, start_web, start_worker):
    """init-db and two users on the private server, then the web app and a worker on it."""
    db = {"db_host": "127.0.0.1", "db_port": private_mariadb.port, "db_user": "root", "db_password": ""}
    env = processes.env_for({**settings_overrides, **db})
    flask_cli(env, "init-db")
    flask_cli(env, "create-user", "ana", "--email", "ana@lab.example", "--password", PASSWORD)
    flask_cli(env, "create-user", "clara", "--email", "clara@core.example")
    flask_cli(env, "grant-role", "clara", "clearing_staff")
    web = start_web(workers=2, **db)
    worker = start_worker(**db)
    wait_for(lambda: health(web.url)[1].get("worker") == "ok", 90, "the worker heartbeat", worker.log)
    return web, worker


def test_mariadb_killed_and_restarted_answers_503_then_recovers_without_restarting_the_app(
    smtp, private_mariadb, db_stack
):
    web, worker = db_stack
    ana = login(web.url, "ana", PASSWORD)
    assert ana.get(f"{web.url}/requests/", timeout=10).status_code == 200
    assert health(web.url)[1]["db"] == "ok"

    private_mariadb.kill()
    try:
        status, body = health(web.url)
        assert status == 503 and body["status"] == "degraded", body
        assert body["db"].startswith(f"error: MariaDB at 127.0.0.1:{private_mariadb.port} is not answering"), body
        assert body["redis"] == "ok"
        for path in ("/requests/", "/requests/new", "/profile"):
            resp = ana.get(web.url + path, timeout=30)
            assert resp.status_code == 503, (path, resp.status_code, resp.text[:300])
            assert UNAVAILABLE in resp.text and "Traceback" not in resp.text and "init-db" not in resp.text
        api = ana.get(f"{web.url}/api/v1/requests", timeout=30)
        assert api.status_code == 503 and api.json()["unavailable"] == "db"
        fresh = requests.Session()  # the login page itself needs no database; signing in does
        token = csrf_from(fresh.get(f"{web.url}/login", timeout=30).text)
        resp = fresh.post(f"{web.url}/login", data={"username": "ana", "password": PASSWORD, "csrf_token": token},
                          timeout=30)  # fmt: skip
        assert resp.status_code == 503 and UNAVAILABLE in resp.text
    finally:
        private_mariadb.start()

    # the same web processes and worker, no restart: the first page after the restart already works
    for _ in range(4):  # both gunicorn workers (requests are spread over them) reconnect
        assert ana.get(f"{web.url}/requests/", timeout=30).status_code == 200
    assert health(web.url)[1]["db"] == "ok"
    token = csrf_from(ana.get(f"{web.url}/requests/new", timeout=10).text)
    form = {
        **full_form(1, correspondence_email="ana@lab.example", confirmed="y"),  # "Submit request" on the review page
        "action": "submit",
        "csrf_token": token,
    }
    resp = ana.post(f"{web.url}/requests/new", data=form, allow_redirects=False, timeout=60)
    assert resp.status_code == 302, resp.text[:1000]
    assert ana.get(web.url + resp.headers["Location"], timeout=10).status_code == 200
    # the worker reconnected too: it reads the outbox rows and sends each email once
    wait_for(lambda: len(emails_by_subject(smtp)) >= 2, 60, "the submission emails", worker.log)
    assert all(n == 1 for n in emails_by_subject(smtp).values()), emails_by_subject(smtp)
    assert "Traceback" not in web.log()
