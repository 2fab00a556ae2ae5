"""Email through the outbox, a real Celery worker on Redis, and a real SMTP server."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker

from lightserv.extensions import db
from lightserv.models import EmailOutbox


@pytest.fixture
def worker(app):
    celery_app = app.extensions["celery"]
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def queue(app, key, to=("ana@lab.example",), subject="Your request was received", body="Request r1 is in."):
    from lightserv.common.dispatch import commit_and_send
    from lightserv.notifications.outbox import queue_email

    with app.app_context():
        outbox_id = queue_email("test", key, list(to), subject, body, request_key=("ana", "r1"))
        commit_and_send([outbox_id])
        return outbox_id


def test_a_queued_email_arrives_with_prefix_opening_and_signature(app, smtp, worker):
    queue(app, "request.submitted:ana/r1")
    ((rcpts, msg),) = smtp.wait_for(1, app=app)
    assert rcpts == ["ana@lab.example"]
    assert msg["Subject"] == "lightserv: Your request was received"
    body = msg.get_content()
    assert body.startswith(
        "Hello, this is an automated message from lightserv, the light-sheet portal of Test Light-Sheet Core."
    )
    assert "Request r1 is in." in body
    assert body.rstrip().endswith("Questions? Write to core@test.example.")
    with app.app_context():
        row = db.session.scalars(db.select(EmailOutbox)).one()
        assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None


def test_the_same_event_never_emails_twice(app, smtp, worker):
    first = queue(app, "request.submitted:ana/r1")
    second = queue(app, "request.submitted:ana/r1")
    assert first is not None and second is None
    smtp.wait_for(1, app=app)
    import time

    time.sleep(1.0)
    assert len(smtp.messages) == 1


def test_a_refused_email_is_retried_and_then_delivered(app, smtp):
    from lightserv.common import outbox

    smtp.refuse = True
    outbox_id = queue(app, "k1")  # no worker: deliver by hand to step through the states
    with app.app_context():
        assert outbox.deliver(outbox_id) == "failed"
        row = db.session.get(EmailOutbox, outbox_id)
        assert row.attempts == 1 and "451" in row.last_error and row.next_attempt_at is not None
        smtp.refuse = False
        row.next_attempt_at = None
        db.session.commit()
        assert outbox.due_for_retry() == [outbox_id]
        assert outbox.deliver(outbox_id) == "sent"
    smtp.wait_for(1, app=app)


def test_an_old_email_being_sent_now_is_not_taken_for_a_dead_send(app, smtp, monkeypatch):
    """The ten minutes after which a `sending` row counts as cut off by a dead worker run from its claim, not
    from its creation: an email queued long ago (a broker outage) and sent now is not sent a second time."""
    import datetime as dt

    from lightserv.common import outbox

    outbox_id = queue(app, "old-but-live")
    with app.app_context():
        row = db.session.get(EmailOutbox, outbox_id)
        row.created_at = row.created_at - dt.timedelta(hours=2)  # it waited two hours for the broker
        db.session.commit()
        seen = {}
        real_send = outbox.send_message

        def observed_send(message, config):  # the live worker is inside the exchange with the real SMTP server
            seen["due"] = outbox.due_for_retry()
            seen["status"] = db.session.get(EmailOutbox, outbox_id).status
            real_send(message, config)

        monkeypatch.setattr(outbox, "send_message", observed_send)  # observed, not replaced
        assert outbox.deliver(outbox_id) == "sent"
    assert outbox_id not in seen["due"] and seen["status"] == "sending"
    smtp.wait_for(1, app=app)
    assert len(smtp.messages) == 1


def test_after_three_failures_the_email_stays_failed_and_admins_see_it_in_the_event_log(app, smtp):
    from lightserv.common import outbox
    from lightserv.models import EventLog

    smtp.refuse = True
    outbox_id = queue(app, "k2")
    with app.app_context():
        for _ in range(3):
            assert outbox.deliver(outbox_id) == "failed"
            db.session.get(EmailOutbox, outbox_id).next_attempt_at = None
            db.session.commit()
        assert outbox.deliver(outbox_id) == "failed"  # not claimed again
        assert db.session.get(EmailOutbox, outbox_id).attempts == 3
        assert outbox.due_for_retry() == []
        assert [e.action for e in EventLog.query.filter_by(action="email.failed")] == ["email.failed"]
    assert smtp.messages == []


def test_an_unfilled_placeholder_is_a_bug_not_an_email(app):
    from lightserv.notifications.outbox import queue_email

    with app.app_context(), pytest.raises(ValueError, match="placeholder"):
        queue_email("t", "k3", ["a@b.example"], "Hello {username}", "body")


def test_dev_mode_sends_every_email_to_the_dev_recipient_only(app, smtp, settings_overrides):
    from lightserv import create_app
    from lightserv.common import outbox
    from lightserv.notifications.outbox import queue_email
    from lightserv.settings import Settings

    dev = create_app(
        Settings(**{**settings_overrides, "lightserv_mode": "DEV", "mail_dev_recipient": "dev-inbox@test.example"})
    )
    with dev.app_context():
        outbox_id = queue_email("t", "k4", ["ana@lab.example"], "Hi", "Body", cc=["bo@lab.example"])
        db.session.commit()
        assert outbox.deliver(outbox_id) == "sent"
    ((rcpts, msg),) = smtp.wait_for(1, app=app)
    assert rcpts == ["dev-inbox@test.example"]
    assert "originally to ana@lab.example; cc bo@lab.example" in msg.get_content()
