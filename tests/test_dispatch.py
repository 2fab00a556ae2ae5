"""The task outbox: work is written with the change that causes it and reaches a real Celery worker on Redis
once, also when the broker was down when it was written."""

from __future__ import annotations

import time

import pytest
import redis as redis_lib
from celery import shared_task
from flask import current_app

from lightserv.common import dispatch
from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import TaskOutbox
from tests.support.ports import free_port
from tests.support.waiting import wait_for

COUNTER = "lightserv:test:outbox-runs:"


@shared_task(name="lightserv.tests.count_run")
def count_run(label: str) -> int:
    """Counts its runs per label in Redis, so a test sees how often the work ran."""
    return int(redis_lib.Redis.from_url(current_app.config["SETTINGS"].redis_url).incr(COUNTER + label))


def runs(redis_url: str, label: str) -> int:
    return int(redis_lib.Redis.from_url(redis_url).get(COUNTER + label) or 0)


def rows(app) -> list[TaskOutbox]:
    with app.app_context():
        return list(db.session.scalars(db.select(TaskOutbox).order_by(TaskOutbox.id)))


def settle(seconds: float = 1.5) -> None:
    """Give a second copy time to run, if one were coming."""
    time.sleep(seconds)


def test_work_written_with_a_change_runs_once_after_the_commit(app, running_worker, redis_url):
    with app.app_context():
        dispatch.enqueue("lightserv.tests.count_run", "a", key="event-a")
        db.session.commit()  # the relay hands it to the broker when the context ends
    wait_for(lambda: runs(redis_url, "a") == 1, what="the work to run")
    wait_for(lambda: rows(app)[0].status == "done", what="the row to be marked done")
    with app.app_context():
        dispatch.enqueue("lightserv.tests.count_run", "a", key="event-a")  # the same event again
        db.session.commit()
    settle()
    assert runs(redis_url, "a") == 1
    assert len(rows(app)) == 1


def test_work_written_in_a_datajoint_transaction_commits_and_rolls_back_with_it(app, running_worker, redis_url):
    with app.app_context():
        conn = get_schemas().connection
        with pytest.raises(RuntimeError), conn.transaction:
            dispatch.enqueue("lightserv.tests.count_run", "rolled-back")
            raise RuntimeError("the change fails")
        with conn.transaction:
            dispatch.enqueue("lightserv.tests.count_run", "kept")
    wait_for(lambda: runs(redis_url, "kept") == 1, what="the committed work to run")
    settle()
    assert runs(redis_url, "rolled-back") == 0
    assert [r.args for r in rows(app)] == [["kept"]]


def test_while_the_broker_is_down_work_waits_and_runs_once_when_it_is_back(app, running_worker, redis_url):
    from lightserv import create_app

    down = create_app(app.config["SETTINGS"].model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}))
    app.extensions["celery"].set_default()  # shared tasks keep reaching the test broker
    with down.app_context():
        dispatch.enqueue("lightserv.tests.count_run", "late", key="event-late")
        started = time.monotonic()
        db.session.commit()
        assert time.monotonic() - started < 5, "a broker outage delays the action by seconds at most"
    (row,) = rows(app)
    assert row.status == "pending" and "broker unavailable" in row.last_error
    with app.app_context():
        assert dispatch.relay().keys == ["event-late"]  # the beat task's call once Redis is back
        assert dispatch.relay().keys == []
    wait_for(lambda: runs(redis_url, "late") == 1, what="the waiting work to run")
    settle()
    assert runs(redis_url, "late") == 1


def test_a_second_copy_of_finished_work_does_nothing(app, running_worker, redis_url):
    """The relay publishes at least once (a relay killed before its commit publishes again); the worker skips
    a copy whose row is done, and a lost message is sent again."""
    with app.app_context():
        dispatch.enqueue("lightserv.tests.count_run", "twice", key="event-twice")
        db.session.commit()
    wait_for(lambda: rows(app) and rows(app)[0].status == "done", what="the first copy to finish")
    (row,) = rows(app)
    with app.app_context():
        app.extensions["celery"].send_task(row.task_name, args=row.args, task_id=dispatch.task_id_of(row.id))
        dispatch.enqueue("lightserv.tests.count_run", "lost", key="event-lost", countdown=3600)
        db.session.commit()
        lost = db.session.scalars(db.select(TaskOutbox).where(TaskOutbox.dedupe_key == "event-lost")).one()
        lost.status, lost.sends = "sent", 1  # handed over long ago; the broker restarted without it
        lost.not_before = lost.sent_at = dispatch.utcnow() - dispatch.RESEND_AFTER * 2
        db.session.commit()
        assert dispatch.relay().keys == ["event-lost"]
    wait_for(lambda: runs(redis_url, "lost") == 1, what="the lost work to be sent again")
    settle()
    assert runs(redis_url, "twice") == 1
    states = {r.dedupe_key: (r.status, r.sends) for r in rows(app)}
    assert states == {"event-twice": ("done", 1), "event-lost": ("done", 2)}
