"""Faults: a Celery worker killed (SIGKILL of the whole worker, as a crash or an OOM kill would) in the middle
of a raw-data validation, and the cluster poller killed in the middle of a poll (issue 11).

To stop the task at a known point without any fake, the test holds a row lock on the database row the task
writes next (a slow database, as a real one can be): the worker is then certainly mid-task when it is killed.
A new worker (and beat) must finish the work by itself: exactly once, nothing lost and nothing duplicated.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest

from lib.naming import rawdata_resolution_dir
from lib.synth import make_brain, write_lavision
from tests.conftest import server_connection
from tests.factories import channel, new_request, resolution, sample, submit
from tests.slow.conftest import kill_hard, wait_for

KEY = dict(username="ana", request_name="brains", clearing_batch_number=1, imaging_request_number=1,
           imaging_batch_number=1)  # fmt: skip
IMAGER = frozenset({"imaging_staff"})
PLANES = 5
SMALL = json.dumps({"*": {"cpus": 1, "mem_gb": 1, "time_limit": "00:10:00"}})


class RowLock:
    """SELECT … FOR UPDATE on one row from a connection of the test's own: whoever writes that row waits."""

    def __init__(self, table: str, where: dict):
        self.conn = server_connection()
        self.conn.autocommit(False)
        clause = " AND ".join(f"`{k}` = %s" for k in where)
        with self.conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute(f"SELECT * FROM {table} WHERE {clause} FOR UPDATE", tuple(where.values()))
            assert cur.fetchone() is not None, f"no row {where} in {table}"

    def release(self) -> None:
        if self.conn.open:
            self.conn.rollback()
            self.conn.close()


def db_rows(sql: str, *args) -> list[tuple]:
    with server_connection() as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


@pytest.fixture
def worker_settings(tmp_path):
    return dict(
        local_executor_dir=tmp_path / "executor",
        slurm_stage_resources=SMALL,
        slurm_poll_seconds=2,
        cluster_backend="local",
    )


# --- a worker killed during a raw-data validation ------------------------------------------------------------


@pytest.fixture
def submitted(app, make_user, settings):
    """ana/brains s1 at 1.3x (488, 647), clearing done, imaging started by ian, single-tile raw data on disk."""
    from lightserv.imaging.batch_services import start_batch
    from tests.imaging.conftest import finish_clearing

    make_user("ana", email="ana@lab.example")
    make_user("ian", roles=["imaging_staff"], email="ian@core.example")
    wishes = resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))
    submit(app, new_request("ana", "brains", [sample("s1", wishes)], correspondence_email="ana@lab.example"))
    finish_clearing(app)
    with app.test_request_context():
        start_batch(KEY, "ian", IMAGER)
    folder = settings.data_root / rawdata_resolution_dir("ana", "brains", "s1", 1, "1.3x") / "acq"
    shutil.rmtree(folder, ignore_errors=True)
    brain = make_brain((PLANES, 32, 40), seed=5, n_cells=3)
    write_lavision(folder, brain, tiling=(1, 1), channels=("488", "647"), n_planes=PLANES, z_step_um=10)
    yield
    shutil.rmtree(settings.data_root / "ana", ignore_errors=True)


