"""In Chromium, the sharing field of a request's overview suggests existing users as a name is typed
(lightserv/static/user-suggest.js, no inline script: the page fixture fails on any CSP violation)."""

from __future__ import annotations

import pytest

from tests.browser.test_admin_browser import PASSWORD, log_in
from tests.factories import new_request, submit

pytestmark = pytest.mark.browser


def test_the_sharing_field_suggests_existing_users_as_a_name_is_typed(live_server, page, app, make_user):
    from lightserv.db import get_schemas

    make_user("ana", password=PASSWORD)
    make_user("bo")
    make_user("bob")
    make_user("cy")
    with app.app_context():
        get_schemas().lightsheet.User.update1({"username": "cy", "full_name": "Cy Boden"})
    submit(app, new_request("ana", "brains"))
    log_in(page, live_server, "ana")
    page.goto(live_server + "/requests/ana/brains")
    page.locator("#sharing-grantee").press_sequentially("bo", delay=50)
    options = page.locator("#sharing-users option")
    options.nth(2).wait_for(state="attached", timeout=10_000)
    assert [options.nth(i).get_attribute("value") for i in range(options.count())] == ["bo", "bob", "cy"]
    assert options.nth(2).get_attribute("label") == "cy (Cy Boden)"
    page.locator("#sharing-grantee").fill("bob")
    page.get_by_role("button", name="Give access").click()
    page.wait_for_url("**/requests/ana/brains#sharing")
    assert page.locator('[data-testid="access-row"]', has_text="bob").is_visible()
