"""The request page in Chromium at 1280, 1440 and 390 px: one card per sample with its step in words, what was
ordered and a "View data" button on screen; no sideways scrolling; activity in sentences. Screenshots go to
test-artifacts/overview-<width>.png."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import channel, layer_row, new_request, resolution, sample, submit

pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
WIDTHS = (1280, 1440, 390)


@pytest.fixture
def two_samples(app, make_user):
    """ana/brains: s1 (1.3x, 488 nm registration + 647 nm cells) imaged, processed and ready to view, with a
    second imaging request (4x) waiting; s2 (3.6x SmartSPIM) imaged and being processed."""
    from lightserv.common.audit import record_event
    from lightserv.db import get_schemas
    from lightserv.extensions import db
    from lightserv.layers.services import LayerTarget
    from lightserv.requests.additional_imaging import request_additional_imaging

    make_user("ana", password=PASSWORD)
    s1 = sample("s1", resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection")))
    s2 = sample("s2", resolution("3.6x", channel("642", "generic_imaging")))
    submit(app, new_request("ana", "brains", [s1, s2]))
    key = {"username": "ana", "request_name": "brains"}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with app.test_request_context():
        part = get_schemas().lightsheet.Request
        for table, column, value in (
            (part.ClearingBatch, "clearing_progress", "complete"),
            (part.ImagingRequest, "imaging_progress", "complete"),
        ):
            for row in (table & key).proj().to_dicts():
                table.update1({**row, column: value})
        req = (get_schemas().lightsheet.Request & key).to_dicts()[0]
        wish = sample("s1", resolution("4x", channel("488", "generic_imaging")))
        assert request_additional_imaging(req, [wish], [True], self_imaging=False, submitter="ana") == 2
        for name, progress in (("s1", "complete"), ("s2", "running")):
            pkey = dict(key, sample_name=name, imaging_request_number=1, processing_request_number=1)
            part.ProcessingRequest.update1({**pkey, "processing_progress": progress})
        target = LayerTarget("ana", "brains", "s1", 1, "1.3x", "488", "registered", processing_request_number=1)
        part.DataLayer.insert1(layer_row(target, now))
        record_event("layer.ready", "layer", target.key(), f"Layer {target.name()} of s1 is ready", actor=None,
                     request_key=("ana", "brains"))  # fmt: skip
        db.session.commit()
    return "/requests/ana/brains"


def test_each_sample_card_shows_its_step_its_order_and_its_data_at_every_width(
    live_server, page, two_samples, artifacts_dir
):
    page.goto(live_server + "/login")
    page.get_by_label("Username").fill("ana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(live_server + two_samples)
        overflow = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert overflow[0] <= overflow[1], f"{width} px: the page scrolls sideways ({overflow})"

        cards = page.locator('[data-testid="sample-card"]')
        assert cards.count() == 2
        s1, s2 = cards.nth(0), cards.nth(1)
        assert s1.get_by_test_id("sample-step").inner_text() == "Data ready"
        assert s2.get_by_test_id("sample-step").inner_text() == "Processing in progress"
        assert "Processing" in s2.locator('[aria-current="step"]').inner_text()
        assert "488 nm: registration; 647 nm: cell detection" in s1.get_by_test_id("ordered").inner_text()
        assert "Allen atlas (2017), sagittal output" in s1.get_by_test_id("ordered").inner_text()
        extra = s1.get_by_test_id("imaging-request").nth(1).inner_text()
        assert "Additional imaging (request 2)" in extra and "4x: 488 nm: generic imaging" in extra
        assert "Waiting for the imaging team" in extra
        assert "642 nm: generic imaging" in s2.get_by_test_id("ordered").inner_text()
        assert s2.get_by_test_id("view-data").count() == 0

        button = s1.get_by_test_id("view-data")
        assert button.inner_text() == "View data"
        assert button.get_attribute("href") == "/viewer/setup/ana/brains/s1/1/1"
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, f"{width} px: View data at {box}"

        activity = page.get_by_test_id("activity").inner_text()
        assert "The atlas-registered image of 488 nm (sample s1, 1.3x) is ready to view." in activity
        assert "layer.ready" not in activity and "registered_ch488" not in activity
        page.screenshot(path=str(artifacts_dir / f"overview-{width}.png"), full_page=True)

    button.click()
    page.wait_for_load_state()
    assert "/viewer/setup/ana/brains/s1/1/1" in page.url
