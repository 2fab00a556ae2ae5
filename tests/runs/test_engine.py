"""The engine's database logic: runs, jobs, history, derived status, failure handling, triggers, re-runs."""

from __future__ import annotations

import time

import pytest

from lib.cluster.types import StageSpec
from lightserv.db import get_schemas
from lightserv.runs import engine, submission
from lightserv.runs.model import Resources, StageDef
from tests.factories import new_request, submit
from tests.runs.fake_backend import ScriptedBackend

STAGES = [
    StageDef("setup", "lib.cluster.types"),
    StageDef(
        "convert", "lib.cluster.types", array_size=3, resources=Resources(cpus=2, mem_gb=8, time_limit="01:00:00")
    ),
    StageDef("finish", "lib.cluster.types"),
]


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
        "channel_name": "488",
    }


def make_run(app, target) -> int:
    with app.test_request_context():
        return engine.create_run(
            "precomputed_downsized",
            target,
            STAGES,
            {"input": "x", "run_id": None},
            created_by="system",
            output_dir="ana/brains/s1/imaging_request_1/viz/raw",
        )


def jobs_of(run_id):
    return (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run_id}).to_dicts(order_by=["step_index"])


def test_a_run_records_its_stages_provenance_and_parameter_document(app, target, settings):
    run_id = make_run(app, target)
    with app.app_context():
        run, jobs = engine.get_run(run_id)
    assert run["status"] == "queued" and run["params"]["run_id"] == run_id and run["params"]["input"] == "x"
    assert (settings.data_root / run["run_dir"] / "params.json").exists()
    assert [j["step_name"] for j in jobs] == ["setup", "convert", "finish"]
    assert [j["depends_on_steps"] for j in jobs] == [[], [0], [1]]
    assert jobs[1]["is_array"] == 1 and jobs[1]["array_size"] == 3 and jobs[1]["cpus"] == 2
    assert all(len(j["script_sha256"]) == 64 and j["state"] == "NOT_SUBMITTED" for j in jobs)
    assert run["code_commit"] is None or len(run["code_commit"]) == 40


def test_submission_chains_dependencies_and_stores_string_ids(app, target):
    run_id = make_run(app, target)
    backend = ScriptedBackend()
    with app.app_context():
        ids = submission.submit_run(run_id, backend)
        jobs = jobs_of(run_id)
    assert ids == ["1000", "1001", "1002"]
    assert backend.specs["1001"].dependencies == ("1000",) and backend.specs["1002"].dependencies == ("1001",)
    assert backend.specs["1001"].array.size == 3
    assert [j["state"] for j in jobs] == ["SUBMITTED"] * 3
    assert "--kill-on-invalid-dep=yes" in jobs[1]["sbatch_args"]


def test_submitting_again_never_submits_a_stage_twice(app, target):
    run_id = make_run(app, target)
    backend = ScriptedBackend(fail_submit_at=None)
    with app.app_context():
        submission.submit_run(run_id, backend)
        submission.submit_run(run_id, backend)
    assert backend.submit_calls == 3


