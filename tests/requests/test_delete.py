"""Deleting a request."""

from __future__ import annotations

import datetime as dt

import pytest

from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import EmailOutbox, EventLog
from tests.conftest import csrf_from
from tests.factories import channel, new_request, resolution, sample, submit
from tests.requests.conftest import emails_with_subject
from tests.support.databases import REQUEST_PARTS
from tests.support.waiting import wait_for

URL = "/requests/ana/brains/delete"
KEY = {"username": "ana", "request_name": "brains"}
MISMATCH = "The name you typed does not match."
STARTED = "Clearing has already started for this request, so it can no longer be deleted. Please contact the facility."


@pytest.fixture
def brains(app, make_user):
    """ana/brains: two clearing batches (the second with an antibody), shared with an auditor and a
    collaborator; plus ana/other with its own antibody row, which must survive."""
    make_user("ana")
    make_user("aud")
    make_user("col")
    submit(
        app,
        new_request(
            "ana",
            "brains",
            [
                sample("s1", resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))),
                sample("s2", resolution("3.6x", channel("642")), protocol="idisco_plus_immuno", antibody1="anti-cFos"),
            ],
            auditors=["aud", "col"],
        ),
    )
    submit(app, new_request("ana", "other", [sample("o1", protocol="idisco_plus_immuno", antibody1="anti-GFP")]))
    with app.app_context():
        ls = get_schemas().lightsheet
        ls.Request.Access.update1({**KEY, "grantee": "col", "access_level": "collaborator"})
        ls.AntibodyHistory.insert1(
            dict(
                entry_date=dt.date(2030, 1, 1),
                brief_descriptor="free-standing trial",
                animal_model="mouse",
                primary_antibody="anti-TH",
                created_by="clara",
                created_at=dt.datetime(2030, 1, 1),
            )
        )
    return KEY


def delete(client, typed: str):
    token = csrf_from(client.get("/about").get_data(as_text=True))
    return client.post(URL, data={"csrf_token": token, "confirm_name": typed})


def set_batch(app, number: int, **values):
    with app.app_context():
        get_schemas().lightsheet.Request.ClearingBatch.update1({**KEY, "clearing_batch_number": number, **values})


def request_exists(app) -> bool:
    with app.app_context():
        return bool(get_schemas().lightsheet.Request & KEY)


def test_get_on_the_delete_url_is_405(client, login_as, brains, app):
    login_as("researcher", "ana")
    assert client.get(URL).status_code == 405
    assert request_exists(app)


def test_the_owner_deletes_the_request_with_every_part_and_its_antibody_rows(app, client, login_as, brains):
    login_as("researcher", "ana")
    with app.app_context():
        ls = get_schemas().lightsheet
        assert len(ls.AntibodyHistory & KEY) == 1
    resp = delete(client, "brains")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/requests/")
    assert "Your request has been deleted." in client.get("/requests/").get_data(as_text=True)
    with app.app_context():
        ls = get_schemas().lightsheet
        assert not (ls.Request & KEY)
        leftovers = {name: len(getattr(ls.Request, name) & KEY) for name in REQUEST_PARTS}
        assert leftovers == dict.fromkeys(REQUEST_PARTS, 0)
        assert not (ls.AntibodyHistory & KEY)
        # the other request and the free-standing trial are untouched
        assert len(ls.Request.Sample & {"username": "ana", "request_name": "other"}) == 1
        assert len(ls.AntibodyHistory & {"username": "ana", "request_name": "other"}) == 1
        assert len(ls.AntibodyHistory & "username IS NULL") == 1


def test_the_event_log_keeps_the_history_and_a_snapshot(app, client, login_as, brains):
    login_as("researcher", "ana")
    delete(client, "brains")
    with app.app_context():
        events = db.session.scalars(
            db.select(EventLog).where(EventLog.request_name == "brains").order_by(EventLog.id)
        ).all()
        assert [e.action for e in events] == ["request.submitted", "request.deleted"]
        deleted = events[1]
        assert (deleted.actor, deleted.request_username) == ("ana", "ana")
        assert [s["sample_name"] for s in deleted.before["samples"]] == ["s1", "s2"]
        assert [b["protocol"] for b in deleted.before["clearing_batches"]] == [
            "idisco_abbreviated",
            "idisco_plus_immuno",
        ]
        assert deleted.before["request"]["description"] == "Test request"


@pytest.mark.parametrize("typed", ["", "Brains", "brains ", "other"])
def test_a_typed_name_that_does_not_match_is_refused(app, client, login_as, brains, typed):
    login_as("researcher", "ana")
    resp = delete(client, typed)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert MISMATCH in html and 'class="invalid-feedback"' in html
    assert "Type the request name to confirm:" in html
    assert request_exists(app)


@pytest.mark.parametrize("progress", ["in_progress", "complete"])
def test_deleting_is_refused_once_a_clearing_batch_has_started(app, client, login_as, brains, progress):
    set_batch(app, 2, clearing_progress=progress)
    login_as("researcher", "ana")
    resp = delete(client, "brains")
    assert resp.status_code == 409
    assert STARTED in resp.get_data(as_text=True)
    assert request_exists(app)
    with app.app_context():
        assert len(get_schemas().lightsheet.AntibodyHistory & KEY) == 1


def test_the_name_is_checked_before_the_clearing_state(app, client, login_as, brains):
    set_batch(app, 1, clearing_progress="in_progress")
    login_as("researcher", "ana")
    html = delete(client, "wrong").get_data(as_text=True)
    assert MISMATCH in html and STARTED not in html


def test_an_admin_may_delete_another_users_request(app, client, login_as, brains):
    login_as("admin")
    assert delete(client, "brains").status_code == 303
    assert not request_exists(app)
    with app.app_context():
        (event,) = db.session.scalars(db.select(EventLog).where(EventLog.action == "request.deleted")).all()
        assert event.actor != "ana"


