"""Fault: the cluster poller killed at each step of applying what the scheduler reports.

Three runs on the local executor have ended, none polled yet: A (LaVision: `downsize` completed, then a stage
failed), B (SmartSPIM destriping, succeeded: its hook starts the `corrected` layer's conversion run) and C (a
raw-data conversion that failed: its hooks fail the layer and email staff and the requester). A real worker is
started again and again, each time with LIGHTSERV_POLLER_CRASH_AT naming the step where it SIGKILLs itself and
its pool (lightserv.runs.faults), and a last time without. Each worker carries on from what the previous one
committed. At the end every run is in the right state, every trigger ran once, every email went once and the
conversion B started was created, launched and submitted once.
"""

from __future__ import annotations

import time

import pytest

from tests.factories import new_request, submit
from tests.slow.conftest import wait_for
from tests.slow.test_faults_worker import db_rows, worker_settings  # noqa: F401  (worker_settings: a fixture)

#: the steps, in the order the successive workers reach them: the second pass over run_failed and
#: failure_committed stops C, the first stopped A
CHAIN = ("queried", "job_written", "stage_triggered", "jobs_cancelled", "run_failed", "failure_committed",
         "run_succeeded", "run_settled", "run_failed", "failure_committed")  # fmt: skip
SCRIPT = "tests.runs.stage_script"


@pytest.fixture
def ended_runs(app, make_user, worker_settings):  # noqa: F811
    """Runs A, B and C (see the module) submitted to the local executor and ended; their ids."""
    from lib.cluster import LocalExecutor
    from lightserv.common.audit import utcnow
    from lightserv.db import get_schemas
    from lightserv.layers.services import LayerTarget
    from lightserv.runs import engine, submission
    from lightserv.runs.model import StageDef

    make_user("ana", email="ana@lab.example")
    make_user("pat", roles=["processing_staff"], email="pat@core.example")
    submit(app, new_request("ana", "brains", correspondence_email="ana@lab.example"))
    base = dict(username="ana", request_name="brains", sample_name="s1", imaging_request_number=1,
                image_resolution="1.3x")  # fmt: skip
    plain = {"run_id": None, "output_dir": None}
    executor = LocalExecutor(worker_settings["local_executor_dir"])
    with app.test_request_context():
        a = engine.create_run(
            "lavision_pipeline", base, [StageDef("downsize", SCRIPT), StageDef("work", SCRIPT)],
            {**plain, "fail_stage": "work", "downsized_voxel_um": [25, 25, 25]}, created_by="pat", output_dir="out/a",
        )  # fmt: skip
        b = engine.create_run("smartspim_destripe", {**base, "channel_name": "488"}, [StageDef("work", SCRIPT)],
                              plain, created_by="pat", output_dir="out/b")  # fmt: skip
        raw = LayerTarget("ana", "brains", "s1", 1, "1.3x", "488", "raw", lightsheet="left")
        c = engine.create_run("precomputed_raw", {**base, "channel_name": "488", "lightsheet": "left"},
                              [StageDef("work", SCRIPT)], {**plain, "fail_stage": "work"}, created_by="system",
                              output_dir=str(raw.folder()))  # fmt: skip
        get_schemas().lightsheet.Request.DataLayer.insert1(
            dict(**raw.key(), layer_name=raw.name(), layer_type="image", layer_path=str(raw.folder()),
                 source_path="in/c", status="converting", data_type="uint16", run_id=c, created_at=utcnow())
        )  # fmt: skip
        for run_id in (a, b, c):
            submission.submit_run(run_id, executor)
        job_ids = [j["slurm_job_id"] for r in (a, b, c) for j in engine.get_run(r)[1]]
    wait_for(lambda: all(s.is_terminal for s in executor.query(job_ids).values()), 120, "the jobs to end")
    yield a, b, c
    executor.close()


