"""The load test of issue 11: 20 simulated users (researchers browsing and filing, the facility admin
browsing, clearing and imaging staff saving their entry forms) for 5 minutes against gunicorn with the
production options, on a database seeded with 5,000 requests and 20,000 samples, plus one Celery worker
sending the emails. What a user would notice is asserted: no HTTP error, every filed request there exactly
once (with its samples, its submission event and its confirmation email), every staff save reflected.
Speed is reported, never asserted: p50/p95/max per page and requests per second are printed and written to
test-artifacts/load/summary.json.

LOAD_SECONDS (default 300), LOAD_USERS (default 20) and LOAD_THINK_SECONDS (the longest pause between two
actions of a user, default 1.0) change the run. The driver is benchmarks/load.py (the scenario and the
checks); Locust (benchmarks/traffic.py) sends the traffic and keeps the per-page statistics; benchmarks/report.py
writes the report.
"""

from __future__ import annotations

import json
import os

import pytest

from benchmarks import load
from benchmarks.report import describe, write_report
from benchmarks.traffic import run_users
from tests.slow.conftest import PRODUCTION_WEB
from tests.support.auth import sign_in

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "300"))
LOAD_USERS = int(os.environ.get("LOAD_USERS", "20"))
LOAD_THINK_SECONDS = float(os.environ.get("LOAD_THINK_SECONDS", "1.0"))


@pytest.mark.timeout(int(LOAD_SECONDS) + 900)
def test_twenty_users_for_five_minutes(own_prefix, redis_url, smtp, start_web, start_worker, artifacts_dir, capsys):
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # no task of an earlier test reaches this test's worker
    plan = load.prepare(own_prefix, LOAD_USERS, redis_url)
    web = start_web(dj_schema_prefix=own_prefix)
    worker = start_worker(dj_schema_prefix=own_prefix)

    outcome = run_users(web.url, plan, LOAD_SECONDS, LOAD_THINK_SECONDS)
    emails = load.wait_for_emails(own_prefix, plan.run_id)
    problems = load.verify(plan, outcome)

    out = artifacts_dir / "load"
    config = {"users": LOAD_USERS, "seconds": LOAD_SECONDS, "think_seconds": LOAD_THINK_SECONDS}
    config["connections"] = "one per request, as nginx passes them to gunicorn"
    config["gunicorn"] = PRODUCTION_WEB
    logs = {"web": web.log(), "worker": worker.log()}
    report = write_report(out, config, plan, outcome, logs, confirmation_emails=emails, problems=problems)
    summary = report["summary"]
    with capsys.disabled():
        print("\n" + describe(report, out))

    # the users did their work (otherwise the checks below prove nothing)
    assert summary["requests_filed"] > 0 and summary["staff_saves"] > 0, summary
    assert summary["batches_started"] == sum(len(u.batches) for u in plan.users)
    # no HTTP error: no 5xx, no unexpected 4xx, no connection error or timeout
    assert not outcome.errors, json.dumps(
        {"errors": outcome.errors[:5], "server_tracebacks": report["server_tracebacks"]}, indent=2
    )
    # nothing lost, nothing duplicated
    assert load.problem_count(problems) == 0, json.dumps(problems, indent=2, default=str)


def test_first_saves_of_two_batches_at_once_both_succeed(app, client, make_user, caplog):
    """The 500 the load test found (issue 11): two clearers saving the first step of two different batches
    at the same moment. Each save reads its batch's (absent) step entries FOR UPDATE, which takes the same
    gap lock, then inserts into that gap: InnoDB kills one transaction as a deadlock victim. The other
    save is played here by a second session that has already written rows (so InnoDB picks the app's save
    as the victim); the app's save must run again and succeed instead of answering 500."""
    import threading
    import time

    import pymysql

    from lightserv.clearing import services
    from tests.clearing.conftest import read_form
    from tests.factories import new_request, submit
    from tests.support.databases import DB

    owner = make_user("ana")
    cleo = make_user("cleo", roles=["clearing_staff"])
    for name in ("first", "second"):
        submit(app, new_request(owner, name))
    key1, key2 = ({"username": owner, "request_name": n, "clearing_batch_number": 1} for n in ("first", "second"))
    roles = frozenset({"clearing_staff"})
    with app.test_request_context():
        services.start_batch(key1, cleo, roles)
        services.start_batch(key2, cleo, roles)
    sign_in(client, cleo)
    fields, _ = read_form(client.get(f"/clearing/batch/{owner}/first/1").get_data(as_text=True))
    step = next(n for n in fields if n.endswith("-notes") and n.startswith("step-"))[len("step-") : -len("-notes")]
    fields[f"step-{step}-notes"] = "saved during a deadlock"

    prefix = app.config["SETTINGS"].dj_schema_prefix
    entries = f"`{prefix}lightsheet`.`request__clearing_step_entry`"
    other = pymysql.connect(autocommit=False, **DB)
    watcher = pymysql.connect(autocommit=True, **DB)
    outcome: dict = {}

    def save():
        try:
            with app.test_request_context():
                outcome["result"] = services.save_entries(key1, fields, f"step:{step}", cleo, roles)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    try:
        with other.cursor() as cur:
            cur.execute("BEGIN")
            for i in range(50):  # weight: InnoDB rolls back the transaction that wrote fewer rows
                cur.execute(
                    f"INSERT INTO `{prefix}app`.`event_log` (occurred_at, actor, action, entity_type, entity_key,"
                    " summary, correlation_id) VALUES (NOW(), 'other', 'test.weight', 'test', '{}', %s, 'x')",
                    (f"row {i}",),
                )
            cur.execute(
                f"SELECT * FROM {entries} WHERE username=%s AND request_name='second' AND clearing_batch_number=1"
                " FOR UPDATE",
                (owner,),
            )
            thread = threading.Thread(target=save)
            thread.start()
            deadline = time.monotonic() + 120  # the machine may be busy
            while time.monotonic() < deadline:  # until the app's save waits to insert into the shared gap
                with watcher.cursor() as w:
                    w.execute(
                        "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE %s",
                        (f"INSERT INTO {entries}%",),
                    )
                    if w.fetchone()[0]:
                        break
                time.sleep(0.05)
            else:
                raise AssertionError(f"the app's save never tried to insert its step: {outcome}")
            time.sleep(0.5)  # the insert is waiting for the gap lock this session holds
            try:
                cur.execute(
                    f"INSERT INTO {entries} (username, request_name, clearing_batch_number, step_key, step_notes,"
                    " updated_by, updated_at) VALUES (%s, 'second', 1, %s, 'other session', %s, NOW())",
                    (owner, step, cleo),
                )
            except pymysql.err.OperationalError as exc:
                raise AssertionError(f"InnoDB chose the other session as the victim, not the app's save: {exc}")
            other.commit()
        thread.join(60)
        assert "error" not in outcome, f"the save failed: {outcome.get('error')!r}"
        assert outcome["result"].written == [f"step:{step}"]
        assert "deadlock in save_entries" in caplog.text  # the save was the victim and ran again
        with watcher.cursor() as w:
            w.execute(f"SELECT request_name, step_notes FROM {entries} WHERE step_key = %s ORDER BY 1", (step,))
            assert w.fetchall() == (("first", "saved during a deadlock"), ("second", "other session"))
    finally:
        other.close()
        watcher.close()
