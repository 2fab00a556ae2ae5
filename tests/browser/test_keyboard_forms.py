"""Every form can be completed with the keyboard alone: in Chromium a researcher files a new request, a clearer
records and completes a clearing batch, and an imager records and completes an imaging batch, each moving with
Tab, typing, the arrow keys, Enter and Space only (the mouse is never used; locators only check where the focus
is)."""

from __future__ import annotations

import pytest

from lightserv.db import get_schemas
from tests.browser.test_accessibility import tab_to
from tests.browser.test_imaging_browser import PLANES, acquisition, worker  # noqa: F401  (the worker fixture)
from tests.factories import channel, new_request, resolution, sample, submit

pytestmark = pytest.mark.browser

PASSWORD = "browser test password"


def press(page, target, key: str = "Enter", limit: int = 80) -> None:
    """Tab to `target` and press `key` on it."""
    tab_to(page, target, limit=limit)
    page.keyboard.press(key)


def type_into(page, target, text: str, limit: int = 80) -> None:
    tab_to(page, target, limit=limit)
    page.keyboard.type(text)


def keyboard_log_in(page, live_server: str, username: str) -> None:
    page.goto(live_server + "/login")
    type_into(page, page.get_by_label("Username"), username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)


def claim_and_start(page, live_server: str, user: str, path: str, claimed: str, start: str) -> None:
    """Sign in, open a staff form, claim the batch and start it, all with the keyboard."""
    keyboard_log_in(page, live_server, user)
    page.goto(live_server + path)
    press(page, page.get_by_role("button", name="Claim"))
    page.get_by_text(claimed).wait_for()
    press(page, page.get_by_role("button", name=start))


def test_a_researcher_files_a_new_request_with_the_keyboard(live_server, page, make_user):
    make_user("kim", password=PASSWORD)
    keyboard_log_in(page, live_server, "kim")
    page.goto(live_server + "/requests/new")
    type_into(page, page.get_by_label("Request name"), "keys_only")
    type_into(page, page.get_by_label("Lab name(s), e.g. Smith/Jones"), "Witten", limit=6)
    type_into(page, page.get_by_label("What is the goal of this request?"), "filed without a mouse", limit=6)
    retention = page.get_by_label("How important is it that raw data is kept")
    tab_to(page, retention)
    page.keyboard.press("ArrowDown")
    assert retention.input_value() != ""
    press(page, page.get_by_role("button", name="Set up samples"))
    page.locator('[data-testid="sample-section"]').wait_for()

    first = page.locator("#sample-1")
    type_into(page, first.get_by_label("Expected hand-off date"), "03022030")
    assert first.get_by_label("Expected hand-off date").input_value() == "2030-03-02"
    new_resolution = first.get_by_label("Add a resolution")
    tab_to(page, new_resolution)
    while new_resolution.input_value() != "1.3x":
        page.keyboard.press("ArrowDown")
    press(page, first.get_by_role("button", name="Add resolution"), limit=4)
    table = page.locator("#sample-1-res-1\\.3x")
    table.wait_for()
    assert table.get_by_label("Registration on 488 nm at 1.3x").is_checked()  # the mouse default, kept
    press(page, table.get_by_label("Cell detection on 647 nm at 1.3x"), "Space", limit=20)
    assert table.get_by_label("Cell detection on 647 nm at 1.3x").is_checked()

    press(page, page.get_by_role("button", name="Review request"))
    page.get_by_role("heading", name="Check your request before submitting").wait_for()
    assert page.locator('[data-testid="review-sample"]').get_by_text("647 nm: cell detection").is_visible()
    press(page, page.get_by_role("button", name="Submit request"))
    page.wait_for_url(lambda url: "/requests/new" not in url)
    assert page.get_by_text("Request submitted.").is_visible()
    page.goto(live_server + "/requests/kim/keys_only")
    assert page.get_by_text("1.3x: 488 nm: registration; 647 nm: cell detection").is_visible()


def test_a_clearer_completes_a_batch_with_the_keyboard(app, live_server, page, make_user):
    submit(app, new_request(make_user("ana"), "brains", [sample("s1", protocol="udisco")]))
    make_user("cleo", roles=["clearing_staff"], password=PASSWORD)
    form = "/clearing/batch/ana/brains/1"
    claim_and_start(page, live_server, "cleo", form, "You now hold this batch.", "Start clearing")
    page.locator('[data-testid="progress"]', has_text="Being cleared").wait_for()

    now_buttons = page.get_by_role("button", name="Now: ")
    steps = now_buttons.count()
    assert steps >= 10
    for i in range(steps):
        press(page, now_buttons.nth(i), "Space" if i % 2 else "Enter", limit=200 if i == 0 else 60)
    type_into(page, page.locator("#step-pbs_wash-notes"), "typed, not clicked", limit=200)
    press(page, page.get_by_role("button", name="Complete clearing"), limit=200)
    dialog = page.locator("#complete-dialog.show")
    dialog.wait_for()
    assert dialog.get_by_text("Every step has a time or a reason for skipping it.").is_visible()
    press(page, dialog.get_by_role("button", name="Complete clearing"), limit=10)
    page.wait_for_url("**/clearing/queue")
    assert page.get_by_text("Clearing for batch 1 of brains is complete.").is_visible()
    with app.app_context():
        entries = (get_schemas().lightsheet.Request.ClearingStepEntry & {"request_name": "brains"}).to_dicts()
    assert len(entries) == steps and all(e["step_time"] for e in entries)
    assert {e["step_notes"] for e in entries} == {"", "typed, not clicked"}


def test_an_imager_completes_a_batch_with_the_keyboard(app, live_server, page, make_user, worker):  # noqa: F811
    make_user("ana")
    wishes = resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))
    submit(app, new_request("ana", "brains", [sample("s1", wishes)]))
    with app.app_context():
        key = {"username": "ana", "request_name": "brains", "clearing_batch_number": 1}
        get_schemas().lightsheet.Request.ClearingBatch.update1({**key, "clearing_progress": "complete"})
    acquisition(app, "s1")
    make_user("ian", roles=["imaging_staff"], password=PASSWORD)
    form = "/imaging/batch/ana/brains/1/1/1"
    claim_and_start(page, live_server, "ian", form, "You now image this batch.", "Start imaging")
    page.locator('[data-testid="imager"]', has_text="ian").wait_for()

    s1 = page.locator("#sample-s1")
    for w in ("488", "647"):
        planes = s1.get_by_label(f"Channel {w}: number of z planes")
        tab_to(page, planes, limit=200)
        page.keyboard.press("Control+A")
        page.keyboard.type(str(PLANES))
        subfolder = s1.get_by_label(f"Raw data subfolder (Channel {w})")
        type_into(page, subfolder, "acq", limit=30)
    press(page, s1.get_by_role("button", name="Imaging complete — data are on storage"), limit=60)
    page.locator('#sample-s1 [data-testid="imaged"]').wait_for(timeout=90_000)
    press(page, page.get_by_role("button", name="Complete imaging batch"), limit=200)
    page.wait_for_url("**/imaging/queue")
    assert page.get_by_text("Imaging of batch 1 is complete; the requester has been emailed.").is_visible()
