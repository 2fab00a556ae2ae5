"""Fault: the Celery worker process submitting a run is killed (SIGKILL) after the scheduler accepted a stage
and before the job id was committed (the "nothing lost" issue).

The test holds a row lock on the job row of stage 1 (as in test_faults_worker.py): the worker submits stage 0,
records it, submits stage 1 and then waits on that row. Once the job of stage 1 is on the cluster and the
worker's UPDATE is waiting, the worker's pool process is killed. Celery (acks_late, reject on worker lost)
queues the task again; the retry finds stage 1 on the cluster by its job name, records it, submits stage 2
after it, and the poller (beat) brings the run to success. On the cluster: exactly one job per stage.
"""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from lib.cluster import LocalExecutor, LocalTransport, SlurmBackend
from tests.runs.test_engine_backends import STAGES, stage_names, target  # noqa: F401  (target: fixture)
from tests.slow.conftest import wait_for
from tests.slow.test_faults_worker import SMALL, RowLock, db_rows
from tests.support.cluster_fixtures import jobs_named
from tests.support.slurm import Unavailable


@pytest.fixture(params=["local", "slurm"])
def cluster(request, tmp_path, settings, slurm_cluster):
    """(worker settings, a back end of the test's own on the same cluster) for the local executor and Slurm."""
    common = dict(slurm_stage_resources=SMALL, slurm_poll_seconds=2)
    if request.param == "local":
        state = tmp_path / "executor"
        return dict(common, cluster_backend="local", local_executor_dir=state), LocalExecutor(state)
    if isinstance(slurm_cluster, Unavailable):
        pytest.skip(str(slurm_cluster).splitlines()[0])
    os.chmod(settings.data_root, 0o755)  # Slurm runs the jobs as the submitting user
    # SLURM_CONF reaches the worker's environment (settings ignore it) and so its sbatch, squeue and sacct
    worker = dict(common, cluster_backend="slurm", slurm_transport="local", slurm_conf=slurm_cluster.conf)
    return worker, SlurmBackend(LocalTransport(env=slurm_cluster.env))


def pool_process(worker) -> psutil.Process:
    """The prefork child running the worker's tasks (concurrency 1: the only child of the worker)."""
    children = psutil.Process(worker.popen.pid).children()
    assert len(children) == 1, f"expected one pool process, found {children}"
    return children[0]


def test_a_worker_killed_between_sbatch_and_the_commit_leaves_one_job_per_stage(
    app,
    target,  # noqa: F811  (the fixture imported above)
    cluster,
    start_worker,
    start_beat,
):
    from lightserv.db import get_schemas
    from lightserv.extensions import db
    from lightserv.models import EventLog
    from lightserv.runs import engine
    from lightserv.runs.tasks import launch_runs

    worker_settings, backend = cluster
    with app.test_request_context():
        run_id = engine.create_run("lavision_pipeline", target, STAGES, {"run_id": None, "output_dir": None},
                                   created_by="pat", output_dir="out/killed")  # fmt: skip
        jobs_table = get_schemas().jobs.PipelineRun.SlurmJob.full_table_name
        runs_table = get_schemas().jobs.PipelineRun.full_table_name
    names = stage_names(app, run_id)

    def waiting_on_the_lock() -> bool:
        sql = "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT' AND trx_query LIKE %s"
        return db_rows(sql, f"%{jobs_table}%")[0][0] > 0

    lock = RowLock(jobs_table, {"run_id": run_id, "step_index": 1})
    try:
        worker = start_worker("submitter", **worker_settings)
        with app.app_context():
            launch_runs.delay([run_id])
        orphan = wait_for(lambda: jobs_named(backend, names[1]), 120, "stage 1 on the cluster", worker.log)
        wait_for(waiting_on_the_lock, 30, "the worker to wait on the job row of stage 1", worker.log)
        killed = pool_process(worker)
        killed.send_signal(signal.SIGKILL)  # after sbatch answered, before the id was committed
        killed.wait(timeout=30)
    finally:
        lock.release()
    stored = db_rows(f"SELECT slurm_job_id FROM {jobs_table} WHERE run_id = %s ORDER BY step_index", run_id)
    assert [row[0] for row in stored][1:] == [None, None], "the killed worker must not have stored stage 1"

    # Celery queues the task again; the poller (beat) follows the run to its end
    start_beat(**worker_settings)

    def status() -> str:
        return db_rows(f"SELECT status FROM {runs_table} WHERE run_id = %s", run_id)[0][0]

    wait_for(lambda: status() in ("succeeded", "failed", "cancelled"), 240, "the run to finish",
             lambda: f"{status()}\n{worker.log()[-3000:]}")  # fmt: skip
    assert status() == "succeeded"
    assert "SIGKILL" in worker.log()  # the pool process died mid-task and the worker said so

    ids = [row[0] for row in db_rows(f"SELECT slurm_job_id FROM {jobs_table} WHERE run_id = %s ORDER BY step_index",
                                     run_id)]  # fmt: skip
    on_cluster = [jobs_named(backend, name) for name in names]
    assert on_cluster == [{job_id} for job_id in ids]  # exactly one job per stage, the one recorded
    assert {ids[1]} == orphan  # stage 1 is the job the killed worker submitted
    with app.app_context():
        events = db.session.scalars(db.select(EventLog).where(EventLog.action == "job.submitted")).all()
        history = (get_schemas().jobs.SlurmJobState & {"run_id": run_id, "state": "SUBMITTED"}).to_dicts()
    assert sorted((e.entity_key["step_index"], e.after["adopted"]) for e in events) == [
        (0, False), (1, True), (2, False)
    ]  # fmt: skip
    assert sorted(h["step_index"] for h in history) == [0, 1, 2]
