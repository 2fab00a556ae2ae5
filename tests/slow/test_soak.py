"""The soak (`make soak`, not in CI and not in `make test-slow`): the load test's 20 users for 30 minutes
(SOAK_MINUTES) against gunicorn, a Celery worker and Celery beat on a Redis of the test's own, with Redis
killed and started again once (at a third of the run, down for SOAK_REDIS_DOWN_SECONDS) and the worker
killed with SIGKILL and started again once (at two thirds). Marked `soak`: tests/slow/conftest.py leaves it
out unless `-m soak` is given, so it lives next to the fixtures it reuses without slowing the slow tier.

Reported (printed as a table and written to test-artifacts/soak/summary.json): errors and p50/p95 per page,
and lost or duplicated work by the load test's nothing-lost checks (every filed request exactly once with its
samples, submission event and confirmation email; every staff save reflected and logged once), plus each
confirmation the SMTP server received more than once or never although its outbox row says sent. A second
copy of an email whose first sending was cut by the killed worker is reported apart: the outbox sends again
what a worker left in `sending` for 10 minutes, the one duplicate it allows.
Asserted: the users did their work and nothing was lost or duplicated. Errors are reported, not asserted:
what a fault costs the users is the figure this run measures.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter

import pytest

from benchmarks import load
from benchmarks.facility import connect, query
from benchmarks.report import describe, write_report
from benchmarks.traffic import run_users
from tests.slow.conftest import PRODUCTION_WEB, health, kill_hard, wait_for

SOAK_MINUTES = float(os.environ.get("SOAK_MINUTES", "30"))
SOAK_USERS = int(os.environ.get("SOAK_USERS", "20"))
SOAK_REDIS_DOWN_SECONDS = float(os.environ.get("SOAK_REDIS_DOWN_SECONDS", "20"))

pytestmark = pytest.mark.soak


def confirmations_received(smtp, run_id: str) -> Counter:
    """Request name -> confirmations ("Request received: <name>") the SMTP server received for this run."""
    with smtp.lock:
        subjects = [m["Subject"] or "" for _, m in smtp.messages]
    marker = f"Request received: load_{run_id}_"  # after the subject prefix ("lightserv: ")
    return Counter(s.split("Request received: ", 1)[1] for s in subjects if marker in s)


def delivery_problems(prefix: str, run_id: str, received: Counter) -> tuple[dict[str, list], list]:
    """Confirmations received twice, and confirmations marked sent that never arrived; apart, the ones
    received twice because a worker died inside the SMTP exchange (the one duplicate the outbox allows)."""
    with connect() as conn:
        sent = query(
            conn,
            f"SELECT request_name, attempts FROM `{prefix}app`.email_outbox WHERE request_name LIKE %s"
            " AND template = 'request_received' AND status = 'sent'",
            (f"load\\_{run_id}\\_%",),
        )
    attempts = dict(sent)
    twice = sorted((name, n) for name, n in received.items() if n > 1)
    problems = {
        "confirmations_received_twice": [(name, n) for name, n in twice if attempts.get(name, 1) < 2],
        "confirmations_sent_not_received": sorted(name for name in attempts if not received[name]),
    }
    return problems, [(name, n) for name, n in twice if attempts.get(name, 1) >= 2]


@pytest.mark.timeout(int(SOAK_MINUTES * 60) + 1800)
def test_soak_twenty_users_with_redis_restarted_and_a_worker_killed(
    own_prefix, smtp, private_redis, start_web, start_worker, start_beat, artifacts_dir, capsys
):
    seconds = SOAK_MINUTES * 60
    stack = {"dj_schema_prefix": own_prefix, "redis_url": private_redis.url()}
    plan = load.prepare(own_prefix, SOAK_USERS, private_redis.url())
    web = start_web(**stack)
    workers = [start_worker(**stack)]
    beat = start_beat(**stack)
    wait_for(lambda: health(web.url)[1].get("worker") == "ok", 120, "the worker heartbeat", workers[0].log)
    faults: list[dict] = []
    failed: list[BaseException] = []

    def inject() -> None:
        """Redis killed and started again at a third of the run; the worker killed and restarted at two."""
        try:
            started = time.monotonic()
            time.sleep(seconds / 3)
            private_redis.kill()
            faults.append({"fault": "redis killed", "at_s": round(time.monotonic() - started)})
            time.sleep(SOAK_REDIS_DOWN_SECONDS)
            private_redis.start()
            faults.append({"fault": "redis started again", "at_s": round(time.monotonic() - started)})
            time.sleep(max(0.0, started + 2 * seconds / 3 - time.monotonic()))
            kill_hard(workers[-1])
            faults.append({"fault": "worker killed (SIGKILL)", "at_s": round(time.monotonic() - started)})
            time.sleep(5)
            workers.append(start_worker(**stack))
            faults.append({"fault": "worker started again", "at_s": round(time.monotonic() - started)})
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failed.append(exc)

    injector = threading.Thread(target=inject, name="soak faults")
    injector.start()
    outcome = run_users(web.url, plan, seconds)
    injector.join(120)
    assert not failed, f"a fault could not be injected: {failed[0]!r}"
    emails = load.wait_for_emails(own_prefix, plan.run_id, timeout=900)
    problems = load.verify(plan, outcome)
    time.sleep(5)  # the last messages of the sends just finished reach the SMTP server
    delivery, resent = delivery_problems(own_prefix, plan.run_id, confirmations_received(smtp, plan.run_id))
    problems.update(delivery)

    out = artifacts_dir / "soak"
    config = {"users": SOAK_USERS, "minutes": SOAK_MINUTES, "redis_down_seconds": SOAK_REDIS_DOWN_SECONDS}
    config["gunicorn"] = PRODUCTION_WEB
    logs = {"web": web.log(), "beat": beat.log(), **{f"worker{i}": w.log() for i, w in enumerate(workers)}}
    report = write_report(out, config, plan, outcome, logs, faults=faults, confirmation_emails=emails,
                          problems=problems, lost_or_duplicated=load.problem_count(problems),
                          resent_after_a_crash_mid_send=resent)  # fmt: skip
    summary = report["summary"]
    with capsys.disabled():
        print("\n" + describe(report, out, f"faults: {faults}", f"lost or duplicated: {load.problem_count(problems)}"))

    assert summary["requests_filed"] > 0 and summary["staff_saves"] > 0, summary
    assert load.problem_count(problems) == 0, json.dumps(problems, indent=2, default=str)
