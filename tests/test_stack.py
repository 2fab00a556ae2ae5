"""The real programs together: gunicorn, a Celery worker and beat on the real Redis."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.support import processes
from tests.support.ports import free_port


@pytest.fixture
def stack(app, settings_overrides, tmp_path):
    env = processes.env_for(settings_overrides)
    port = free_port()
    procs = [
        processes.gunicorn(env, port, tmp_path),
        processes.celery_worker(env, tmp_path),
        processes.celery_beat(env, tmp_path),
    ]
    try:
        yield port, procs
    finally:
        for p in procs:
            p.stop()


def read_health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_healthz_reports_every_part_ok_when_web_worker_and_beat_run(stack):
    port, procs = stack
    processes.wait_http(f"http://127.0.0.1:{port}/login", timeout=60, proc=procs[0])
    processes.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=90, proc=procs[1])
    status, body = read_health(port)
    assert status == 200, body
    assert body == {
        "status": "ok",
        "db": "ok",
        "redis": "ok",
        "worker": "ok",
        "scheduler": "ok",
        "launcher": "not_configured",
    }


def test_healthz_says_degraded_and_names_the_missing_worker(client):
    resp = client.get("/healthz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "degraded"
    assert body["db"] == "ok" and body["redis"] == "ok"
    assert body["worker"].startswith("error") and body["scheduler"].startswith("error")


def test_healthz_reports_redis_down_without_failing(app, settings_overrides):
    from lightserv import create_app
    from lightserv.settings import Settings

    broken = create_app(Settings(**{**settings_overrides, "redis_url": f"redis://127.0.0.1:{free_port()}/0"}))
    try:
        resp = broken.test_client().get("/healthz")
    finally:
        # create_app made the broken app's Celery the default and current app: give them back
        app.extensions["celery"].set_default()
        app.extensions["celery"].set_current()
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["redis"].startswith("error") and body["db"] == "ok"