def test_only_changes_are_written_and_success_settles_the_run(app, target):
    run_id = make_run(app, target)
    backend = ScriptedBackend()
    from lightserv.runs.poller import poll

    with app.app_context():
        submission.submit_run(run_id, backend)
        poll(backend)
        history = len(get_schemas().jobs.SlurmJobState & {"run_id": run_id})
        poll(backend)  # nothing changed: nothing written
        assert len(get_schemas().jobs.SlurmJobState & {"run_id": run_id}) == history
        backend.set("1000", "COMPLETED")
        backend.set("1001", "RUNNING", array_done=1)
        poll(backend)
        assert engine.get_run(run_id)[0]["status"] == "running"
        assert jobs_of(run_id)[1]["array_done"] == 1
        for j in ("1001", "1002"):
            backend.set(j, "COMPLETED", array_done=3 if j == "1001" else None)
        result = poll(backend)
        run = engine.get_run(run_id)[0]
    assert result.scheduler_calls == 1
    assert run["status"] == "succeeded" and run["finished_at"] is not None


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("FAILED", "Convert failed (exit code 1:0)"),
        ("TIMEOUT", "Convert ran out of time"),
        ("OUT_OF_MEMORY", "Convert ran out of memory"),
        ("NODE_FAIL", "Convert stopped by a compute node failure"),
        ("PREEMPTED", "Convert was stopped by the scheduler"),
        ("CANCELLED", "Convert was cancelled on the cluster"),
    ],
)
def test_every_failure_state_fails_the_run_cancels_the_rest_and_emails_once(app, target, state, reason):
    from lightserv.models import EmailOutbox
    from lightserv.runs.poller import poll

    run_id = make_run(app, target)
    backend = ScriptedBackend()
    with app.app_context():
        submission.submit_run(run_id, backend)
        backend.set("1000", "COMPLETED")
        backend.set("1001", state, exit_code="1:0")
        poll(backend)
        poll(backend)
        run = engine.get_run(run_id)[0]
        emails = EmailOutbox.query.filter(EmailOutbox.template == "run_failed").all()
    assert run["status"] == "failed" and run["failure_reason"] == reason
    assert backend.cancelled == ["1002"]
    assert len(emails) == 1 and emails[0].to_addrs == ["pat@core.example"]
    assert "Processing FAILED: ana/brains/s1 1.3x" in emails[0].subject


def test_a_job_missing_from_accounting_becomes_lost(app, target, monkeypatch, settings):
    from lightserv.runs.poller import poll

    run_id = make_run(app, target)
    backend = ScriptedBackend()
    with app.app_context():
        submission.submit_run(run_id, backend)
        backend.forget("1000")
        poll(backend)
        assert jobs_of(run_id)[0]["missing_polls"] == 1 and jobs_of(run_id)[0]["state"] == "SUBMITTED"
        monkeypatch.setattr(settings, "slurm_lost_job_minutes", 0)
        poll(backend)
        job = jobs_of(run_id)[0]
        run = engine.get_run(run_id)[0]
    assert job["state"] == "UNKNOWN" and run["status"] == "failed" and "lost" in run["failure_reason"]


def test_a_submission_failure_cancels_what_was_submitted_and_fails_the_run(app, target):
    run_id = make_run(app, target)
    backend = ScriptedBackend(fail_submit_at=2)
    with app.app_context(), pytest.raises(engine.RunError, match="Could not submit"):
        submission.submit_run(run_id, backend)
    with app.app_context():
        run = engine.get_run(run_id)[0]
        from lightserv.models import EmailOutbox

        email = EmailOutbox.query.filter_by(template="run_failed").one()
    assert run["status"] == "failed" and run["failure_reason"].startswith("Could not submit: could not connect")
    assert backend.cancelled == ["1000"]
    assert email.subject == "lightserv: Could not submit processing jobs"


def test_stage_triggers_fire_once(app, target):
    from lightserv.runs.poller import poll

    calls = []

    def remember(run, job):
        calls.append((run["run_id"], job["step_name"]))

    app.extensions["run_hooks"].on_stage_success("precomputed_downsized", "setup", remember)

    run_id = make_run(app, target)
    backend = ScriptedBackend()
    with app.app_context():
        submission.submit_run(run_id, backend)
        backend.set("1000", "COMPLETED")
        poll(backend)
        backend.set("1001", "RUNNING")
        poll(backend)
        poll(backend)
    assert calls == [(run_id, "setup")]


def test_cancel_and_rerun_from_a_stage(app, target):
    from lightserv.runs.failures import cancel_run
    from lightserv.runs.poller import poll

    run_id = make_run(app, target)
    backend = ScriptedBackend()
    with app.app_context():
        submission.submit_run(run_id, backend)
        backend.set("1000", "COMPLETED")
        poll(backend)
        cancel_run(run_id, "pat", backend=backend)
        assert engine.get_run(run_id)[0]["status"] == "cancelled"
        assert sorted(backend.cancelled) == ["1001", "1002"]
        with pytest.raises(engine.RunError, match="up to the first stage"):
            engine.rerun_from_stage(run_id, 2, "pat")
        new_id = engine.rerun_from_stage(run_id, 1, "pat")
        new_run, new_jobs = engine.get_run(new_id)
        assert engine.get_run(run_id)[0]["superseded_by_run_id"] == new_id
    assert new_run["attempt"] == 2 and new_run["start_stage"] == "convert"
    assert [j["step_name"] for j in new_jobs] == ["convert", "finish"]
    assert [j["depends_on_steps"] for j in new_jobs] == [[], [0]]


