"""Additional processing requests."""

from __future__ import annotations

import pytest

from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import EventLog
from tests.conftest import csrf_from
from tests.factories import channel, new_request, resolution, sample, submit
from tests.requests.conftest import emails_with_subject
from tests.support.waiting import wait_for

URL = "/processing/new/ana/brains/1"
KEY = {"username": "ana", "request_name": "brains"}


@pytest.fixture
def brains(app, make_user):
    """s1 (1.3x registration + cell detection, 3.6x) and s2 (1.3x, with a ventral-up 488) are imaged;
    s3 (1.1x) is still pending; s4 was imaged at 2x only."""
    make_user("ana")
    make_user("col")
    make_user("aud")
    reg_cell = (channel("488", "registration"), channel("647", "cell_detection"))
    submit(
        app,
        new_request(
            "ana",
            "brains",
            [
                sample("s1", resolution("1.3x", *reg_cell), resolution("3.6x", channel("642"))),
                sample("s2", resolution("1.3x", *reg_cell)),
                sample("s3", resolution("1.1x", channel("488"))),
                sample("s4", resolution("2x", channel("488"))),
            ],
            auditors=["col", "aud"],
        ),
    )
    with app.app_context():
        ls = get_schemas().lightsheet
        ls.Request.Access.update1({**KEY, "grantee": "col", "access_level": "collaborator"})
        for name in ("s1", "s2", "s4"):
            ls.Request.ImagingRequest.update1(
                {**KEY, "sample_name": name, "imaging_request_number": 1, "imaging_progress": "complete"}
            )
        dorsal = (
            ls.Request.ImagingChannel & {**KEY, "sample_name": "s2", "image_resolution": "1.3x", "channel_name": "488"}
        ).to_dicts()[0]
        ls.Request.ImagingChannel.insert1({**dorsal, "ventral_up": 1})
    return KEY


def res(name: str, *, include=True, atlas="allen_2017", orientation="sagittal", notes="") -> dict:
    return {"image_resolution": name, "include": include, "atlas": atlas, "orientation": orientation, "notes": notes}


def form(samples: dict[str, tuple[bool, list[dict]]]) -> dict:
    """samples: name -> (process, [res(...)]) for the listed samples, in page order."""
    data = {}
    for si, (name, (process, resolutions)) in enumerate(samples.items()):
        data[f"samples-{si}-sample_name"] = name
        if process:
            data[f"samples-{si}-reprocess"] = "y"
        for ri, r in enumerate(resolutions):
            prefix = f"samples-{si}-resolutions-{ri}-"
            data[prefix + "image_resolution"] = r["image_resolution"]
            if r["include"]:
                data[prefix + "include"] = "y"
            data[prefix + "atlas_name"] = r["atlas"]
            data[prefix + "final_orientation"] = r["orientation"]
            data[prefix + "notes_for_processor"] = r["notes"]
    return data


def default_form(s1=False, s2=False, **overrides) -> dict:
    return form({"s1": (s1, [res("1.3x"), res("3.6x")]), "s2": (s2, [res("1.3x")]), **overrides})


def post(client, data: dict, action: str = "submit", url: str = URL):
    token = csrf_from(client.get("/about").get_data(as_text=True))
    return client.post(url, data={**data, "action": action, "csrf_token": token})


def processing_rows(app, number: int) -> set[tuple]:
    with app.app_context():
        ls = get_schemas().lightsheet
        rows = (ls.Request.ProcessingResolutionRequest & KEY & {"processing_request_number": number}).to_dicts()
    return {
        (r["sample_name"], r["image_resolution"], r["ventral_up"], r["atlas_name"], r["final_orientation"])
        for r in rows
    }


def test_the_page_lists_imaged_samples_and_greys_the_others(client, login_as, brains):
    login_as("researcher", "ana")
    html = client.get(URL).get_data(as_text=True)
    assert html.count('data-testid="sample-section"') == 2
    assert html.count('data-testid="resolution-choice"') == 3
    assert "Imaging request 1 of this sample is pending." in html
    assert "Imaging request 1 of this sample has no processable resolution (2x is never processed)." in html
    assert "registration" in html and "cell detection" in html and "488_ventral_up" in html
    assert 'name="samples-0-resolutions-0-atlas_name"' in html  # 1.3x with a registration channel
    assert '<select class="form-select" id="samples-0-resolutions-1-atlas_name"' not in html  # 3.6x: no atlas
    assert "Copy sample 1 to all samples" in html
    assert "Processing requests so far:\n        1 (pending)" in html


