"""Headless Chromium (Debian's) driven by Playwright against gunicorn serving the test databases."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import free_port
from tests.support import processes

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-gpu",
    "--no-first-run",
]


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


@pytest.fixture(scope="session")
def browser():
    if not shutil.which("chromium"):
        pytest.skip("Chromium (Debian package 'chromium') is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()
