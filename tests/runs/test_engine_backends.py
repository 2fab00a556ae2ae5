"""The engine end to end on every real back end: the local executor (CLUSTER_BACKEND=local), Slurm on this
host and Slurm over SSH run the same stage commands; the run, its jobs, the history, the failure reason
and the one email come out the same."""

from __future__ import annotations

import time

import pytest

from lightserv.db import get_schemas
from lightserv.runs import engine, submission
from lightserv.runs.model import Resources, StageDef
from lightserv.runs.poller import poll
from tests.factories import new_request, submit

STAGES = [
    StageDef("setup", "tests.runs.stage_script"),
    StageDef("work", "tests.runs.stage_script", array_size=3),
    StageDef("finish", "tests.runs.stage_script"),
]


@pytest.fixture
def executor(cluster, settings):
    import os

    os.chmod(settings.data_root, 0o755)  # Slurm runs the jobs as the submitting user (root here)
    return cluster.impl


@pytest.fixture
def target(app, make_user):
    make_user("ana")
    make_user("pat", roles=["processing_staff"], email="pat@core.example")
    submit(app, new_request("ana", "brains"))
    return {
        "username": "ana",
        "request_name": "brains",
        "sample_name": "s1",
        "imaging_request_number": 1,
        "image_resolution": "1.3x",
    }


def run_until_done(app, run_id, backend, timeout=90.0) -> dict:
    deadline = time.monotonic() + timeout
    with app.app_context():
        while time.monotonic() < deadline:
            poll(backend)
            run = engine.get_run(run_id)[0]
            if run["status"] in ("succeeded", "failed", "cancelled"):
                return run
            time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")


def test_a_three_stage_run_with_an_array_succeeds(app, target, executor, settings):
    with app.test_request_context():
        run_id = engine.create_run(
            "lavision_pipeline",
            target,
            STAGES,
            {"run_id": None, "output_dir": None},
            created_by="pat",
            output_dir="out/ok",
        )
        submission.submit_run(run_id, executor)
    run = run_until_done(app, run_id, executor)
    assert run["status"] == "succeeded"
    out = settings.data_root / "out" / "ok"
    assert sorted(p.name for p in out.iterdir()) == [
        "finish-0.done",
        "setup-0.done",
        "work-0.done",
        "work-1.done",
        "work-2.done",
    ]
    with app.app_context():
        jobs = (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run_id}).to_dicts(order_by=["step_index"])
        history = get_schemas().jobs.SlurmJobState & {"run_id": run_id, "step_index": 1}
    assert [j["state"] for j in jobs] == ["COMPLETED"] * 3 and jobs[1]["array_done"] == 3
    assert len(history) >= 2  # submitted ... completed, each change once
    log = settings.data_root / jobs[1]["stdout_path"].replace("%A", jobs[1]["slurm_job_id"]).replace("%a", "2")
    assert "stage work task 2" in log.read_text()


def test_a_failing_stage_fails_the_run_cancels_the_dependents_and_emails_once(app, target, executor, client, login_as):
    from lightserv.models import EmailOutbox

    with app.test_request_context():
        run_id = engine.create_run(
            "lavision_pipeline",
            target,
            STAGES,
            {"fail_stage": "work", "run_id": None, "output_dir": None},
            created_by="pat",
            output_dir="out/bad",
        )
        submission.submit_run(run_id, executor)
    run = run_until_done(app, run_id, executor)
    deadline = time.monotonic() + 30
    with app.app_context():
        while True:  # the cancelled dependent shows up at a later poll (still SUBMITTED if no poll saw it pending)
            jobs = (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run_id}).to_dicts(order_by=["step_index"])
            if jobs[2]["state"] not in ("SUBMITTED", "PENDING") or time.monotonic() > deadline:
                break
            poll(executor)
            time.sleep(0.3)
        emails = EmailOutbox.query.filter_by(template="run_failed").all()
    assert run["status"] == "failed" and run["failure_reason"] == "Work failed (exit code 3:0)"
    assert [j["state"] for j in jobs] == ["COMPLETED", "FAILED", "CANCELLED"]
    assert len(emails) == 1 and "simulated failure" in emails[0].body_text
    login_as("processing", "pat2")
    page = client.get(f"/processing/runs/{run_id}").get_data(as_text=True)
    assert "Failed (exit code 3:0)" in page and "simulated failure" in page and "Re-run from stage" in page


def test_a_stage_over_its_memory_ends_the_run_out_of_memory(app, target, executor, settings):
    hog = [StageDef("hog", "tests.runs.stage_script", resources=Resources(cpus=1, mem_gb=1, time_limit="00:05:00"))]
    with app.test_request_context():
        run_id = engine.create_run(
            "lavision_pipeline",
            target,
            hog,
            {"run_id": None, "output_dir": None, "allocate_mb": 1536, "sleep": 20},
            created_by="pat",
            output_dir="out/hog",
        )
        submission.submit_run(run_id, executor)
    run = run_until_done(app, run_id, executor)
    with app.app_context():
        job = (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run_id}).to_dicts()[0]
    assert run["status"] == "failed" and run["failure_reason"] == "Hog ran out of memory"
    assert job["state"] == "OUT_OF_MEMORY"


