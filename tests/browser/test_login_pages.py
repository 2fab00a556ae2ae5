"""Tried as a new user would: each demo role logs in through the real login form in Chromium and sees
only the navigation its roles allow."""

from __future__ import annotations

import pytest

from tests.test_permissions import NAV_OF_ROLE

pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
EXPECTED_NAV = {role: NAV_OF_ROLE[role] + ["About"] for role in ("researcher", "clearing", "admin")}
ROLES = {"researcher": (), "clearing": ("clearing_staff",), "admin": ("facility_admin",)}


@pytest.mark.parametrize("role", sorted(EXPECTED_NAV))
def test_each_role_logs_in_in_chromium_and_sees_its_navigation(live_server, page, make_user, role, artifacts_dir):
    username = make_user(f"demo-{role}", roles=ROLES[role], password=PASSWORD)
    page.goto(live_server + "/requests/")
    assert "/login" in page.url  # sent to the login page first
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/requests/")
    assert page.get_by_text(f"Signed in as {username}").is_visible()
    labels = [t.strip() for t in page.locator('[data-testid="nav"] .nav-link').all_inner_texts()]
    assert labels == EXPECTED_NAV[role]
    page.screenshot(path=str(artifacts_dir / f"login-{role}.png"), full_page=True)


def test_wrong_password_shows_the_message_under_the_field(live_server, page, make_user, artifacts_dir):
    username = make_user("demo-wrong", password=PASSWORD)
    page.goto(live_server + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    feedback = page.locator("#password ~ .invalid-feedback")
    assert feedback.inner_text() == "Unknown username or wrong password."
    assert feedback.is_visible()
    page.screenshot(path=str(artifacts_dir / "login-wrong-password.png"), full_page=True)


def test_admin_grants_a_role_and_the_user_sees_the_change(live_server, page, make_user, artifacts_dir):
    make_user("demo-boss", roles=("facility_admin",), password=PASSWORD)
    make_user("demo-newstaff", password=PASSWORD)
    page.goto(live_server + "/login")
    page.get_by_label("Username").fill("demo-boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server + "/")  # signing in lands on the home page
    page.get_by_role("link", name="Users & roles").click()
    row = page.locator('tr[data-username="demo-newstaff"]')
    row.get_by_label("Role for demo-newstaff").select_option("imaging_staff")
    row.get_by_role("button", name="Grant").click()
    page.wait_for_load_state()
    assert page.get_by_text("demo-newstaff now holds imaging_staff.").is_visible()
    assert "imaging staff" in page.locator('tr[data-username="demo-newstaff"]').inner_text()
    page.screenshot(path=str(artifacts_dir / "admin-users.png"), full_page=True)
