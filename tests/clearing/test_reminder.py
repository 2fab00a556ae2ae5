"""The daily "Samples awaiting clearing" reminder, run by a real Celery worker."""

from __future__ import annotations

import datetime as dt

from lightserv.beat import beat_schedule
from tests.factories import new_request, sample, submit


def test_the_reminder_lists_pending_batches_expected_over_a_week_ago_once_a_day(app, make_user, smtp, worker, settings):
    make_user("cleo", roles=["clearing_staff"], email="cleo@core.example")
    owner = make_user("ana")
    today = dt.date.today()
    submit(app, new_request(owner, "late", samples=[sample("s1", expected_handoff_date=today - dt.timedelta(days=10))]))
    submit(app, new_request(owner, "soon", samples=[sample("s1", expected_handoff_date=today - dt.timedelta(days=2))]))
    submit(app, new_request(owner, "mine", self_clearing=True,
                            samples=[sample("s1", expected_handoff_date=today - dt.timedelta(days=30))]))  # fmt: skip
    from lightserv.clearing.tasks import remind_awaiting_clearing

    with worker():
        remind_awaiting_clearing.delay()
        (to, msg), *others = smtp.wait_for(1, app=app)
        assert remind_awaiting_clearing.apply().get() == 1  # the same day again: listed, but not emailed again
    assert not others and to == ["cleo@core.example"]
    assert msg["Subject"] == "lightserv: Samples awaiting clearing"
    body = msg.get_content()
    assert "ana/late batch 1" in body and "ana/soon" not in body and "ana/mine" not in body
    assert len(smtp.messages) == 1


def test_the_reminder_is_scheduled_daily_by_default(settings):
    entry = beat_schedule(settings)["clearing-awaiting-reminder"]
    assert entry["task"] == "lightserv.clearing.remind_awaiting_clearing"
    assert entry["schedule"] == dt.timedelta(hours=24)
