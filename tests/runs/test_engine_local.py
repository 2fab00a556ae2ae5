"""The engine end to end on the real local executor (CLUSTER_BACKEND=local): the same stage commands run
as subprocesses with dependencies, arrays, logs and Slurm state names."""

from __future__ import annotations

import time

import pytest

from lib.cluster import LocalExecutor
from lightserv.db import get_schemas
from lightserv.runs import engine
from lightserv.runs.model import StageDef
from lightserv.runs.poller import poll
from tests.factories import new_request, submit

STAGES = [
    StageDef("setup", "tests.runs.stage_script"),
    StageDef("work", "tests.runs.stage_script", array_size=3),
    StageDef("finish", "tests.runs.stage_script"),
]


@pytest.fixture
def executor(tmp_path):
    backend = LocalExecutor(tmp_path / "executor")
    yield backend
    backend.close()


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
        engine.submit_run(run_id, executor)
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
        engine.submit_run(run_id, executor)
    run = run_until_done(app, run_id, executor)
    deadline = time.monotonic() + 30
    with app.app_context():
        while True:  # the cancelled dependent shows up at the next poll
            jobs = (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run_id}).to_dicts(order_by=["step_index"])
            if jobs[2]["state"] != "PENDING" or time.monotonic() > deadline:
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