def test_submitting_creates_the_next_processing_request_per_ticked_sample(app, client, login_as, brains):
    login_as("researcher", "ana")
    data = form(
        {
            "s1": (
                True,
                [res("1.3x", atlas="allen_2011", notes="Please check the cerebellum."), res("3.6x", include=False)],
            ),
            "s2": (True, [res("1.3x")]),
        }
    )
    resp = post(client, data)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:3000]
    assert processing_rows(app, 2) == {
        ("s1", "1.3x", 0, "allen_2011", "sagittal"),
        ("s2", "1.3x", 0, "allen_2017", "sagittal"),
        ("s2", "1.3x", 1, "allen_2017", "sagittal"),  # the ventral-up sibling
    }
    with app.app_context():
        ls = get_schemas().lightsheet
        requests = (ls.Request.ProcessingRequest & KEY & "processing_request_number = 2").to_dicts()
        assert {(r["sample_name"], r["processing_progress"], r["requested_by"]) for r in requests} == {
            ("s1", "pending", "ana"),
            ("s2", "pending", "ana"),
        }
        (note,) = (
            ls.Request.ProcessingResolutionRequest & KEY & {"sample_name": "s1", "processing_request_number": 2}
        ).to_dicts()
        assert (
            note["notes_for_processor"] == "Please check the cerebellum." and note["pipeline_status"] == "not_started"
        )
        (event,) = db.session.scalars(db.select(EventLog).where(EventLog.action == "processing.requested")).all()
        assert event.actor == "ana" and event.request_name == "brains"
        assert [(s["sample_name"], s["processing_request_number"]) for s in event.after["samples"]] == [
            ("s1", 2),
            ("s2", 2),
        ]
    assert "processing request 2" in client.get(resp.headers["Location"]).get_data(as_text=True)
    # P is per sample: a second request for s2 only takes 3, s1 stays at 2
    post(client, default_form(s2=True))
    assert processing_rows(app, 3) == {
        ("s2", "1.3x", 0, "allen_2017", "sagittal"),
        ("s2", "1.3x", 1, "allen_2017", "sagittal"),
    }
    post(client, default_form(s1=True))
    assert {r[:3] for r in processing_rows(app, 3)} >= {("s1", "1.3x", 0), ("s1", "3.6x", 0)}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (default_form(), "Select at least one sample to process again."),
        (
            form(
                {"s1": (True, [res("1.3x", include=False), res("3.6x", include=False)]), "s2": (False, [res("1.3x")])}
            ),
            "Sample s1: include at least one resolution.",
        ),
        (
            form({"s1": (True, [res("1.3x", orientation="coronal"), res("3.6x")]), "s2": (False, [res("1.3x")])}),
            "Output orientation must be sagittal when registration is selected.",
        ),
        (
            form({"s1": (True, [res("1.3x", atlas="mars_2040"), res("3.6x")]), "s2": (False, [res("1.3x")])}),
            "Please choose an available atlas.",
        ),
        (
            form({"s1": (True, [res("1.3x", notes="n" * 1025), res("3.6x")]), "s2": (False, [res("1.3x")])}),
            "Notes for the processor must be at most 1024 characters.",
        ),
    ],
)
def test_invalid_requests_are_refused_with_their_message(app, client, login_as, brains, data, message):
    login_as("researcher", "ana")
    resp = post(client, data)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert message in html and 'data-testid="error-summary"' in html
    assert processing_rows(app, 2) == set()


def test_an_inactive_atlas_is_refused(app, client, login_as, brains):
    with app.app_context():
        atlas = get_schemas().lightsheet.Atlas
        atlas.update1({"atlas_name": "paxinos", "is_active": 0})
    try:
        login_as("researcher", "ana")
        data = form({"s1": (True, [res("1.3x", atlas="paxinos"), res("3.6x")]), "s2": (False, [res("1.3x")])})
        resp = post(client, data)
        assert resp.status_code == 400 and "Please choose an available atlas." in resp.get_data(as_text=True)
    finally:
        with app.app_context():
            get_schemas().lightsheet.Atlas.update1({"atlas_name": "paxinos", "is_active": 1})


def test_orientation_is_free_without_a_registration_channel(app, client, login_as, make_user):
    make_user("ana")
    submit(app, new_request("ana", "brains", [sample("g1", resolution("4x", channel("488")))]))
    with app.app_context():
        get_schemas().lightsheet.Request.ImagingRequest.update1(
            {**KEY, "sample_name": "g1", "imaging_request_number": 1, "imaging_progress": "complete"}
        )
    login_as("researcher", "ana")
    html = client.get(URL).get_data(as_text=True)
    assert '<select class="form-select" id="samples-0-resolutions-0-atlas_name"' not in html
    resp = post(client, form({"g1": (True, [res("4x", orientation="coronal")])}))
    assert resp.status_code == 303
    assert processing_rows(app, 2) == {("g1", "4x", 0, "allen_2017", "coronal")}


