"""In Chromium: the clearing queue's rows are coloured by state with the protocol as a labelled swatch, and an
auditor's request list reads "Shared with you" without a delete; both fit 1440 and 390 px, axe finds nothing
serious, and the favicon loads. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest

from tests.factories import new_request, sample, submit
from tests.support import browser_fixtures
from tests.support.page_audit import shoot_and_audit

pytestmark = pytest.mark.browser

PASSWORD = "browser test password"


def log_in(page, live_server: str, username: str) -> None:
    browser_fixtures.log_in(page, live_server, username, PASSWORD)


def test_queue_colours_mean_state_and_an_auditor_sees_what_is_shared(app, live_server, page, make_user,
                                                                      artifacts_dir):  # fmt: skip
    make_user("ana")
    make_user("bo", password=PASSWORD)
    make_user("cleo", roles=["clearing_staff"], password=PASSWORD)
    submit(app, new_request("ana", "brains", [sample("s1", protocol="udisco"), sample("s2")], auditors=["bo"]))

    log_in(page, live_server, "cleo")
    page.goto(live_server + "/clearing/queue")
    row = page.locator('tr[data-protocol="udisco"]').first
    assert "status-pending" in row.get_attribute("class")
    assert row.locator(".protocol-swatch").count() == 1 and "uDISCO" in row.inner_text()
    icon = page.evaluate("fetch(document.querySelector('link[rel=icon]').href).then(r => r.status)")
    assert icon == 200
    shoot_and_audit(page, artifacts_dir, "plain-clearing-queue")

    page.context.clear_cookies()
    log_in(page, live_server, "bo")
    page.goto(live_server + "/requests/")
    assert page.get_by_test_id("legend").inner_text() == "Shared with you"
    table = page.get_by_test_id("request-table").inner_text()
    assert "Delete" not in table and "N/A" not in table
    shoot_and_audit(page, artifacts_dir, "plain-auditor-list")
