"""Tried as a new user would: in Chromium a researcher files a 2-sample request. Adding a sample, adding a
resolution and copying clearing and imaging to all samples happen in place (no full page load); part of the form
is done with the keyboard alone; the review shows what will be ordered before it is submitted. Screenshots at
1440 and 390 px go to test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.browser_fixtures import log_in

pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
WIDTHS = (1440, 390)


def page_loads(page) -> list[str]:
    """Every full page load of the tab from now on (a swap of the form by script is none). The page shown now
    finishes its own load first: otherwise its late load event counts, and the script may not yet be bound."""
    page.wait_for_load_state("load")
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))
    return loads


def look(page, artifacts_dir, name: str) -> None:
    """Screenshots at each width; the page never scrolls sideways and axe-core finds nothing serious."""
    from axe_playwright_python.sync_playwright import Axe

    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"{name} scrolls sideways at {width} px ({scroll} > {inner})"
        page.screenshot(path=str(artifacts_dir / f"{name}-{width}.png"), full_page=True)
        serious = [
            (v["id"], [n["target"] for n in v["nodes"]])
            for v in Axe().run(page).response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not serious, f"{name} at {width} px: {serious}"
    page.set_viewport_size({"width": 1280, "height": 900})


def test_researcher_files_a_two_sample_request_without_page_reloads(live_server, page, make_user, artifacts_dir):
    make_user("rita", password=PASSWORD)
    log_in(page, live_server, "rita", PASSWORD)

    page.goto(live_server + "/requests/new")
    page.get_by_label("Request name").fill("cfos_pilot")
    page.get_by_label("Lab name(s), e.g. Smith/Jones").fill("Witten")
    page.get_by_label("What is the goal of this request?").fill("c-Fos counts after a task")
    page.get_by_label("How important is it that raw data is kept").select_option("important")
    page.get_by_role("button", name="Set up samples").click()
    assert page.locator('[data-testid="sample-section"]').count() == 1

    loads = page_loads(page)
    page.evaluate("window.sameDocument = true")  # gone if the page is loaded again
    first = page.locator("#sample-1")
    first.get_by_label("Expected hand-off date").fill("2030-03-02")
    first.get_by_label("Add a resolution").select_option("1.3x")
    first.get_by_role("button", name="Add resolution").click()
    table = page.locator("#sample-1-res-1\\.3x")
    assert table.get_by_label("Registration on 488 nm at 1.3x").is_checked()  # the mouse default
    expect(page.get_by_role("status")).to_have_text("Resolution 1.3x added to sample 1 (cfos_pilot-001).")
    table.get_by_label("Cell detection on 647 nm at 1.3x").check()
    table.get_by_label("Notes for the imager (optional)").fill("cortex only")

    page.get_by_role("button", name="Add another sample").click()
    expect(page.locator('[data-testid="sample-section"]')).to_have_count(2)
    assert page.evaluate("document.activeElement.id") == "samples-1-sample_name"  # focus went to the new sample
    page.get_by_role("button", name="Copy clearing to all samples").click()
    expect(page.locator("#samples-1-expected_handoff_date")).to_have_value("2030-03-02")
    page.get_by_role("button", name="Copy imaging to all samples").click()
    expect(page.locator('[data-testid="resolution-table"]')).to_have_count(2)
    assert page.locator("#sample-2-res-1\\.3x").get_by_label("Cell detection on 647 nm at 1.3x").is_checked()

    # sample 2's second resolution with the keyboard alone: choose 4x, press Add resolution, tick a purpose
    page.locator("#samples-1-new_resolution").focus()
    page.keyboard.press("ArrowDown")  # 1.1x -> 2x (1.3x is taken)
    page.keyboard.press("ArrowDown")  # 2x -> 4x
    assert page.locator("#samples-1-new_resolution").input_value() == "4x"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.locator("#sample-2-res-4x").wait_for()
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Registration on 488 nm at 4x"
    for _ in range(4):  # along the 488 nm row to Generic imaging
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Generic imaging on 488 nm at 4x"
    page.keyboard.press("Space")
    assert page.locator("#sample-2-res-4x").get_by_label("Generic imaging on 488 nm at 4x").is_checked()

    assert loads == [] and page.evaluate("window.sameDocument === true"), f"full page loads: {loads}"
    assert page.evaluate("Object.keys(localStorage).length + Object.keys(sessionStorage).length") == 0
    look(page, artifacts_dir, "new-request-form")

    page.get_by_role("button", name="Review request").focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Check your request before submitting").wait_for()
    page.wait_for_load_state("load")
    assert len(loads) == 1  # the review is a page of its own
    samples = page.locator('[data-testid="review-sample"]')
    assert samples.count() == 2
    assert samples.nth(0).get_by_text("647 nm: cell detection").is_visible()
    assert samples.nth(0).get_by_text("cortex only").is_visible()
    assert samples.nth(1).get_by_text("488 nm: generic imaging").is_visible()
    look(page, artifacts_dir, "new-request-review")

    page.get_by_role("button", name="Back to edit").click()
    page.locator("#sample-2-res-4x").wait_for()  # everything kept
    page.get_by_role("button", name="Review request").click()
    page.get_by_role("button", name="Submit request").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/requests/new" not in url)  # the request page, not the form
    assert page.get_by_text("Request submitted. A confirmation was sent to rita@test.example").is_visible()
    assert page.locator("tr", has_text="cfos_pilot").count() == 1


def test_errors_show_once_next_to_their_field_and_in_place_actions_keep_them(live_server, page, make_user):
    make_user("rosa", password=PASSWORD)
    log_in(page, live_server, "rosa", PASSWORD)

    page.goto(live_server + "/requests/new")
    page.get_by_role("button", name="Set up samples").click()
    assert page.get_by_text("Request name is required.").count() == 1
    page.get_by_label("Request name").fill("mice")
    page.get_by_label("Lab name(s), e.g. Smith/Jones").fill("Witten")
    page.get_by_label("What is the goal of this request?").fill("pilot")
    page.get_by_label("Number of samples (tubes)").fill("2")
    page.get_by_label("How important is it that raw data is kept").select_option("not_sure")
    page.get_by_role("button", name="Set up samples").click()
    page.locator("#samples-1-sample_name").fill("mouse_02")
    page.get_by_role("button", name="Review request").click()

    message = "Sample 2 (mouse_02): expected hand-off date is required, unless you will clear the samples yourself."
    assert page.get_by_text(message).count() == 1
    assert page.locator("#sample-2").get_by_text(message).is_visible()
    assert page.get_by_text("Sample 1 (mice-001): set up imaging for at least one resolution.").count() == 1
    assert page.get_by_text("for samples:").count() == 0
    assert page.get_by_role("alert").get_by_role("link", name="Sample 2 (mouse_02)").is_visible()

    # the in-place actions work on the page that shows the errors
    loads = page_loads(page)
    page.locator("#sample-1").get_by_label("Add a resolution").select_option("2x")
    page.locator("#sample-1").get_by_role("button", name="Add resolution").click()
    page.locator("#sample-1-res-2x").wait_for()
    assert loads == []
