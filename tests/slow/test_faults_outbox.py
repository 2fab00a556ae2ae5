"""Fault: Redis down while a processor starts processing, SmartSPIM autostitch fires and a researcher opens a
viewer (the "nothing lost" issue).

The web app, a Celery worker and beat run as real programs on a Redis server of the test's own, killed and
started again empty. While it is down each action succeeds and its page says the work waits for the task
queue; the work is in the task outbox, written with the change. When Redis is back beat's relay hands it to
the worker, and each piece runs once: one launch per run (one scheduler job per stage), one viewer launch.

Also the poller killed after it marked a run failed and before it queued the staff email: the email's task
was written with the status, so the next worker sends that email, once.
"""

from __future__ import annotations

import time

import pytest

from lightserv.common.dispatch import WAITING_MESSAGE
from tests.conftest import csrf_from, server_connection
from tests.processing.conftest import (
    PR_PATH,
    atlas_files,  # noqa: F401  (fixture)
    complete_imaging,
    lavision_request,
    smartspim_request,
)
from tests.slow.conftest import health, kill_hard, login, wait_for
from tests.slow.test_faults_worker import (  # noqa: F401  (finished_runs, worker_settings: fixtures)
    SMALL,
    RowLock,
    db_rows,
    finished_runs,
    worker_settings,
)
from tests.viewer.conftest import atlas_installed  # noqa: F401  (fixture)

PASSWORD = "correct horse battery"
SPIM = {"username": "ana", "request_name": "spim", "sample_name": "s1", "imaging_request_number": 1}


def waiting_message_in(html: str) -> bool:
    return WAITING_MESSAGE.replace("'", "&#39;") in html or WAITING_MESSAGE in html


@pytest.fixture
def stack(app, make_user, private_redis, start_web, start_worker, start_beat, tmp_path, atlas_files,  # noqa: F811
          atlas_installed):  # noqa: F811  # fmt: skip
    make_user("ana", password=PASSWORD, email="ana@lab.example")
    make_user("pat", roles=["processing_staff"], password=PASSWORD, email="pat@core.example")
    lavision_request(app)
    complete_imaging(app)
    smartspim_request(app, name="spim")
    complete_imaging(app, name="spim", planes=70)
    common = dict(redis_url=private_redis.url(0), cluster_backend="local", local_executor_dir=tmp_path / "executor",
                  slurm_stage_resources=SMALL)  # fmt: skip
    web = start_web(workers=1, **common)
    worker = start_worker(**common)
    start_beat(**common, task_relay_seconds=2, email_retry_seconds=5)
    wait_for(lambda: health(web.url)[0] == 200, 120, "the stack to report healthy", lambda: worker.log()[-2000:])
    return web, worker, common


def outbox_rows(app, after: int = 0) -> list:
    """The task outbox's rows with ids above `after` (the set-up's own work went to the session's broker)."""
    from lightserv.extensions import db
    from lightserv.models import TaskOutbox

    with app.app_context():
        db.session.remove()
        return list(db.session.scalars(db.select(TaskOutbox).where(TaskOutbox.id > after).order_by(TaskOutbox.id)))


def test_work_started_while_redis_is_down_waits_and_runs_once_when_it_is_back(app, private_redis, stack):
    from lightserv import create_app
    from lightserv.db import get_schemas
    from lightserv.extensions import db
    from lightserv.imaging.triggers import start_autostitch
    from lightserv.models import EventLog, ViewerSession

    web, worker, common = stack
    pat = login(web.url, "pat", PASSWORD)  # signing in needs Redis (the throttle): before the outage
    ana = login(web.url, "ana", PASSWORD)
    entry = f"{web.url}/processing/entry/{PR_PATH}"
    start_token = csrf_from(pat.get(entry, timeout=30).text)
    atlas_token = csrf_from(ana.get(f"{web.url}/viewer/atlas/allen_2017", timeout=30).text)

    before = max((r.id for r in outbox_rows(app)), default=0)
    private_redis.kill()
    try:
        started = time.monotonic()
        resp = pat.post(entry + "/start", data={"notes": "", "csrf_token": start_token}, allow_redirects=False,
                        timeout=60)  # fmt: skip
        start_seconds = time.monotonic() - started
        assert resp.status_code == 303, resp.text[:2000]
        assert waiting_message_in(pat.get(web.url + resp.headers["Location"], timeout=30).text)

        # SmartSPIM autostitch fires where imaging's validation runs (a worker): here, with the same settings
        worker_app = create_app(app.config["SETTINGS"].model_copy(update={"redis_url": common["redis_url"]}))
        app.extensions["celery"].set_default()
        with worker_app.app_context():
            stitch_runs = start_autostitch(SPIM, created_by="system")
        assert len(stitch_runs) == 1

        resp = ana.post(f"{web.url}/viewer/atlas/allen_2017/open", data={"csrf_token": atlas_token},
                        allow_redirects=False, timeout=60)  # fmt: skip
        assert resp.status_code == 303, resp.text[:2000]
        assert waiting_message_in(ana.get(web.url + resp.headers["Location"], timeout=30).text)

        waiting = outbox_rows(app, before)
        assert sorted(r.task_name for r in waiting) == [
            "lightserv.runs.launch_runs", "lightserv.runs.launch_runs", "lightserv.viewer.launch_session",
        ]  # fmt: skip
        assert {r.status for r in waiting} == {"pending"}
        with app.app_context():
            runs = get_schemas().jobs.PipelineRun.to_dicts(order_by=["run_id"])
        assert [r["status"] for r in runs] == ["queued", "queued"]
    finally:
        private_redis.start()

    # Redis is back: beat's relay hands the work over, the worker runs each piece once
    def state() -> str:
        return f"{[(r.task_name, r.status, r.last_error) for r in outbox_rows(app, before)]}\n{worker.log()[-3000:]}"

    wait_for(lambda: all(r.status in ("done", "failed") for r in outbox_rows(app, before)), 180,
             "the waiting work to run", state)  # fmt: skip
    time.sleep(6)  # three more relay rounds: nothing is handed over twice
    rows = outbox_rows(app, before)
    assert [(r.status, r.sends) for r in rows] == [("done", 1)] * 3, [(r.task_name, r.last_error) for r in rows]
    with app.app_context():
        jobs = get_schemas().jobs.PipelineRun.SlurmJob.to_dicts()
        submitted = db.session.scalars(db.select(EventLog).where(EventLog.action == "job.submitted")).all()
        sessions = db.session.scalars(db.select(ViewerSession)).all()
    assert jobs and all(j["slurm_job_id"] for j in jobs), jobs  # every stage of both runs reached the cluster
    per_stage = [(e.entity_key["run_id"], e.entity_key["step_index"]) for e in submitted]
    assert sorted(per_stage) == sorted((j["run_id"], j["step_index"]) for j in jobs)  # once each
    assert len({j["slurm_job_id"] for j in jobs}) == len(jobs)
    assert len(sessions) == 1 and sessions[0].status != "starting"  # its launch ran (no launcher here: failed)
    print(f"start answered in {start_seconds:.2f} s during the outage; {len(jobs)} stages submitted once each")


