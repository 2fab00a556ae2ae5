"""Notification preferences and the daily digest: a user who chose the digest for a
category gets no immediate email of that category, and one email a day listing them all; other
recipients and essential alerts are not affected."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lightserv.common.audit import utcnow
from lightserv.extensions import db
from lightserv.models import DigestItem, EmailOutbox, EventLog
from tests.factories import new_request, submit


@pytest.fixture
def people(make_user):
    make_user("ana")  # ana@test.example, also the correspondence email of her requests (tests.factories)
    make_user("bo")


def choose(app, username: str, **modes: str) -> None:
    from lightserv.notifications.preferences import set_preferences

    with app.test_request_context():
        set_preferences(username, modes, actor=username)
        db.session.commit()


def queue(app, template: str, to: list[str], key: str, cc: tuple[str, ...] = ()) -> EmailOutbox:
    from lightserv.notifications.outbox import queue_email

    with app.test_request_context():
        outbox_id = queue_email(template, key, to, f"Subject {key}", f"Body of {key}.", cc=cc)
        db.session.commit()
        row = db.session.get(EmailOutbox, outbox_id)
        db.session.expunge(row)
        return row


def test_a_digest_user_is_taken_off_the_email_and_the_others_still_get_it(app, people):
    choose(app, "ana", status="digest")
    row = queue(app, "clearing_completed", ["ana@test.example", "bo@test.example"], "k1")
    assert row.to_addrs == ["bo@test.example"] and row.status == "queued"
    with app.app_context():
        (item,) = db.session.scalars(select(DigestItem)).all()
        assert (item.username, item.email, item.category, item.source_outbox_id) == (
            "ana",
            "ana@test.example",
            "status",
            row.id,
        )
        assert item.body_text == "Body of k1." and item.digest_outbox_id is None


def test_an_email_only_for_digest_users_is_kept_not_sent_and_a_copy_recipient_still_gets_it(app, people):
    choose(app, "ana", failures="digest")
    row = queue(app, "processing_failed", ["ana@test.example"], "k2")
    assert row.status == "suppressed" and row.last_error == "kept for the daily digest"
    row = queue(app, "processing_failed", ["ana@test.example"], "k3", cc=("bo@test.example",))
    assert row.to_addrs == ["bo@test.example"] and row.cc_addrs == [] and row.status == "queued"


def test_other_categories_and_essential_alerts_are_never_held(app, people):
    choose(app, "ana", status="digest", failures="digest", data_ready="digest", reminders="digest")
    assert queue(app, "storage_check", ["ana@test.example"], "k4").status == "queued"
    assert queue(app, "some_future_email", ["ana@test.example"], "k5").status == "queued"
    choose(app, "ana", failures="immediate")
    assert queue(app, "run_failed", ["ana@test.example"], "k6").to_addrs == ["ana@test.example"]


def test_the_daily_digest_is_one_email_per_user_listing_every_held_email_once(app, people, smtp):
    from lightserv.common.outbox import deliver
    from lightserv.notifications.digest import send_digests

    choose(app, "ana", status="digest", reminders="digest")
    choose(app, "bo", status="digest")
    queue(app, "clearing_completed", ["ana@test.example", "bo@test.example"], "k7")
    queue(app, "samples_awaiting_clearing", ["ana@test.example"], "k8")
    with app.app_context():
        assert send_digests(utcnow(), "America/New_York") == 2
        assert send_digests(utcnow(), "America/New_York") == 0  # nothing twice
        digests = db.session.scalars(select(EmailOutbox).where(EmailOutbox.template == "daily_digest")).all()
        assert sorted(d.to_addrs[0] for d in digests) == ["ana@test.example", "bo@test.example"]
        for d in digests:
            assert deliver(d.id) == "sent"
    messages = {to[0]: msg for to, msg in smtp.wait_for(2, app=app)}
    ana = messages["ana@test.example"]
    assert ana["Subject"] == "lightserv: Your daily digest: 2 messages"
    text = ana.get_content()
    assert text.index("1. Subject k7") < text.index("2. Subject k8") and "Body of k8." in text
    assert "Your daily digest: 1 message" in messages["bo@test.example"]["Subject"]


def test_a_real_submission_email_waits_for_the_owners_digest(app, people):
    choose(app, "ana", status="digest")
    submit(app, new_request("ana", "brains"))
    with app.app_context():
        received = db.session.scalars(select(EmailOutbox).where(EmailOutbox.template == "request_received")).one()
        assert received.status == "suppressed"
        assert [i.template for i in db.session.scalars(select(DigestItem))] == ["request_received"]


def checked(page: str) -> list[str]:
    """The chosen mode of each category, in page order."""
    return re.findall(r'<input checked[^>]*type="radio" value="(\w+)"', page)


def test_a_user_chooses_the_digest_on_the_preferences_page(app, client, login_as, post_form):
    login_as("researcher", "ana")
    page = client.get("/profile/notifications").get_data(as_text=True)
    assert checked(page) == ["immediate"] * 4
    form = {"status": "digest", "data_ready": "immediate", "failures": "digest", "reminders": "immediate"}
    resp = post_form("/profile/notifications", form, token_page="/profile/notifications")
    assert resp.status_code == 302
    page = client.get("/profile/notifications").get_data(as_text=True)
    assert (
        checked(page) == ["digest", "immediate", "digest", "immediate"]
        and "Your notification preferences were saved." in page
    )
    with app.app_context():
        event = db.session.scalars(select(EventLog).where(EventLog.action == "user.notifications_changed")).one()
        assert event.after == {"status": "digest", "failures": "digest"} and event.actor == "ana"
    bad = post_form("/profile/notifications", dict(form, status="never"), token_page="/profile/notifications")
    assert bad.status_code == 400 and "Not a valid choice" in bad.get_data(as_text=True)


def test_the_digest_is_scheduled_daily_at_digest_time(settings):
    from lightserv.beat import beat_schedule

    entry = beat_schedule(settings)["notification-digest"]
    assert entry["task"] == "lightserv.notifications.send_digests"
    assert entry["schedule"].hour == {17} and entry["schedule"].minute == {0}
