"""Additional imaging requests."""

from __future__ import annotations

import pytest

from lightserv.db import get_schemas
from tests.conftest import csrf_from
from tests.factories import channel, new_request, resolution, sample, submit
from tests.requests.test_new_request_page import table

URL = "/imaging/new/ana/brains"


@pytest.fixture
def brains(app, make_user):
    make_user("ana")
    submit(
        app,
        new_request(
            "ana",
            "brains",
            [
                sample("s1", resolution("1.3x", channel("488", "registration"))),
                sample("s2", resolution("1.3x", channel("488", "registration"))),
                sample("s3", resolution("2x", channel("488")), protocol="udisco"),
            ],
        ),
    )
    return "brains"


def post(client, data, action):
    token = csrf_from(client.get(URL).get_data(as_text=True))
    return client.post(URL, data={**data, "action": action, "csrf_token": token})


def form(ticks: dict[int, list[tuple[str, dict]]]) -> dict:
    data = {f"samples-{i}-sample_name": name for i, name in enumerate(("s1", "s2", "s3"))}
    for si, tables in ticks.items():
        data[f"samples-{si}-reimage"] = "y"
        for ri, (res, purposes) in enumerate(tables):
            data.update(table(si, ri, res, purposes))
    return data


def test_the_page_lists_what_was_already_requested(client, login_as, brains):
    login_as("researcher", "ana")
    html = client.get(URL).get_data(as_text=True)
    assert html.count('data-testid="sample-section"') == 3
    assert 'data-testid="already-requested"' in html and "<td>s3</td><td>1</td><td>2x</td>" in html


def test_submitting_creates_the_next_imaging_request_for_ticked_samples_only(app, client, login_as, brains):
    login_as("researcher", "ana")
    resp = post(
        client,
        form({1: [("4x", {"488": ("generic_imaging",)})], 2: [("3.6x", {"642": ("generic_imaging",)})]}),
        "submit",
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    with app.app_context():
        ls = get_schemas().lightsheet
        key = {"username": "ana", "request_name": "brains"}
        requests = {
            (r["sample_name"], r["imaging_request_number"]) for r in (ls.Request.ImagingRequest & key).to_dicts()
        }
        assert requests == {("s1", 1), ("s2", 1), ("s3", 1), ("s2", 2), ("s3", 2)}
        batches = {
            (
                r["clearing_batch_number"],
                r["imaging_request_number"],
                r["imaging_batch_number"],
                r["number_in_imaging_batch"],
            )
            for r in (ls.Request.ImagingBatch & key & "imaging_request_number = 2").to_dicts()
        }
        assert batches == {(1, 2, 1, 1), (2, 2, 1, 1)}  # s2 in clearing batch 1, s3 (uDISCO) in batch 2
        processing = {
            (r["sample_name"], r["imaging_request_number"], r["processing_request_number"])
            for r in (ls.Request.ProcessingRequest & key & "imaging_request_number = 2").to_dicts()
        }
        assert processing == {("s2", 2, 1), ("s3", 2, 1)}
    # the next one takes number 3 for the whole request
    post(client, form({0: [("1.1x", {"488": ("registration",)})]}), "submit")
    with app.app_context():
        ls = get_schemas().lightsheet
        assert (ls.Request.ImagingRequest & {"sample_name": "s1"}).to_arrays("imaging_request_number").tolist() == [
            1,
            3,
        ]


def test_at_least_one_sample_must_be_ticked(client, login_as, brains):
    login_as("researcher", "ana")
    resp = post(client, form({}), "submit")
    assert resp.status_code == 400
    assert "Select at least one sample to re-image." in resp.get_data(as_text=True)


def test_a_ticked_sample_needs_a_table_and_table_rules_apply(client, login_as, brains):
    login_as("researcher", "ana")
    data = form({0: [("1.3x", {"647": ("cell_detection",)})]})
    data["samples-1-reimage"] = "y"
    html = post(client, data, "submit").get_data(as_text=True)
    assert "Sample s2: set up imaging for at least one resolution." in html
    assert "Select a registration channel when requesting any detection." in html


def test_add_resolution_ticks_the_sample_and_15x_is_offered(client, login_as, brains):
    login_as("researcher", "ana")
    html = client.get(URL).get_data(as_text=True)
    assert '<option value="15x">15x (SmartSPIM)</option>' in html
    data = form({})
    data["samples-0-new_resolution"] = "15x"
    html = post(client, data, "add_resolution:0").get_data(as_text=True)
    assert 'id="samples-0-reimage" name="samples-0-reimage" type="checkbox" value="y"' in html
    assert "checked" in html.split('id="samples-0-reimage"')[0][-200:] + html.split('id="samples-0-reimage"')[1][:80]


def test_archival_requests_refuse_additional_imaging(app, client, login_as, brains):
    with app.app_context():
        get_schemas().lightsheet.Request.update1({"username": "ana", "request_name": "brains", "is_archival": 1})
    login_as("researcher", "ana")
    resp = client.get(URL)
    assert resp.status_code == 400
    assert "Additional imaging is not available for archival requests." in resp.get_data(as_text=True)


def test_requester_and_imaging_staff_are_emailed(app, client, login_as, brains, make_user, smtp):
    from celery.contrib.testing.worker import start_worker

    make_user("ivan", roles=["imaging_staff"], email="ivan@core.example")
    login_as("researcher", "ana")
    with start_worker(app.extensions["celery"], pool="solo", perform_ping_check=False):
        smtp.clear()
        post(client, form({1: [("4x", {"488": ("generic_imaging",)})]}), "submit")
        wanted = {
            "lightserv: Additional imaging request received: brains",
            "lightserv: New imaging request: ana/brains",
        }
        for count in range(2, 6):  # other emails of the submission may arrive first
            messages = smtp.wait_for(count, app=app)
            if wanted <= {m["Subject"] for _, m in messages}:
                break
    subjects = {m["Subject"]: to for to, m in messages if "imaging" in m["Subject"].lower()}
    assert subjects["lightserv: Additional imaging request received: brains"] == ["ana@test.example"]
    assert subjects["lightserv: New imaging request: ana/brains"] == ["ivan@core.example"]


def test_an_expired_submit_writes_nothing(app, client, login_as, brains):
    import time

    login_as("researcher", "ana")
    token = csrf_from(client.get(URL).get_data(as_text=True))
    app.config["WTF_CSRF_TIME_LIMIT"] = 1
    try:
        time.sleep(2.2)
        resp = client.post(URL, data={**form({1: [("4x", {"488": ("generic_imaging",)})]}), "action": "submit",
                                      "csrf_token": token})
    finally:
        app.config["WTF_CSRF_TIME_LIMIT"] = 8 * 3600
    assert resp.status_code == 400 and "This form expired" in resp.get_data(as_text=True)
    with app.app_context():
        assert len(get_schemas().lightsheet.Request.ImagingRequest & "imaging_request_number = 2") == 0