@pytest.mark.timeout(1200)
def test_a_worker_killed_mid_validation_is_replaced_and_the_sample_completes_exactly_once(
    app, smtp, submitted, worker_settings, start_worker, start_beat, redis_url
):
    import redis

    from lightserv.db import get_schemas
    from lightserv.imaging import sample_services as svc
    from lightserv.imaging import tasks

    values = dict(image_orientation="horizontal", left_lightsheet_used="y", right_lightsheet_used="y",
                  tiling_scheme="1x1", tiling_overlap="0", z_step="10", number_of_z_planes=str(PLANES),
                  rawdata_subfolder="acq")  # fmt: skip
    rows = {("1.3x", w, False): values for w in ("488", "647")}
    member = {k: v for k, v in KEY.items() if k in tasks.IMAGING_KEY} | {"sample_name": "s1"}
    with app.app_context():
        table = get_schemas().lightsheet.Request.ImagingRequest.full_table_name
    r = redis.Redis.from_url(redis_url, decode_responses=True)

    # what the submit button does, in one request: store the rows, mark the validation running with its task,
    # hand the task to the broker (no worker yet: it waits there)
    with app.test_request_context():
        member = svc.submit_sample(KEY, "s1", rows, "", "ian", IMAGER)
        tasks.queue_validation(member, "ian")
    lock = RowLock(table, member)  # the validation's next write of this row will wait here
    try:
        first = start_worker("first", **worker_settings)
        wait_for(lambda: r.exists(tasks.lock_key(member)), 90, "the worker to start the validation", first.log)
        wait_for(lambda: "validate_sample" in first.log(), 10, "the task in the worker log", first.log)
        kill_hard(first)
    finally:
        lock.release()

    def validation() -> tuple:
        sql = f"SELECT validation_status, imaging_progress FROM {table} WHERE username='ana' AND sample_name='s1'"
        return db_rows(sql)[0]

    assert validation() == ("running", "pending"), "the killed validation must not have written its result"

    # a new worker and beat: the lost validation is noticed (its heartbeat expires) and re-queued by itself
    start_worker("second", **worker_settings)
    start_beat(**worker_settings)
    # the heartbeat lapses up to RUNNING_TTL (120 s) after the kill, beat looks every 60 s, then the copy runs:
    # about 200 s on a quiet machine; the bound leaves room for a machine busy with the other tiers
    wait_for(lambda: validation() == ("passed", "complete"), 540, "the validation to be re-queued and pass",
             lambda: str(validation()))  # fmt: skip

    # its raw conversions ran through the same worker and the poller; the requester is told once
    subject = "lightserv: Raw data ready to view: brains / s1"
    wait_for(lambda: any(m["Subject"] == subject for _, m in smtp.messages), 240, "the raw-data-ready email")
    with app.app_context():
        from lightserv.extensions import db
        from lightserv.models import EventLog

        ls, jobs = get_schemas().lightsheet, get_schemas().jobs
        layers = (ls.Request.DataLayer & {"sample_name": "s1", "product": "raw"}).to_dicts()
        runs = (jobs.PipelineRun & {"sample_name": "s1", "kind": "precomputed_raw"}).to_dicts()
        events = [e.action for e in db.session.scalars(db.select(EventLog).where(EventLog.action.like("imaging.%")))]
        # a late copy of the lost task (Redis redelivers it after its visibility timeout) does nothing
        assert tasks.run_validation(member, "ian") == -1
    assert sorted(x["layer_name"] for x in layers) == [
        "raw_ch488_left", "raw_ch488_right", "raw_ch647_left", "raw_ch647_right",
    ]  # fmt: skip
    assert {x["status"] for x in layers} == {"ready"}
    assert len(runs) == 4 and {x["status"] for x in runs} == {"succeeded"}
    assert events.count("imaging.sample_completed") == 1 and events.count("imaging.validation_requeued") == 1
    assert [m["Subject"] for _, m in smtp.messages].count(subject) == 1


# --- the poller killed in the middle of a poll ---------------------------------------------------------------

N_RUNS = 10
LOCKED = 5  # the run whose job row the test holds locked


@pytest.fixture
def finished_runs(app, make_user, worker_settings):
    """N_RUNS one-stage runs on the local executor whose jobs have all ended (every second one failed), none
    polled yet."""
    from lib.cluster import LocalExecutor
    from lightserv.runs import engine, submission
    from lightserv.runs.model import StageDef

    make_user("ana")
    make_user("pat", roles=["processing_staff"], email="pat@core.example")
    submit(app, new_request("ana", "brains"))
    target = dict(username="ana", request_name="brains", sample_name="s1", imaging_request_number=1,
                  image_resolution="1.3x")  # fmt: skip
    executor = LocalExecutor(worker_settings["local_executor_dir"])
    run_ids = []
    with app.test_request_context():
        for i in range(N_RUNS):
            params = {"run_id": None, "output_dir": None, **({"fail_stage": "work"} if i % 2 == 0 else {})}
            run_id = engine.create_run("lavision_pipeline", target, [StageDef("work", "tests.runs.stage_script")],
                                       params, created_by="pat", output_dir=f"out/run{i}")  # fmt: skip
            submission.submit_run(run_id, executor)
            run_ids.append(run_id)
        job_ids = [engine.get_run(r)[1][0]["slurm_job_id"] for r in run_ids]
    wait_for(lambda: all(s.is_terminal for s in executor.query(job_ids).values()), 120, "the jobs to end")
    yield run_ids
    executor.close()


