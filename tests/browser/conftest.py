"""gunicorn serving the test databases for the browser tests (Chromium fixtures: tests/support/browser_fixtures.py)."""

from __future__ import annotations

import pytest

from tests.support import processes
from tests.support.ports import free_port


@pytest.fixture(scope="session")
def live_server(app, settings_overrides, tmp_path_factory):
    env = processes.env_for(settings_overrides)
    port = free_port()
    web = processes.gunicorn(env, port, tmp_path_factory.mktemp("live"), workers=2)
    url = f"http://127.0.0.1:{port}"
    try:
        processes.wait_http(url + "/login", timeout=60, proc=web)
        yield url
    finally:
        web.stop()
