"""The new-request form over HTTP: the review step before anything is written, errors once next to their
field naming the sample, required fields marked, and the in-place actions (the form alone for new_request.js,
the whole page without JavaScript)."""

from __future__ import annotations

import html as htmllib
import re

import pytest

from lightserv.db import get_schemas
from tests.conftest import csrf_from
from tests.requests.test_new_request_page import details, full_form, sample_fields, table

FRAGMENT = {"X-Lightserv-Fragment": "new-request"}


@pytest.fixture
def post(client):
    def do(data: dict, action: str, headers: dict | None = None):
        token = csrf_from(client.get("/requests/new").get_data(as_text=True))
        return client.post("/requests/new", data={**data, "action": action, "csrf_token": token}, headers=headers)

    return do


def hidden_inputs(page: str) -> dict[str, str]:
    """What the review page posts back: its hidden inputs (the CSRF token aside)."""
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {name: htmllib.unescape(value) for name, value in found if name != "csrf_token"}


def text_of(page: str) -> str:
    """The page's words as a reader sees them (tags dropped, entities decoded, spaces collapsed)."""
    words = re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", page)))
    return words.replace(" :", ":")


def written(app) -> list[dict]:
    with app.app_context():
        return get_schemas().lightsheet.Request().to_dicts()


def ordered_form() -> dict:
    data = full_form(2)
    data.update(
        table(
            0,
            1,
            "4x",
            {"555": ("generic_imaging",)},
            notes_for_imager="cortex only",
            notes_for_processor="fast please",
            final_orientation="coronal",
            atlas_name="princeton_mouse_atlas",
        )
    )
    data.update(sample_fields(0, "brains-001", antibody1="anti-cFos 1:500", notes_for_clearer="fragile"))
    return data


def test_review_shows_exactly_what_will_be_ordered_and_writes_nothing(app, client, login_as, post):
    login_as("researcher", "ana")
    resp = post(ordered_form(), "review")
    page = resp.get_data(as_text=True)
    words = text_of(page)
    assert resp.status_code == 200
    assert "Check your request before submitting" in words
    assert page.count('data-testid="review-sample"') == 2 and page.count('data-testid="review-resolution"') == 3
    first = words.split("Sample 1 of 2: brains-001", 1)[1].split("Sample 2 of 2: brains-002", 1)[0]
    for expected in (
        "Clearing protocol iDISCO",
        "Primary antibody anti-cFos 1:500",
        "Expected hand-off 01/15/2030",
        "Notes for the clearing staff fragile",
        "Resolution 1.3x",
        "488 nm: registration",
        "647 nm: cell detection",
        "Atlas Allen atlas (2017)",
        "Output orientation Sagittal",
        "Resolution 4x",
        "555 nm: generic imaging",
        "Atlas Princeton Mouse Brain Atlas",
        "Output orientation Coronal",
        "Notes for the imager cortex only",
        "Notes for the processor fast please",
    ):
        assert expected in first, expected
    second = words.split("Sample 2 of 2: brains-002", 1)[1]
    assert "Resolution 1.3x" in second and "Resolution 4x" not in second and "anti-cFos" not in second
    assert "The facility clears the samples." in words and "The facility images the samples." in words
    assert re.search(r'<button[^>]*value="edit">Back to edit</button>', page)
    assert re.search(r'<button[^>]*value="submit">Submit request</button>', page)
    assert 'name="csrf_token"' in page and hidden_inputs(page)["confirmed"] == "y"
    assert not written(app)


def test_submit_without_the_review_pages_confirmation_only_shows_the_review(app, client, login_as, post):
    login_as("researcher", "ana")
    resp = post(full_form(2), "submit")
    assert resp.status_code == 200
    assert "Check your request before submitting" in resp.get_data(as_text=True)
    assert not written(app)


def test_submit_request_on_the_review_page_writes_what_was_reviewed(app, client, login_as, post):
    login_as("researcher", "ana")
    review = post(ordered_form(), "review").get_data(as_text=True)
    resp = post(hidden_inputs(review), "submit")
    assert resp.status_code == 302
    (row,) = written(app)
    assert (row["username"], row["request_name"], row["number_of_samples"]) == ("ana", "brains", 2)
    with app.app_context():
        ls = get_schemas().lightsheet
        key = {"username": "ana", "request_name": "brains", "sample_name": "brains-001"}
        assert (ls.Request.Sample & key).fetch1("notes_for_clearer") == "fragile"
        batches = ls.Request.ClearingBatch & {"username": "ana", "request_name": "brains"}
        assert sorted(batches.to_dicts(), key=lambda b: b["clearing_batch_number"])[0]["antibody1"] == "anti-cFos 1:500"
        imaging = (ls.Request.ImagingResolutionRequest & key).to_dicts()
    assert {(r["image_resolution"], r["notes_for_imager"]) for r in imaging} == {("1.3x", ""), ("4x", "cortex only")}


def test_back_to_edit_shows_the_form_with_everything_kept(app, client, login_as, post):
    login_as("researcher", "ana")
    review = post(ordered_form(), "review").get_data(as_text=True)
    page = post(hidden_inputs(review), "edit").get_data(as_text=True)
    assert "Check your request before submitting" not in page and 'name="confirmed"' not in page
    assert page.count('data-testid="resolution-table"') == 3
    assert re.search(r'name="samples-0-resolutions-1-notes_for_imager"[^>]*>\s*cortex only</textarea>', page)
    assert re.search(r'name="samples-0-resolutions-0-channels-2-cell_detection"[^>]*value="y"\s*checked', page)
    assert re.search(r'name="samples-0-antibody1"[^>]*>\s*anti-cFos 1:500</textarea>', page)
    assert not written(app)