# --- the poller killed between failing a run and queueing its email ------------------------------------------


class GapLock(RowLock):
    """SELECT … FOR UPDATE where a row would go (there is none yet), from a connection of the test's own:
    whoever inserts that row waits."""

    def __init__(self, table: str, where: dict):
        self.conn = server_connection()
        self.conn.autocommit(False)
        with self.conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute(f"SELECT * FROM {table} WHERE {' AND '.join(f'`{k}` = %s' for k in where)} FOR UPDATE",
                        tuple(where.values()))  # fmt: skip


def test_a_poller_killed_after_failing_a_run_and_before_its_email_loses_no_email(
    app, smtp, finished_runs, worker_settings, start_worker, start_beat  # noqa: F811  (fixtures imported above)
):
    from lightserv.db import get_schemas

    run_ids = finished_runs
    first_failed = run_ids[0]  # every second run failed, the first among them
    settings = app.config["SETTINGS"]
    with app.app_context():
        runs_table = get_schemas().jobs.PipelineRun.full_table_name
    emails_table = f"`{settings.app_database}`.`email_outbox`"
    tasks_table = f"`{settings.app_database}`.`task_outbox`"
    fast = dict(worker_settings, task_relay_seconds=2)

    def status(run_id: int) -> str:
        return db_rows(f"SELECT status FROM {runs_table} WHERE run_id = %s", run_id)[0][0]

    lock = GapLock(emails_table, {"dedupe_key": f"run.failed:{first_failed}"})
    try:
        first = start_worker("poller", **fast)
        beat = start_beat(**fast)
        wait_for(lambda: status(first_failed) == "failed", 120, "the poll to fail the first run", first.log)
        time.sleep(3)  # the poller now waits to insert that run's email
        assert db_rows(f"SELECT COUNT(*) FROM {emails_table} WHERE template = 'run_failed'")[0][0] == 0
        assert db_rows(f"SELECT task_name, status FROM {tasks_table} WHERE dedupe_key = %s",
                       f"run.failed:{first_failed}") == [("lightserv.runs.email_run_failed", "pending")]  # fmt: skip
        kill_hard(first)  # the run is failed, its email not queued: before the outbox, this email was lost
        beat.stop()
    finally:
        lock.release()

    start_worker("poller2", **fast)
    start_beat(**fast)
    failed = [r for i, r in enumerate(run_ids) if i % 2 == 0]

    def failure_emails() -> list[str]:
        return [m["Subject"] for _, m in smtp.messages if "Processing FAILED" in m["Subject"]]

    wait_for(lambda: len(failure_emails()) >= len(failed), 150, "one failure email per failed run",
             lambda: str(db_rows(f"SELECT run_id, status FROM {runs_table}")))  # fmt: skip
    time.sleep(6)  # more relay and poll rounds: nothing is sent twice
    assert len(failure_emails()) == len(failed)
    keys = [k for (k,) in db_rows(f"SELECT dedupe_key FROM {emails_table} WHERE template = 'run_failed'")]
    assert sorted(keys) == sorted(f"run.failed:{r}" for r in failed)
    relayed = db_rows(f"SELECT dedupe_key, status, sends FROM {tasks_table} WHERE task_name = %s",
                      "lightserv.runs.email_run_failed")  # fmt: skip
    assert sorted(k for k, _, _ in relayed) == sorted(f"run.failed:{r}" for r in failed)
    assert all(sends <= 1 for _, _, sends in relayed)