def test_two_pollers_never_overlap(app, target):
    from lightserv.common.redis import get_redis
    from lightserv.runs.poller import LOCK_KEY, poll

    run_id = make_run(app, target)
    backend = ScriptedBackend()
    with app.app_context():
        submission.submit_run(run_id, backend)
        get_redis().set(LOCK_KEY, "another-poller", ex=60)
        assert poll(backend).skipped and backend.query_calls == 0
        assert get_redis().get(LOCK_KEY) == "another-poller"  # the other poller's lock is left alone
        get_redis().delete(LOCK_KEY)
        assert not poll(backend).skipped and backend.query_calls == 1


def test_a_restarted_submission_adopts_nothing_and_resubmits_nothing(app, target):
    """A worker that died after submitting stage 1 is retried: stages with a stored id are not submitted again."""
    run_id = make_run(app, target)
    backend = ScriptedBackend(fail_submit_at=2)
    with app.app_context():
        with pytest.raises(engine.RunError):
            submission.submit_run(run_id, backend)  # stage 1 submitted, stage 2 failed: the run is failed
        assert submission.submit_run(run_id, backend) == ["1000"]  # a failed run submits nothing more
    assert backend.submit_calls == 2


def test_only_a_job_of_this_deployment_run_stage_and_attempt_is_adopted(app, target, settings):
    """Job names carry the run, stage, attempt and deployment: a job of an earlier attempt of the same run id,
    or of another deployment (DEV and PROD on one cluster) is never taken for this run's stage."""
    from lightserv.runs.backend import job_name

    with app.test_request_context():
        run_id = engine.create_run("precomputed_downsized", target, STAGES, {"run_id": None}, created_by="system",
                                   output_dir="ana/brains/s1/imaging_request_1/viz/raw", attempt=2)  # fmt: skip
    with app.app_context():
        run, jobs = engine.get_run(run_id)
    other_deployment = settings.model_copy(update={"lightserv_mode": "PROD", "dj_schema_prefix": "lightserv_prod_"})
    names = [job_name(run, j, settings) for j in jobs]
    assert names[1] == f"lsv-{run_id}-1-convert-a2.test.{settings.dj_schema_prefix.strip('_')}"
    backend = ScriptedBackend()
    for lookalike in (
        job_name({**run, "attempt": 1}, jobs[0], settings),
        job_name(run, jobs[0], other_deployment),
        job_name({**run, "run_id": run_id + 1}, jobs[0], settings),
    ):
        backend.specs[f"9{len(backend.specs)}"] = StageSpec(lookalike, ("true",), "/", "/o", "/e")
    backend.specs["77"] = StageSpec(names[2], ("true",), "/", "/o", "/e")  # this run's own stage 2

    with app.app_context():
        ids = submission.submit_run(run_id, backend)

    assert ids == ["1000", "1001", "77"] and backend.submit_calls == 2 and backend.find_calls == 1
    assert backend.specs["1001"].name == names[1]


def test_a_second_submitter_waits_for_the_first_or_for_its_lock_to_lapse(app, target, monkeypatch):
    from lightserv.common.redis import get_redis

    run_id = make_run(app, target)
    backend = ScriptedBackend()
    with app.app_context():
        key = submission.submit_lock_key(run_id)
        get_redis().set(key, "a-live-submitter", ex=60)
        monkeypatch.setattr(submission, "SUBMIT_LOCK_WAIT", 1.0)
        assert submission.submit_run(run_id, backend) == [] and backend.find_calls == backend.submit_calls == 0
        assert get_redis().get(key) == "a-live-submitter"  # another submitter's lock is left alone

        get_redis().set(key, "a-killed-submitter", ex=2)  # nobody extends it any more
        monkeypatch.setattr(submission, "SUBMIT_LOCK_WAIT", 6.0)
        started = time.monotonic()
        assert submission.submit_run(run_id, backend) == ["1000", "1001", "1002"]
        assert 1.0 <= time.monotonic() - started < 6 and get_redis().get(key) is None
