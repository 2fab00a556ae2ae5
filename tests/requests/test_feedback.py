"""Feedback on a request."""

from __future__ import annotations

import pytest

from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import EventLog, Feedback
from tests.conftest import csrf_from
from tests.factories import channel, new_request, resolution, sample, submit

URL = "/requests/ana/brains/feedback"
ONLY_2X = "/requests/ana/flat/feedback"


@pytest.fixture
def brains(app, make_user):
    make_user("ana")
    make_user("col")
    make_user("aud")
    submit(app, new_request("ana", "brains", auditors=["col", "aud"]))  # 1.3x: has processing request 1
    submit(app, new_request("ana", "flat", [sample("f1", resolution("2x", channel("488")))], auditors=["col"]))
    with app.app_context():
        for name in ("brains", "flat"):
            get_schemas().lightsheet.Request.Access.update1(
                {"username": "ana", "request_name": name, "grantee": "col", "access_level": "collaborator"}
            )


def post(client, url=URL, **fields):
    token = csrf_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **fields})


FULL = dict(
    clearing_rating="4",
    imaging_rating="5",
    processing_rating="3",
    clearing_notes="Clear as glass, a day late.",
    imaging_notes="Great SNR.",
    processing_notes="Registration slightly off in the olfactory bulb.",
    other_notes="Thanks!",
)


def rows(app) -> list[Feedback]:
    with app.app_context():
        return db.session.scalars(db.select(Feedback).order_by(Feedback.id)).all()


def test_the_page_shows_the_request_summary_and_the_rating_scale(client, login_as, brains):
    login_as("researcher", "ana")
    html = client.get(URL).get_data(as_text=True)
    summary = html.split('data-testid="request-summary"', 1)[1].split("</table>", 1)[0]
    for cell in ("<td>ana</td>", ">brains</a>", "<td>Test request</td>", "<td>mouse</td>", "<td>1</td>"):
        assert cell in summary
    assert "1 = poor, 5 = excellent" in html
    assert html.count('type="radio"') == 15
    for prompt in (
        "Clarity of the samples; expected versus actual time.",
        "Image quality, signal-to-noise.",
        "Registration quality, detection results.",
    ):
        assert prompt in html
    assert 'maxlength="500"' in html and 'maxlength="1000"' in html


def test_the_first_save_thanks_and_a_second_save_updates_the_same_row(app, client, login_as, brains):
    login_as("researcher", "ana")
    resp = post(client, **FULL)
    assert resp.status_code == 303
    assert "Thank you for your feedback." in client.get(resp.headers["Location"]).get_data(as_text=True)
    (row,) = rows(app)
    assert (row.clearing_rating, row.imaging_rating, row.processing_rating) == (4, 5, 3)
    assert row.processing_notes.startswith("Registration") and row.updated_at is None
    # opening the page again shows the saved values
    html = client.get(URL).get_data(as_text=True)
    assert 'id="clearing_rating-4" value="4" checked' in html and "Great SNR." in html
    resp = post(client, **{**FULL, "clearing_rating": "2", "other_notes": "Second thoughts."})
    assert "Thank you, your feedback was updated." in client.get(resp.headers["Location"]).get_data(as_text=True)
    (row,) = rows(app)
    assert (row.clearing_rating, row.other_notes) == (2, "Second thoughts.")
    assert row.updated_at is not None
    with app.app_context():
        events = db.session.scalars(db.select(EventLog).where(EventLog.action == "feedback.submitted")).all()
    assert [e.before is None for e in events] == [True, False]
    assert events[1].before["clearing_rating"] == 4 and events[1].after["clearing_rating"] == 2
    assert events[1].request_name == "brains" and events[1].actor == "ana"


def test_owner_and_collaborator_each_have_their_own_feedback(app, client, login_as, brains):
    login_as("researcher", "ana")
    post(client, **FULL)
    login_as("researcher", "col")
    assert 'value="4" checked' not in client.get(URL).get_data(as_text=True)
    post(client, **{**FULL, "imaging_rating": "1"})
    assert sorted((r.submitted_by, r.imaging_rating) for r in rows(app)) == [("ana", 5), ("col", 1)]


@pytest.mark.parametrize("missing", ["clearing_rating", "imaging_rating", "processing_rating"])
def test_every_rating_is_required_when_the_request_has_processing(app, client, login_as, brains, missing):
    login_as("researcher", "ana")
    fields = {k: v for k, v in FULL.items() if k != missing}
    resp = post(client, **fields)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "Please choose a rating from 1 to 5." in html and "invalid-feedback d-block" in html
    assert "Great SNR." in html  # the input is kept
    assert rows(app) == []


@pytest.mark.parametrize("value", ["0", "6", "x"])
def test_ratings_outside_one_to_five_are_refused(app, client, login_as, brains, value):
    login_as("researcher", "ana")
    assert post(client, **{**FULL, "imaging_rating": value}).status_code == 400
    assert rows(app) == []


def test_processing_is_not_applicable_without_a_processing_request(app, client, login_as, brains):
    login_as("researcher", "ana")
    html = client.get(ONLY_2X).get_data(as_text=True)
    assert "Not applicable" in html and 'name="processing_rating"' not in html
    resp = post(client, ONLY_2X, clearing_rating="3", imaging_rating="3", processing_rating="5", processing_notes="x")
    assert resp.status_code == 303
    (row,) = rows(app)
    assert (row.request_name, row.processing_rating, row.processing_notes) == ("flat", None, "")


@pytest.mark.parametrize(
    ("field", "limit"), [("clearing_notes", 500), ("processing_notes", 500), ("other_notes", 1000)]
)
def test_notes_are_limited_to_the_column_length(app, client, login_as, brains, field, limit):
    login_as("researcher", "ana")
    assert post(client, **{**FULL, field: "x" * (limit + 1)}).status_code == 400
    assert f"At most {limit} characters." in post(client, **{**FULL, field: "x" * (limit + 1)}).get_data(as_text=True)
    assert rows(app) == []
    assert post(client, **{**FULL, field: "x" * limit}).status_code == 303
    assert len(getattr(rows(app)[0], field)) == limit


@pytest.mark.parametrize(
    ("who", "status"), [("aud", 403), ("stranger", 404), ("admin", 403), ("clearing", 403), ("processing", 403)]
)
def test_only_the_owner_and_collaborators_give_feedback(client, login_as, brains, who, status):
    if who == "aud":
        login_as("researcher", "aud")
    elif who == "stranger":
        login_as("researcher")
    else:
        login_as(who)
    assert client.get(URL).status_code == status
    token = csrf_from(client.get("/about").get_data(as_text=True))
    assert client.post(URL, data={"csrf_token": token, **FULL}).status_code == status


def test_the_model_keeps_one_row_per_request_and_user(app, brains):
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        db.session.add(Feedback(request_username="ana", request_name="brains", submitted_by="ana"))
        db.session.add(Feedback(request_username="ana", request_name="brains", submitted_by="ana"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_an_expired_form_comes_back_with_the_input_and_saves_nothing(app, client, login_as, brains):
    import time

    login_as("researcher", "ana")
    token = csrf_from(client.get(URL).get_data(as_text=True))
    app.config["WTF_CSRF_TIME_LIMIT"] = 1
    try:
        time.sleep(2.2)
        resp = client.post(URL, data={"csrf_token": token, **FULL})
    finally:
        app.config["WTF_CSRF_TIME_LIMIT"] = 8 * 3600
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "This form expired. Please submit it again." in html
    assert "Great SNR." in html and 'id="clearing_rating-4" value="4" checked' in html
    assert rows(app) == []
