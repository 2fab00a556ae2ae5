"""Fault: Redis (broker, locks, heartbeats, login throttle) stopped and restarted empty (issue 11).

The web app, a Celery worker and beat run as real programs on a Redis server of the test's own, which is
killed and started again on the same port with no data (as a restart without persistence does). While it is
down the pages that only read keep working, /healthz names Redis, sign-in answers a clear 503, and a request
submitted meanwhile is saved with its emails and tasks kept in the outboxes (its page says the work waits);
when Redis is back everything recovers with no restart of the app, every email arrives and every task runs
exactly once.
"""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests.conftest import csrf_from
from tests.requests.test_new_request_page import full_form
from tests.slow.conftest import emails_by_subject, health, login, wait_for
from tests.slow.test_faults_outbox import waiting_message_in

PASSWORD = "correct horse battery"


@pytest.fixture
def redis_stack(app, make_user, private_redis, start_web, start_worker, start_beat):
    make_user("ana", password=PASSWORD, email="ana@lab.example")
    make_user("clara", roles=["clearing_staff"], email="clara@core.example")
    url = private_redis.url(0)
    web = start_web(workers=1, redis_url=url)
    worker = start_worker(redis_url=url)
    beat = start_beat(redis_url=url, email_retry_seconds=5)
    wait_for(lambda: health(web.url)[0] == 200, 120, "the stack to report healthy", lambda: worker.log()[-2000:])
    return web, worker, beat


def test_redis_down_and_back_keeps_reads_names_redis_and_loses_no_email(app, smtp, private_redis, redis_stack):
    from lightserv.db import get_schemas
    from lightserv.extensions import db
    from lightserv.models import EmailOutbox, TaskOutbox

    web, worker, beat = redis_stack
    ana = login(web.url, "ana", PASSWORD)
    assert ana.get(f"{web.url}/requests/", timeout=10).status_code == 200

    private_redis.kill()
    try:
        status, body = health(web.url)
        assert status == 503 and body["status"] == "degraded"
        assert body["redis"].startswith(f"error: Redis at 127.0.0.1:{private_redis.port} is not answering")
        assert body["db"] == "ok" and body["worker"] == body["scheduler"] == "unknown: redis unavailable"

        # reading keeps working for a signed-in user (the session is a signed cookie, not in Redis)
        page = ana.get(f"{web.url}/requests/", timeout=10)
        assert page.status_code == 200 and "Requests" in page.text

        # signing in needs the throttle counters: a clear 503 naming Redis, never a 500 or a traceback
        fresh = requests.Session()
        token = csrf_from(fresh.get(f"{web.url}/login", timeout=10).text)
        resp = fresh.post(
            f"{web.url}/login", data={"username": "ana", "password": PASSWORD, "csrf_token": token}, timeout=30
        )
        assert resp.status_code == 503, resp.text[:500]
        assert "Redis" in resp.text and "not reachable" in resp.text and "Traceback" not in resp.text
        assert resp.headers.get("Retry-After") == "60"

        # a request submitted now is saved; its emails wait in the outbox
        token = csrf_from(ana.get(f"{web.url}/requests/new", timeout=10).text)
        form = {
            **full_form(1, correspondence_email="ana@lab.example", confirmed="y"),  # from the review page
            "action": "submit",
            "csrf_token": token,
        }
        resp = ana.post(f"{web.url}/requests/new", data=form, allow_redirects=False, timeout=60)
        assert resp.status_code == 302, resp.text[:1000]
        page = ana.get(f"{web.url}{resp.headers['Location']}", timeout=10).text
        assert "Request submitted" in page and waiting_message_in(page)
        with app.app_context():
            waiting = {r.task_name: r.status for r in db.session.scalars(db.select(TaskOutbox))}
        # the folders and the data-group check wait in the task outbox, written with the request
        assert waiting == {"lightserv.requests.create_imaging_folders": "pending",
                           "lightserv.requests.check_data_group": "pending"}  # fmt: skip
    finally:
        private_redis.start()

    with app.app_context():
        assert len(get_schemas().lightsheet.Request & {"username": "ana", "request_name": "brains"}) == 1
        outbox = list(db.session.scalars(db.select(EmailOutbox)))
    expected = {row.subject for row in outbox if row.to_addrs}
    assert expected, "the submission queued no email"

    # recovery by itself: heartbeats come back, sign-in works, the outbox drains once
    wait_for(lambda: health(web.url)[0] == 200, 90, "/healthz to be ok again", lambda: str(health(web.url)[1]))
    assert login(web.url, "ana", PASSWORD).get(f"{web.url}/requests/", timeout=10).status_code == 200
    wait_for(lambda: set(emails_by_subject(smtp)) >= expected, 150, f"the emails {expected}",
             lambda: str(emails_by_subject(smtp)))  # fmt: skip
    time.sleep(12)  # two more retry rounds of beat: nothing is sent twice
    counts = emails_by_subject(smtp)
    assert all(counts[s] == 1 for s in expected), counts
    with app.app_context():
        db.session.remove()
        statuses = {r.status for r in db.session.scalars(db.select(EmailOutbox))}
        tasks = [(r.status, r.sends) for r in db.session.scalars(db.select(TaskOutbox))]
    assert statuses <= {"sent", "suppressed"}
    assert tasks == [("done", 1), ("done", 1)]  # the waiting work ran, once each
    assert not re.search(r"Traceback", web.log())
