"""In Chromium, under the app's Content-Security-Policy: every page of the permission matrix opens for a
role that may see it without a single CSP violation, and the scripts that used to be inline in templates
still work (help popovers, the viewer's "Copy link", the antibody trial's "Today"). The `page` fixture fails
any browser test whose pages report a violation; a planted inline script shows that one would be caught.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests.browser.test_admin_browser import PASSWORD
from tests.matrix import matrix_url
from tests.support.browser_fixtures import log_in
from tests.support.waiting import wait_for
from tests.test_permissions import ROUTES, matrix_world  # noqa: F401  (the matrix test's world, reused)

pytestmark = pytest.mark.browser

ROLES = ("owner", "clearing", "imaging", "processing", "admin")


def with_passwords(app, world: dict) -> dict:
    from lightserv.auth import services

    with app.app_context():
        for role in ROLES:
            services.set_password(world[role], PASSWORD, actor="test")
    return world


def pages_by_role(world: dict) -> dict[str, list[str]]:
    """Every GET route of the matrix once, for the first role of ROLES it opens for."""
    pages: dict[str, list[str]] = {role: [] for role in ROLES}
    for method, url, expected in (ROUTES[e] for e in sorted(ROUTES)):
        role = next((r for r in ROLES if expected.get(r) == 200), None)
        if method == "GET" and role:
            pages[role].append(matrix_url(url, world))
    return pages


def test_every_page_opens_without_a_csp_violation(app, live_server, page, matrix_world, csp_violations):  # noqa: F811
    world = with_passwords(app, matrix_world)
    opened = []
    for role, urls in pages_by_role(world).items():
        log_in(page, live_server, world[role], PASSWORD, fresh=True)
        for url in urls:
            if not page.request.get(live_server + url).headers.get("content-type", "").startswith("text/html"):
                continue  # JSON, CSV and calendar answers are not pages
            response = page.goto(live_server + url)
            assert response.status == 200, f"{url} as {role}: {response.status}"
            assert "script-src 'self';" in response.headers.get("content-security-policy", ""), url
            page.wait_for_load_state("load")
            opened.append(url)
        assert not csp_violations, f"as {role}: {csp_violations}"
    assert len(opened) >= 40, opened  # the pages of every area, not a handful

    # a planted inline script is blocked, and the violation reaches the list this test checks
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.planted = 1';"
                  " document.body.appendChild(s); }")  # fmt: skip
    wait_for(lambda: csp_violations, 10, "the planted script's violation")
    assert page.evaluate("() => window.planted") is None
    assert "script-src" in csp_violations[0]
    csp_violations.clear()


def test_the_scripts_moved_out_of_the_templates_still_work(app, live_server, page, matrix_world, settings):  # noqa: F811
    world = with_passwords(app, matrix_world)
    log_in(page, live_server, world["owner"], PASSWORD, fresh=True)

    page.goto(live_server + "/requests/")  # help popovers (popovers.js)
    page.get_by_test_id("archival-help").first.focus()
    popover = page.locator(".popover")
    popover.wait_for(state="visible")
    assert "entered after the work was done" in popover.inner_text()

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page.goto(live_server + f"/viewer/session/{world['session']}")  # the viewer's "Copy link" (viewer.js)
    button = page.get_by_test_id("copy-link")
    link = button.get_attribute("data-copy")
    button.click()
    wait_for(lambda: button.inner_text() == "Link copied", 10, "'Link copied'")
    assert page.evaluate("() => navigator.clipboard.readText()") == link

    log_in(page, live_server, world["clearing"], PASSWORD, fresh=True)
    page.goto(live_server + ROUTES["clearing.antibody_history_new"][1])  # the trial's "Today" (lightserv.js)
    page.get_by_role("button", name="Today").click()
    today = dt.datetime.now(ZoneInfo(settings.display_timezone)).date().isoformat()
    assert page.locator("#entry_date").input_value() == today
