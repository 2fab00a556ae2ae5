"""The imaging queue and claiming and starting a batch."""

from __future__ import annotations

import re

import pytest

from tests.factories import channel, new_request, resolution, sample, submit

from .conftest import batch_url, finish_clearing, imaging_batch, imaging_requests, login


@pytest.fixture
def brains(app, make_user):
    """ana/brains: one clearing batch, one imaging batch of two samples at 1.3x (LaVision) and 3.6x
    (SmartSPIM)."""
    make_user("ana")
    wishes = [resolution("1.3x", channel("488", "registration")), resolution("3.6x", channel("642"))]
    submit(app, new_request("ana", "brains", [sample("s1", *wishes), sample("s2", *wishes)]))
    return "brains"


def queue_rows(client, table: str) -> list[str]:
    html = client.get("/imaging/queue").get_data(as_text=True)
    section = html.split(f'id="table-{table}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'data-batch="([^"]+)"', section)


def test_a_batch_waits_for_clearing_then_is_ready_then_in_progress(app, client, brains, login_as, act):
    login_as("imaging", "ian")
    assert queue_rows(client, "waiting") == ["ana/brains/1/1/1"]
    assert queue_rows(client, "ready") == []
    finish_clearing(app)
    assert queue_rows(client, "ready") == ["ana/brains/1/1/1"]
    assert act(batch_url(suffix="/start")).status_code == 303
    assert queue_rows(client, "in_progress") == ["ana/brains/1/1/1"]
    html = client.get("/imaging/queue").get_data(as_text=True)
    assert "LaVision &amp; SmartSPIM" in html and "1.3x, 3.6x" in html and "2 (0 done)" in html


def test_the_microscope_label_comes_from_the_batch_own_samples(app, client, make_user, login_as):
    make_user("bo")
    submit(
        app,
        new_request(
            "bo",
            "mixed",
            [
                sample("a", resolution("1.3x", channel("488"))),
                sample("b", resolution("3.6x", channel("488"))),
            ],
        ),
    )
    login_as("imaging")
    html = client.get("/imaging/queue").get_data(as_text=True)
    labels = dict(re.findall(r'data-batch="bo/mixed/1/1/(\d)">.*?data-testid="microscope">([^<]*)<', html, re.S))
    assert sorted(labels.values()) == ["LaVision", "SmartSPIM"]
    filtered = client.get("/imaging/queue?microscope=smartspim").get_data(as_text=True)
    assert len(re.findall(r'data-batch="bo/mixed/', filtered)) == 1


def test_start_is_refused_until_the_clearing_batch_is_complete(app, client, brains, login_as, act):
    login_as("imaging", "ian")
    resp = act(batch_url(suffix="/start"))
    assert resp.status_code == 409
    assert "Clearing of these samples is not complete yet." in resp.get_data(as_text=True)
    assert imaging_batch(app)["imaging_progress"] == "pending"


def test_starting_an_unassigned_batch_claims_it_and_sets_the_imager_of_each_sample(app, client, brains, login_as, act):
    finish_clearing(app)
    login_as("imaging", "ian")
    assert act(batch_url(suffix="/start")).status_code == 303
    batch = imaging_batch(app)
    assert batch["imaging_progress"] == "in_progress" and batch["imager"] == "ian" and batch["started_at"]
    assert {r["imager"] for r in imaging_requests(app).values()} == {"ian"}
    assert act(batch_url(suffix="/start")).status_code == 409  # already started


def test_imaging_staff_cannot_start_a_batch_claimed_by_someone_else(app, client, brains, login_as, act):
    finish_clearing(app)
    login_as("imaging", "ian")
    assert act(batch_url(suffix="/claim")).status_code == 303
    assert imaging_batch(app)["imager"] == "ian"
    login_as("imaging", "ivy")
    assert act(batch_url(suffix="/claim")).status_code == 403
    assert act(batch_url(suffix="/start")).status_code == 403
    page = client.get(batch_url()).get_data(as_text=True)
    assert "Imaged by ian" in page
    login_as("admin", "adam")
    page = client.get(batch_url()).get_data(as_text=True)
    assert "You are not the assigned imager; proceed with care." in page
    assert act(batch_url(suffix="/release")).status_code == 303
    assert imaging_batch(app)["imager"] is None