def test_tampered_samples_or_resolutions_and_unknown_actions_are_400(app, client, login_as, brains):
    login_as("researcher", "ana")
    pending = form({"s1": (False, [res("1.3x"), res("3.6x")]), "s3": (True, [res("1.1x")])})
    assert post(client, pending).status_code == 400
    extra = form({"s1": (True, [res("1.3x"), res("15x")]), "s2": (False, [res("1.3x")])})
    assert post(client, extra).status_code == 400
    resp = post(client, default_form(s1=True), action="launch")
    assert resp.status_code == 400 and "Unknown form action." in resp.get_data(as_text=True)
    assert processing_rows(app, 2) == set()


def test_copy_sample_1_copies_the_values_to_samples_with_the_same_resolution(app, client, login_as, brains):
    login_as("researcher", "ana")
    data = form(
        {
            "s1": (True, [res("1.3x", atlas="princeton_mouse_atlas", notes="copy me"), res("3.6x", include=False)]),
            "s2": (False, [res("1.3x", atlas="allen_2017")]),
        }
    )
    resp = post(client, data, action="copy")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    s2 = html.split('id="sample-s2"', 1)[1]
    assert 'id="samples-1-reprocess" name="samples-1-reprocess" type="checkbox" value="y"' in s2
    assert "checked" in s2.split('id="samples-1-reprocess"')[0][-120:] + s2.split('id="samples-1-reprocess"')[1][:60]
    assert '<option selected value="princeton_mouse_atlas">' in s2
    assert "\ncopy me</textarea>" in s2
    assert processing_rows(app, 2) == set()  # copying writes nothing


def test_a_missing_imaging_request_number_is_404(client, login_as, brains):
    login_as("researcher", "ana")
    assert client.get("/processing/new/ana/brains/7").status_code == 404


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("col", 200),
        ("processing", 200),
        ("admin", 200),
        ("aud", 403),
        ("imaging", 403),
        ("clearing", 403),
        ("stranger", 404),
    ],
)
def test_who_may_request_additional_processing(client, login_as, brains, who, status):
    if who in ("col", "aud"):
        login_as("researcher", who)
    elif who == "stranger":
        login_as("researcher")
    else:
        login_as(who)
    assert client.get(URL).status_code == status


def test_a_collaborator_submits_and_is_recorded_as_the_requester(app, client, login_as, brains):
    login_as("researcher", "col")
    assert post(client, default_form(s2=True)).status_code == 303
    with app.app_context():
        ls = get_schemas().lightsheet
        (row,) = (ls.Request.ProcessingRequest & KEY & "processing_request_number = 2").to_dicts()
        assert row["requested_by"] == "col"


def test_emails_and_output_folders_after_the_commit(
    app, client, login_as, brains, make_user, settings, smtp, running_worker
):
    make_user("pia", roles=["processing_staff"], email="pia@core.example")
    login_as("researcher", "ana")
    assert post(client, default_form(s2=True)).status_code == 303
    base = settings.data_root / "ana" / "brains" / "s2" / "imaging_request_1" / "output" / "processing_request_2"
    for folder in (base / "resolution_1.3x", base / "resolution_1.3x_ventral_up"):
        # the worker makes the folder, then sets its mode: wait for both
        wait_for(lambda: folder.is_dir() and folder.stat().st_mode & 0o7777 == 0o2770, what=f"{folder}, mode 2770")
    messages = emails_with_subject(smtp, "lightserv: Additional processing request: ana/brains", count=2)
    by_recipient = {tuple(to): m.get_content() for to, m in messages}
    requester = by_recipient[("ana@test.example",)]
    staff = by_recipient[("pia@core.example",)]
    line = (
        "- s2: processing request 2 of imaging request 1: 1.3x (atlas: Allen atlas (2017)), "
        "1.3x ventral up (atlas: Allen atlas (2017))"
    )
    assert line in requester and line in staff
    assert "https://lightserv.test.example/requests/ana/brains" in requester
    assert "https://lightserv.test.example/processing/queue" in staff


def test_an_expired_form_comes_back_and_writes_nothing(app, client, login_as, brains):
    import time

    login_as("researcher", "ana")
    token = csrf_from(client.get(URL).get_data(as_text=True))
    app.config["WTF_CSRF_TIME_LIMIT"] = 1
    try:
        time.sleep(2.2)
        data = form({"s1": (False, [res("1.3x"), res("3.6x")]), "s2": (True, [res("1.3x", notes="keep me")])})
        resp = client.post(URL, data={**data, "action": "submit", "csrf_token": token})
    finally:
        app.config["WTF_CSRF_TIME_LIMIT"] = 8 * 3600
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "This form expired. Please submit it again." in html and "\nkeep me</textarea>" in html
    assert processing_rows(app, 2) == set()