def test_a_poller_killed_at_each_step_of_applying_observations_loses_nothing_and_doubles_nothing(
    app,
    smtp,
    ended_runs,
    worker_settings,  # noqa: F811
    start_worker,
    start_beat,
    redis_url,  # noqa: F811
):
    import redis

    from lightserv.db import get_schemas
    from lightserv.runs.faults import ENV
    from lightserv.runs.poller import LOCK_KEY

    a, b, c = ended_runs
    settings = app.config["SETTINGS"]
    with app.app_context():
        runs_table = get_schemas().jobs.PipelineRun.full_table_name
        jobs_table = get_schemas().jobs.PipelineRun.SlurmJob.full_table_name
        layers_table = get_schemas().lightsheet.Request.DataLayer.full_table_name
    app_db = f"`{settings.app_database}`"
    fast = dict(worker_settings, task_relay_seconds=2, email_retry_seconds=5)
    start_beat(**fast)
    broker = redis.Redis.from_url(redis_url)

    for n, point in enumerate(CHAIN):
        worker = start_worker(f"poller{n}", **fast, **{ENV.lower(): point})
        wait_for(lambda w=worker: w.popen.poll() is not None, 120, f"the worker to kill itself at {point}", worker.log)
        assert f"killing this worker at {point}" in worker.log(), worker.log()[-3000:]
        # the dead poller's lock would lapse within LOCK_SECONDS (the mid-poll fault test waits for that);
        # here the next worker starts polling at once
        broker.delete(LOCK_KEY)

    def statuses() -> dict[int, str]:
        return dict(db_rows(f"SELECT run_id, status FROM {runs_table}"))

    # each settled by a worker killed just after (B's conversion run is left queued: the kill came before its launch)
    assert {r: statuses()[r] for r in (a, b, c)} == {a: "failed", b: "succeeded", c: "failed"}
    last = start_worker("poller-last", **fast)

    def conversions() -> list[tuple[int, str]]:
        return db_rows(f"SELECT run_id, status FROM {runs_table} WHERE kind = 'precomputed_corrected'")

    def settled() -> bool:
        done = all(s in ("succeeded", "failed") for s in statuses().values()) and len(conversions()) == 1
        waiting = db_rows(f"SELECT COUNT(*) FROM {app_db}.task_outbox WHERE status IN ('pending', 'sent')")[0][0]
        unsent = db_rows(f"SELECT COUNT(*) FROM {app_db}.email_outbox WHERE status NOT IN ('sent', 'suppressed')")
        return done and not waiting and not unsent[0][0]

    wait_for(
        settled, 240, "every run, its work and its emails to finish", lambda: f"{statuses()}\n{last.log()[-3000:]}"
    )
    time.sleep(6)  # more polls, relays and email retries: nothing happens twice
    [(conversion, _)] = conversions()
    assert statuses() == {a: "failed", b: "succeeded", c: "failed", conversion: statuses()[conversion]}

    def events(action: str) -> list[str]:
        return [k for (k,) in db_rows(f"SELECT entity_key FROM {app_db}.event_log WHERE action = %s", action)]

    assert len(events("run.finished")) == 4 and len(set(events("run.finished"))) == 4
    assert events("run.stage_triggered") == [f'{{"run_id": {a}, "step_index": 0}}']
    assert len(events("layer.failed")) == len(set(events("layer.failed")))  # C's layer (and B's conversion's)
    layer_c = db_rows(f"SELECT status FROM {layers_table} WHERE run_id = %s", c)
    assert layer_c == [("failed",)]
    launches = db_rows(f"SELECT status, sends FROM {app_db}.task_outbox WHERE dedupe_key = %s", f"launch:{conversion}")
    assert launches == [("done", 1)]
    submitted = db_rows(f"SELECT step_index, slurm_job_id FROM {jobs_table} WHERE run_id = %s", conversion)
    assert len(events("job.submitted")) == 4 + len(submitted), "each stage of each run submitted once"

    sent = sorted(k for (k,) in db_rows(f"SELECT dedupe_key FROM {app_db}.email_outbox WHERE status = 'sent'"))
    keys = [k for k in sent if not k.startswith("request.submitted:")]  # the set-up's own email
    stem = "ana/brains/s1/1"
    assert keys == sorted([f"run.failed:{a}", f"run.failed:{conversion}", f"imaging.raw_failed:{stem}:requester",
                           f"imaging.raw_failed:{stem}:staff"]), keys  # fmt: skip
    with smtp.lock:
        subjects = sorted(m["Subject"] for _, m in smtp.messages)
    assert len(subjects) == len(sent), "one message per email"
    expected = ["lightserv: Processing FAILED: ana/brains/s1 1.3x"] * 2 + [
        "lightserv: Problem preparing your raw-data view", "lightserv: Raw data conversion FAILED: ana/brains/s1",
    ]  # fmt: skip
    assert sorted(s for s in subjects if s in expected) == sorted(expected), subjects
    print(f"{len(CHAIN)} kills; runs {statuses()}; conversion {conversion} launched once; emails {expected}")
