"""Headless Chromium (Debian's) driven by Playwright: one browser for the whole session, loaded for every test
folder from tests/conftest.py (a second sync Playwright in the same session would fail)."""

from __future__ import annotations

import shutil

import pytest

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
def browser():
    if not shutil.which("chromium"):
        pytest.skip("Chromium (Debian package 'chromium') is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


# Every Content-Security-Policy violation a page of the app reports (besides Chromium's own "Refused to ..."
# console error) is logged, from before any script of the page runs.
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "?") + " in " +
                e.documentURI + " at " + (e.sourceFile || "?") + ":" + e.lineNumber);
});
"""
# Neuroglancer and its layer data come from the viewer's own servers through the proxy, not from the app
NOT_THE_APP = ("/nglancer/", "/cv/")


def watch_csp(context, violations: list[str]) -> None:
    """Append to `violations` every CSP violation reported by a page of the app in `context` (every tab)."""

    def console(message) -> None:
        text = message.text
        if message.type != "error" or not ("Content Security Policy" in text or text.startswith("CSP violation")):
            return
        url = message.page.url if message.page else ""
        if not any(part in url for part in NOT_THE_APP):
            violations.append(f"{url}: {text}")

    context.add_init_script(CSP_REPORTER)
    context.on("console", console)


@pytest.fixture
def csp_violations() -> list[str]:
    """The CSP violations the test's `page` (and its other tabs) reported so far."""
    return []


@pytest.fixture
def page(browser, csp_violations):
    """A tab of a fresh browser context; the test fails if a page of the app reported a CSP violation."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watch_csp(context, csp_violations)
    pg = context.new_page()
    yield pg
    context.close()
    assert_no_csp_violations(csp_violations)


def assert_no_csp_violations(violations: list[str]) -> None:
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


def log_in(page, base: str, username: str, password: str, *, fresh: bool = False) -> None:
    """Sign in through the login form at `base` (first dropping the browser's cookies when `fresh`); signing in
    lands on the home page."""
    if fresh:
        page.context.clear_cookies()
    page.goto(base + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
