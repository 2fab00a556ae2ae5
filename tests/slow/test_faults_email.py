"""Fault: a worker killed inside the SMTP exchange, after the server took the message and before the row was
marked sent: the one way an email goes twice. The bound (docs/decisions.md): one duplicate, sent by the first
email-retry round at least ten minutes after the email was queued; Celery's redelivered copy of the message
(acks_late) finds the row `sending` and sends nothing.

The kill is played in this process (the send returns, then a BaseException ends `deliver` before its commit, as
SIGKILL would); the SMTP server is the tests' real one.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest


class Killed(BaseException):
    """Ends `deliver` as SIGKILL would: no `except Exception` sees it."""


def test_a_worker_killed_inside_the_smtp_exchange_sends_one_duplicate_ten_minutes_later(app, smtp, monkeypatch):
    from lightserv.common import outbox
    from lightserv.extensions import db
    from lightserv.models import EmailOutbox
    from lightserv.notifications.outbox import queue_email

    subject = f"Bound {uuid.uuid4().hex[:8]}"
    real_send = outbox.send_message

    def send_then_die(message, config):
        real_send(message, config)  # the server has the message
        raise Killed

    with app.app_context():
        outbox_id = queue_email("bound_test", f"bound:{subject}", ["someone@test.example"], subject, "Hello.")
        db.session.commit()
        monkeypatch.setattr(outbox, "send_message", send_then_die)
        with pytest.raises(Killed):
            outbox.deliver(outbox_id)
        db.session.rollback()
        monkeypatch.setattr(outbox, "send_message", real_send)
        row = db.session.get(EmailOutbox, outbox_id)
        assert (row.status, row.attempts) == ("sending", 1)
        stuck_at = row.next_attempt_at  # ten minutes after the claim
        assert dt.timedelta(minutes=10) <= stuck_at - row.created_at <= dt.timedelta(minutes=10, seconds=5)

        assert outbox.deliver(outbox_id) == "sending"  # the redelivered Celery message: claimed already, not sent
        assert outbox_id not in outbox.due_for_retry(now=stuck_at - dt.timedelta(seconds=1))
        assert outbox_id in outbox.due_for_retry(now=stuck_at)
        assert outbox.deliver(outbox_id) == "sent"
        assert outbox_id not in outbox.due_for_retry(now=stuck_at + dt.timedelta(days=1))
        assert outbox.deliver(outbox_id) == "sent"
    with smtp.lock:
        copies = [m for _, m in smtp.messages if m["Subject"] == f"lightserv: {subject}"]
    assert len(copies) == 2  # the one the killed worker sent, and one duplicate