def test_a_stage_over_its_time_limit_ends_the_run_out_of_time(app, target, backends):
    """On the local executor only: Slurm's time limit is exercised on every back end by
    tests/lib/cluster/test_time_limits.py (60-90 s each); the engine's handling of TIMEOUT is one code path."""
    executor = backends["local"].impl
    slow = [StageDef("slow", "tests.runs.stage_script", resources=Resources(cpus=1, mem_gb=1, time_limit="00:01:00"))]
    with app.test_request_context():
        run_id = engine.create_run(
            "lavision_pipeline",
            target,
            slow,
            {"run_id": None, "output_dir": None, "sleep": 120},
            created_by="pat",
            output_dir="out/slow",
        )
        submission.submit_run(run_id, executor)
    run = run_until_done(app, run_id, executor, timeout=150)
    assert run["status"] == "failed" and run["failure_reason"] == "Slow ran out of time"


# --- idempotent submission: a submitter that dies between the scheduler's answer and the commit ---------------


class Died(BaseException):
    """The submitting process ending abruptly (SIGKILL): no `except Exception` sees it, nothing after it runs."""


class DiesAfterSubmitting:
    """The real back end; the submitter "dies" right after the scheduler accepted its `after`-th stage, before
    the engine stored the id (the job is on the cluster, the database does not know it)."""

    def __init__(self, impl, after: int):
        self.impl, self.after, self.submitted = impl, after, 0

    def submit(self, spec):
        job_id = self.impl.submit(spec)
        self.submitted += 1
        if self.submitted == self.after:
            raise Died(job_id)
        return job_id

    def __getattr__(self, name):
        return getattr(self.impl, name)


def stage_names(app, run_id) -> list[str]:
    from lightserv.runs.backend import job_name

    with app.app_context():
        run, jobs = engine.get_run(run_id)
        return [job_name(run, j, app.config["SETTINGS"]) for j in jobs]


def logged_job_ids(settings, run_id, app) -> dict[int, set[str]]:
    """Stage index -> the job ids that wrote a stdout log (a stage run twice leaves two)."""
    with app.app_context():
        run = engine.get_run(run_id)[0]
    logs = (settings.data_root / run["run_dir"]).glob("stage_*_*_*.out")
    found: dict[int, set[str]] = {}
    for path in logs:
        _, index, job_id, _task = path.stem.split("_")
        found.setdefault(int(index), set()).add(job_id)
    return found


def test_a_submitter_dying_after_sbatch_is_resumed_with_one_job_per_stage(app, target, cluster, executor, settings):
    with app.test_request_context():
        run_id = engine.create_run("lavision_pipeline", target, STAGES, {"run_id": None, "output_dir": None},
                                   created_by="pat", output_dir="out/resumed")  # fmt: skip
    with app.app_context(), pytest.raises(Died) as died:
        submission.submit_run(run_id, DiesAfterSubmitting(executor, after=2))
    orphan = died.value.args[0]
    names = stage_names(app, run_id)
    with app.app_context():
        stored = [j["slurm_job_id"] for j in engine.get_run(run_id)[1]]
    assert stored[0] and stored[1:] == [None, None]
    assert cluster.jobs_named(names[1]) == {orphan}  # on the cluster, unknown to the database

    with app.app_context():
        ids = submission.submit_run(run_id, executor)  # the retry of the task

    assert ids[1] == orphan
    assert [cluster.jobs_named(name) for name in names] == [{job_id} for job_id in ids]  # one job per stage
    run = run_until_done(app, run_id, executor)
    assert run["status"] == "succeeded"  # the adopted stage and the one submitted after it, wired to its id
    assert logged_job_ids(settings, run_id, app) == {0: {ids[0]}, 1: {ids[1]}, 2: {ids[2]}}
    with app.app_context():
        from lightserv.extensions import db
        from lightserv.models import EventLog

        events = db.session.scalars(db.select(EventLog).where(EventLog.action == "job.submitted")).all()
    assert sorted((e.entity_key["step_index"], e.after["adopted"]) for e in events) == [
        (0, False), (1, True), (2, False)
    ]  # fmt: skip


def test_submitting_again_after_the_stored_ids_were_lost_adopts_every_stage(app, target, cluster, executor):
    """As if the transaction that stored the ids had been rolled back: the next submission finds every stage."""
    with app.test_request_context():
        run_id = engine.create_run("lavision_pipeline", target, STAGES, {"run_id": None, "output_dir": None},
                                   created_by="pat", output_dir="out/again")  # fmt: skip
    with app.app_context():
        first = submission.submit_run(run_id, executor)
        jobs_schema = get_schemas().jobs
        for step in range(len(STAGES)):
            jobs_schema.PipelineRun.SlurmJob.update1(
                {"run_id": run_id, "step_index": step, "slurm_job_id": None, "state": "NOT_SUBMITTED",
                 "raw_state": "", "submitted_at": None, "state_changed_at": None, "sbatch_args": ""}
            )  # fmt: skip
        (jobs_schema.SlurmJobState & {"run_id": run_id}).delete_quick()
        again = submission.submit_run(run_id, executor)
        stored = [j["slurm_job_id"] for j in engine.get_run(run_id)[1]]
    try:
        assert again == first == stored
        assert [cluster.jobs_named(name) for name in stage_names(app, run_id)] == [{job_id} for job_id in first]
    finally:
        executor.cancel(first)