@pytest.mark.parametrize(
    ("who", "status"), [("aud", 403), ("col", 403), ("stranger", 404), ("clearing", 403), ("imaging", 403)]
)
def test_only_the_owner_or_an_admin_may_delete(app, client, login_as, brains, who, status):
    if who in ("aud", "col"):
        login_as("researcher", who)
    elif who == "stranger":
        login_as("researcher")
    else:
        login_as(who)
    assert delete(client, "brains").status_code == status
    assert request_exists(app)


def test_a_missing_request_is_404(client, login_as, brains):
    login_as("researcher", "ana")
    token = csrf_from(client.get("/about").get_data(as_text=True))
    resp = client.post("/requests/ana/nothere/delete", data={"csrf_token": token, "confirm_name": "nothere"})
    assert resp.status_code == 404


def test_a_post_without_csrf_token_is_refused(app, client, login_as, brains):
    login_as("researcher", "ana")
    assert client.post(URL, data={"confirm_name": "brains"}).status_code == 400
    assert request_exists(app)


def test_the_dialog_posts_the_typed_name_with_a_csrf_token(app):
    with app.test_request_context():
        from flask import render_template_string

        html = render_template_string(
            '{% include "requests/_delete_dialog.html" %}', req={"username": "a.b", "request_name": "x_1"}
        )
    assert "Type the request name to confirm:" in html and "Yes, delete this request" in html
    assert 'action="/requests/a.b/x_1/delete"' in html and 'name="csrf_token"' in html
    assert 'name="confirm_name"' in html and 'id="delete-dialog-a_2eb-x_1"' in html
    assert 'data-bs-target="#delete-dialog-a_2eb-x_1"' in html


def test_empty_folders_are_removed_and_the_clearing_staff_emailed(
    app, client, login_as, empty_data_root, brains, make_user, settings, smtp, running_worker
):
    make_user("clara", roles=["clearing_staff"], email="clara@core.example")
    folder = settings.data_root / "ana" / "brains"
    wait_for(lambda: (folder / "s2" / "imaging_request_1" / "runs").is_dir(), what="the request folders")
    login_as("researcher", "ana")
    assert delete(client, "brains").status_code == 303
    wait_for(lambda: not folder.exists(), what="the empty request folder to be removed")
    ((to, msg),) = emails_with_subject(smtp, "lightserv: Request deleted: ana/brains")
    assert to == ["clara@core.example"]
    body = msg.get_content()
    assert "removed from the clearing queue" in body
    assert "Clearing batch 2: iDISCO+ (immunostaining); 1 sample: s2; clearer: not assigned" in body
    assert (settings.data_root / "ana").is_dir()  # only the request's folder goes


def test_folders_holding_files_are_kept_and_the_admins_alerted(
    app, client, login_as, empty_data_root, brains, make_user, settings, smtp, running_worker
):
    make_user("adele", roles=["facility_admin"], email="adele@core.example")
    folder = settings.data_root / "ana" / "brains"
    raw = folder / "s1" / "imaging_request_1" / "rawdata" / "resolution_1.3x"
    wait_for(raw.is_dir, what="the raw-data folder")
    (raw / "Ex_488_Em_525_C00.ome.tif").write_bytes(b"II*\x00")
    login_as("researcher", "ana")
    assert delete(client, "brains").status_code == 303
    ((to, msg),) = emails_with_subject(smtp, "lightserv: Request folder not removed: ana/brains")
    assert to == ["adele@core.example"]
    # admins hold every staff role, so the "Request deleted" email reaches them as well
    assert emails_with_subject(smtp, "lightserv: Request deleted: ana/brains")[0][0] == ["adele@core.example"]
    assert "s1/imaging_request_1/rawdata/resolution_1.3x/Ex_488_Em_525_C00.ome.tif" in msg.get_content()
    assert (raw / "Ex_488_Em_525_C00.ome.tif").is_file()
    assert not request_exists(app)


def test_assigned_clearers_are_emailed_instead_of_all_clearing_staff(app, client, login_as, brains, make_user):
    make_user("clara", roles=["clearing_staff"], email="clara@core.example")
    make_user("carl", roles=["clearing_staff"], email="carl@core.example")
    set_batch(app, 1, clearer="carl")
    set_batch(app, 2, clearer="ana")  # self-clearing owner
    login_as("researcher", "ana")
    delete(client, "brains")
    with app.app_context():
        (row,) = db.session.scalars(db.select(EmailOutbox).where(EmailOutbox.template == "request_deleted")).all()
        assert row.to_addrs == ["ana@test.example", "carl@core.example"]
        assert row.subject == "lightserv: Request deleted: ana/brains"


def test_a_batch_without_clearer_adds_the_clearing_staff(app, client, login_as, brains, make_user):
    make_user("clara", roles=["clearing_staff"], email="clara@core.example")
    make_user("carl", roles=["clearing_staff"], email="carl@core.example")
    set_batch(app, 1, clearer="carl")
    login_as("researcher", "ana")
    delete(client, "brains")
    with app.app_context():
        (row,) = db.session.scalars(db.select(EmailOutbox).where(EmailOutbox.template == "request_deleted")).all()
        assert row.to_addrs == ["carl@core.example", "clara@core.example"]


def test_feedback_of_the_deleted_request_goes_with_it(app, client, login_as, brains):
    from lightserv.models import Feedback

    with app.app_context():
        db.session.add(Feedback(request_username="ana", request_name="brains", submitted_by="ana", clearing_rating=4))
        db.session.commit()
    login_as("researcher", "ana")
    delete(client, "brains")
    with app.app_context():
        assert db.session.scalars(db.select(Feedback)).all() == []