def test_a_poller_killed_mid_poll_leaves_no_run_behind_and_no_transition_or_email_twice(
    app, smtp, finished_runs, worker_settings, start_worker, start_beat
):
    from lightserv.db import get_schemas

    run_ids = finished_runs
    with app.app_context():
        jobs_table = get_schemas().jobs.PipelineRun.SlurmJob.full_table_name
        runs_table = get_schemas().jobs.PipelineRun.full_table_name
        history_table = get_schemas().jobs.SlurmJobState.full_table_name
    ids = ", ".join(map(str, run_ids))

    def changed() -> int:
        return db_rows(f"SELECT COUNT(*) FROM {jobs_table} WHERE run_id IN ({ids}) AND state <> 'SUBMITTED'")[0][0]

    lock = RowLock(jobs_table, {"run_id": run_ids[LOCKED], "step_index": 0})
    try:
        first = start_worker("poller", **worker_settings)
        beat = start_beat(**worker_settings)
        wait_for(lambda: changed() >= 1, 120, "the poll to write its first job", first.log)
        time.sleep(3)  # the poll now waits on the locked row: every job before it is written
        assert 0 < changed() < N_RUNS, "the poll must be stopped half-way"
        kill_hard(first)  # mid-poll: the runs of the jobs written so far were not settled yet
        beat.stop()
    finally:
        lock.release()
    unsettled = db_rows(f"SELECT COUNT(*) FROM {runs_table} WHERE run_id IN ({ids}) AND status = 'queued'")[0][0]
    assert unsettled == N_RUNS, "no run was settled before the kill"

    start_worker("poller2", **worker_settings)
    start_beat(**worker_settings)

    def statuses() -> dict[int, str]:
        return dict(db_rows(f"SELECT run_id, status FROM {runs_table} WHERE run_id IN ({ids})"))

    # the next polls (after the killed poller's lock lapsed) bring every run up to date
    wait_for(lambda: set(statuses().values()) <= {"succeeded", "failed"}, 150, "every run to settle",
             lambda: str(statuses()))  # fmt: skip
    expected = {r: ("failed" if i % 2 == 0 else "succeeded") for i, r in enumerate(run_ids)}
    assert statuses() == expected
    failed = [r for r, s in expected.items() if s == "failed"]
    wait_for(lambda: sum(1 for _, m in smtp.messages if "Processing FAILED" in m["Subject"]) >= len(failed), 60,
             "one failure email per failed run")  # fmt: skip

    # each job changed state once (SUBMITTED -> COMPLETED/FAILED): one history row and one event per change
    history = db_rows(f"SELECT run_id, state FROM {history_table} WHERE run_id IN ({ids}) ORDER BY observed_at")
    ended = [(r, "FAILED" if s == "failed" else "COMPLETED") for r, s in expected.items()]
    assert sorted(history) == sorted([(r, "SUBMITTED") for r in run_ids] + ended)
    with app.app_context():
        from lightserv.extensions import db
        from lightserv.models import EmailOutbox, EventLog

        changes = db.session.scalars(db.select(EventLog).where(EventLog.action == "job.state_changed")).all()
        finished = db.session.scalars(db.select(EventLog).where(EventLog.action == "run.finished")).all()
        mails = db.session.scalars(db.select(EmailOutbox).where(EmailOutbox.template == "run_failed")).all()
    assert sorted(e.entity_key["run_id"] for e in changes) == sorted(run_ids)
    assert sorted(e.entity_key["run_id"] for e in finished) == sorted(run_ids)
    assert sorted(m.dedupe_key for m in mails) == sorted(f"run.failed:{r}" for r in failed)
    assert sum(1 for _, m in smtp.messages if "Processing FAILED" in m["Subject"]) == len(failed)
