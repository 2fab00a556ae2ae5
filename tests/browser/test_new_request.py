"""Tried as a new user would (issue 4): in Chromium a researcher files a 3-sample request with two
resolutions, sees it in the request list and opens its overview. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

PASSWORD = "browser test password"


def test_researcher_files_a_three_sample_request_in_chromium(live_server, page, make_user, artifacts_dir):
    make_user("rita", password=PASSWORD)
    page.goto(live_server + "/login")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server + "/")  # signing in lands on the home page

    page.goto(live_server + "/requests/new")
    page.get_by_label("Request name").fill("cfos_pilot")
    page.get_by_label("Lab name(s), e.g. Smith/Jones").fill("Witten")
    page.get_by_label("What is the goal of this request?").fill("c-Fos counts after a task")
    page.get_by_label("Number of samples (tubes)").fill("3")
    page.get_by_label("How important is it that raw data is kept").select_option("important")
    page.get_by_role("button", name="Set up samples").click()
    assert page.locator('[data-testid="sample-section"]').count() == 3

    first = page.locator("#sample-1")
    first.get_by_label("Expected hand-off date").fill("2030-03-02")
    page.get_by_role("button", name="Copy clearing to all samples").click()
    assert page.locator("#samples-2-expected_handoff_date").input_value() == "2030-03-02"

    page.locator("#sample-1").get_by_label("Add a resolution").select_option("1.3x")
    page.locator("#sample-1").get_by_role("button", name="Add resolution").click()
    table = page.locator("#sample-1-res-1\\.3x")
    assert table.get_by_label("Registration on 488 nm at 1.3x").is_checked()  # the mouse default
    table.get_by_label("Cell detection on 647 nm at 1.3x").check()
    page.locator("#sample-1").get_by_label("Add a resolution").select_option("3.6x")
    page.locator("#sample-1").get_by_role("button", name="Add resolution").click()
    page.locator("#sample-1-res-3\\.6x").get_by_label("Generic imaging on 642 nm at 3.6x").check()
    page.get_by_role("button", name="Copy imaging to all samples").click()
    assert page.locator('[data-testid="resolution-table"]').count() == 6
    page.screenshot(path=str(artifacts_dir / "new-request-form.png"), full_page=True)

    page.get_by_role("button", name="Submit request").click()
    page.wait_for_url("**/requests/**")
    assert page.get_by_text("Request submitted. A confirmation was sent to rita@test.example").is_visible()
    row = page.locator("tr", has_text="cfos_pilot")
    assert row.count() == 1
    page.screenshot(path=str(artifacts_dir / "request-list.png"), full_page=True)

    page.goto(f"{live_server}/requests/rita/cfos_pilot")
    assert page.get_by_role("heading", name="cfos_pilot").first.is_visible()
    assert page.get_by_text("cfos_pilot-003").first.is_visible()
    page.screenshot(path=str(artifacts_dir / "request-overview.png"), full_page=True)