def test_each_error_appears_once_next_to_its_field_naming_the_sample(app, client, login_as, post):
    login_as("researcher", "ana")
    data = full_form(2)
    data.update(sample_fields(0, "", expected_handoff_date=""))
    data.update(sample_fields(1, "mouse_02", expected_handoff_date=""))
    for ci in range(4):  # nothing ticked in sample 2's table
        for purpose in ("registration", "cell_detection"):
            data.pop(f"samples-1-resolutions-0-channels-{ci}-{purpose}", None)
    resp = post(data, "review")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "Check your request before submitting" not in page
    handoff_1 = "Sample 1: expected hand-off date is required, unless you will clear the samples yourself."
    handoff_2 = "Sample 2 (mouse_02): expected hand-off date is required, unless you will clear the samples yourself."
    channel_2 = "Sample 2 (mouse_02), resolution 1.3x: choose at least one channel: tick what it is for."
    for message, field in (
        (handoff_1, "samples-0-expected_handoff_date"),
        (handoff_2, "samples-1-expected_handoff_date"),
        ("Sample 1: sample name is required.", "samples-0-sample_name"),
    ):
        assert page.count(message) == 1, message
        assert re.search(rf'name="{field}"[^>]*>\s*<div class="invalid-feedback">{re.escape(message)}</div>', page)
    assert page.count(channel_2) == 1
    assert channel_2 in page.split('id="sample-2-res-1.3x"', 1)[1].split("</table>", 1)[1][:400]  # under its table
    assert "for samples:" not in page and ", ." not in page
    summary = text_of(page.split('data-testid="error-summary"', 1)[1].split("</div>", 1)[0])
    assert "4 problems to correct, each shown next to its field" in summary
    assert "Sample 1: 2 problems" in summary and "Sample 2 (mouse_02): 2 problems" in summary
    assert 'href="#sample-2"' in page
    assert not written(app)


def test_required_fields_are_marked_for_eyes_and_for_screen_readers(client, login_as, post):
    login_as("researcher", "ana")
    first = client.get("/requests/new").get_data(as_text=True)
    samples = post(details(), "setup").get_data(as_text=True)
    star = '<span class="text-danger" aria-hidden="true">*</span></label>'
    for page, name in [
        (first, "request_name"),
        (first, "description"),
        (first, "labname"),
        (first, "correspondence_email"),
        (first, "number_of_samples"),
        (first, "raw_data_retention_preference"),
        (samples, "samples-1-sample_name"),
        (samples, "samples-1-clearing_protocol"),
        (samples, "samples-1-expected_handoff_date"),
    ]:
        assert re.search(rf'for="{name}">[^<]*{re.escape(star)}', page), name
        tag = re.search(rf'<(?:input|select|textarea)[^>]*name="{name}"[^>]*>', page).group(0)
        assert 'aria-required="true"' in tag and re.search(r"\srequired[\s>]", tag), tag
    auditors = re.search(r'<input[^>]*name="auditors"[^>]*>', first).group(0)
    assert "required" not in auditors  # optional fields carry no marker


@pytest.mark.parametrize(
    ("action", "sections", "tables"),
    [("add_sample", 3, 2), ("remove_sample:0", 1, 1), ("add_resolution:1", 2, 3), ("copy_imaging", 2, 2)],
)
def test_in_place_actions_answer_the_form_alone_and_the_whole_page_without_javascript(
    client, login_as, post, action, sections, tables
):
    login_as("researcher", "ana")
    data = {**full_form(2), "samples-1-new_resolution": "4x"}
    alone = post(data, action, headers=FRAGMENT)
    page = post(data, action)
    assert alone.status_code == page.status_code == 200
    assert alone.headers["X-Lightserv-Fragment"] == "new-request" and "X-Lightserv-Fragment" not in page.headers
    fragment, whole = alone.get_data(as_text=True), page.get_data(as_text=True)
    assert "<html" not in fragment and '<form method="post"' in fragment and 'name="csrf_token"' in fragment
    assert "<html" in whole
    for html in (fragment, whole):
        assert html.count('data-testid="sample-section"') == sections
        assert html.count('data-testid="resolution-table"') == tables
        assert re.search(rf'type="hidden" name="number_of_samples" value="{sections}"', html)


def test_an_added_sample_gets_a_new_name_and_the_server_keeps_the_limits(app, client, login_as, post):
    login_as("researcher", "ana")
    data = {**full_form(2), "samples-1-sample_name": "brains-003"}
    page = post(data, "add_sample", headers=FRAGMENT).get_data(as_text=True)
    assert 'data-announce="Sample 3 added."' in page
    assert re.search(r'name="samples-2-sample_name" required type="text" value="brains-004"', page)
    assert post(full_form(1), "remove_sample:0").status_code == 400  # a request keeps one sample
    big = full_form(50)
    resp = post(big, "add_sample", headers=FRAGMENT)
    assert resp.status_code == 400 and "X-Lightserv-Fragment" not in resp.headers  # the script reloads instead
    assert "at most 50 samples" in resp.get_data(as_text=True)
    assert "Add another sample" not in post(big, "copy_clearing").get_data(as_text=True)


def test_an_in_place_post_without_a_csrf_token_is_refused_as_a_page(client, login_as):
    login_as("researcher", "ana")
    resp = client.post("/requests/new", data={**full_form(2), "action": "add_sample"}, headers=FRAGMENT)
    assert resp.status_code == 400 and "X-Lightserv-Fragment" not in resp.headers