def test_a_self_imaging_owner_sees_only_their_own_batches_and_can_start_them(app, client, make_user, act):
    make_user("ana")
    make_user("bo")
    submit(app, new_request("ana", "mine", self_imaging=True))
    submit(app, new_request("bo", "theirs"))
    login(client, "ana")
    nav = client.get("/requests/").get_data(as_text=True).split('data-testid="nav"', 1)[1].split("</ul>", 1)[0]
    assert ">Imaging<" in nav
    html = client.get("/imaging/queue").get_data(as_text=True)
    assert "ana/mine/1/1/1" in html and "bo/theirs" not in html
    assert act(batch_url("ana", "mine", suffix="/start")).status_code == 409
    finish_clearing(app, "ana", "mine")
    assert act(batch_url("ana", "mine", suffix="/start")).status_code == 303
    assert imaging_batch(app, "ana", "mine")["imager"] == "ana"
    login(client, "bo")
    assert client.get("/imaging/queue").status_code == 403


def test_follow_up_batches_are_shaded_with_a_badge(app, client, brains, login_as):
    from lightserv.db import get_schemas

    with app.app_context():
        ls = get_schemas().lightsheet
        row = (ls.Request.ImagingBatch & {"username": "ana"}).to_dicts()[0]
        assert row["imaging_request_number"] == 1
    login_as("imaging")
    html = client.get("/imaging/queue").get_data(as_text=True)
    assert "follow-up</span> badge are additional imaging requests" in html
    assert 'data-batch="ana/brains/1/1/1"' in html and '#E0E0E0;" data-batch="ana/brains/1/1/1"' not in html


def test_an_admin_assigns_a_batch_and_the_imager_is_emailed(app, client, brains, login_as, act, make_user):
    from lightserv.extensions import db
    from lightserv.models import EmailOutbox

    make_user("ian", roles=["imaging_staff"])
    login_as("admin", "adam")
    assert "Assign</button>" in client.get(batch_url()).get_data(as_text=True)
    assert act(batch_url(suffix="/assign"), {"assignee": "ana"}).status_code == 400  # not self-imaging
    assert act(batch_url(suffix="/assign"), {"assignee": "ian"}).status_code == 303
    assert imaging_batch(app)["imager"] == "ian"
    with app.app_context():
        [mail] = db.session.scalars(db.select(EmailOutbox).where(EmailOutbox.template == "imaging_assigned"))
        assert mail.subject == "lightserv: Imaging batch assigned to you" and "s1, s2" in mail.body_text


def test_the_daily_reminder_lists_batches_ready_for_a_week(app, brains, make_user):
    import datetime as dt

    from lightserv.db import get_schemas
    from lightserv.extensions import db
    from lightserv.imaging.tasks import send_waiting_reminder
    from lightserv.models import EmailOutbox

    make_user("ian", roles=["imaging_staff"])
    key = {"username": "ana", "request_name": "brains", "clearing_batch_number": 1}
    with app.app_context():
        ls = get_schemas().lightsheet
        ls.Request.ClearingBatch.update1(
            {**key, "clearing_progress": "complete", "completed_at": dt.datetime.utcnow() - dt.timedelta(days=2)}
        )
        assert send_waiting_reminder() == 0
        ls.Request.ClearingBatch.update1({**key, "completed_at": dt.datetime.utcnow() - dt.timedelta(days=8)})
        assert send_waiting_reminder() == 1
        assert send_waiting_reminder() == 1  # listed again, but emailed once a day
        mails = list(
            db.session.scalars(db.select(EmailOutbox).where(EmailOutbox.template == "batches_waiting_for_imaging"))
        )
    assert len(mails) == 1 and "ana/brains clearing batch 1, imaging request 1, imaging batch 1" in mails[0].body_text


def test_the_waiting_reminder_is_scheduled_daily_by_default(settings):
    import datetime as dt

    from lightserv.beat import beat_schedule

    entry = beat_schedule(settings)["imaging-waiting-reminder"]
    assert entry["task"] == "lightserv.imaging.remind_waiting_imaging"
    assert entry["schedule"] == dt.timedelta(hours=24)
