"""Tried as a facility admin would (issue 10): in Chromium an admin grants the imaging role to a
researcher who is signed in elsewhere; the new staff member reloads, finds the Imaging menu and the
batches ready to image; the admin then opens the dashboard and sees charts drawn from the data.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest

from tests.admin.seed import seed_dashboard
from tests.support import browser_fixtures
from tests.support.browser_fixtures import assert_no_csp_violations, watch_csp

pytestmark = pytest.mark.browser

PASSWORD = "browser test password"


def log_in(page, live_server: str, username: str) -> None:
    browser_fixtures.log_in(page, live_server, username, PASSWORD)


def test_an_admin_grants_a_role_the_queue_appears_and_the_dashboard_has_data(
    app, live_server, browser, make_user, settings, artifacts_dir, csp_violations
):
    seed_dashboard(app, make_user, settings)
    make_user("root", roles=["facility_admin"], password=PASSWORD)
    make_user("ivy", password=PASSWORD)
    admin_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    ivy_context = browser.new_context(viewport={"width": 1280, "height": 900})
    watch_csp(admin_context, csp_violations)
    watch_csp(ivy_context, csp_violations)
    admin, ivy = admin_context.new_page(), ivy_context.new_page()
    try:
        log_in(ivy, live_server, "ivy")
        nav = ivy.get_by_test_id("nav")
        assert nav.get_by_role("link", name="Imaging", exact=True).count() == 0

        log_in(admin, live_server, "root")
        admin.get_by_test_id("nav").get_by_role("link", name="Users & roles").click()
        admin.wait_for_url("**/admin/users")
        row = admin.locator('tr[data-username="ivy"]')
        row.get_by_label("Role for ivy").select_option("imaging_staff")
        row.get_by_role("button", name="Grant").click()
        admin.wait_for_url("**/admin/users")
        assert admin.get_by_text("ivy now holds imaging_staff.").is_visible()
        assert "imaging staff" in admin.locator('tr[data-username="ivy"]').inner_text()
        admin.screenshot(path=str(artifacts_dir / "admin-role-granted.png"), full_page=True)

        ivy.reload()
        ivy.get_by_test_id("nav").get_by_role("link", name="Imaging", exact=True).click()
        ivy.wait_for_url("**/imaging/queue")
        ready = ivy.get_by_test_id("queue-ready")
        assert ready.locator('tr[data-batch="ana/r3/1/1/1"]').is_visible()
        assert ready.locator('tr[data-batch="ana/r4/1/1/1"]').is_visible()
        ivy.screenshot(path=str(artifacts_dir / "admin-new-imager-queue.png"), full_page=True)

        admin.get_by_test_id("nav").get_by_role("link", name="Dashboard").click()
        admin.wait_for_url("**/admin/dashboard")
        charts = admin.locator("svg.dashboard-chart")
        assert charts.count() == 6
        clearing = admin.get_by_test_id("figure-clearing")
        assert clearing.get_by_role("img", name="Clearing batches by state").is_visible()
        assert clearing.get_by_role("row", name="Cleared 4").is_visible()
        turnaround = admin.get_by_test_id("table-turnaround")
        assert turnaround.get_by_role("row", name="Clearing 2.5 7.9 4").is_visible()
        box = charts.first.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 100  # drawn, not collapsed
        assert admin.locator("svg.dashboard-chart rect[fill='#0d6efd']").count() >= 3
        admin.screenshot(path=str(artifacts_dir / "admin-dashboard.png"), full_page=True)

        with admin.expect_download() as download:
            admin.get_by_test_id("csv-turnaround").click()
        text = open(download.value.path(), encoding="utf-8").read()
        assert "Clearing,2.5,7.9,4" in text
        assert_no_csp_violations(csp_violations)
    finally:
        admin.context.close()
        ivy.context.close()
