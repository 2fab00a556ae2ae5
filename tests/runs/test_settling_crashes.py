"""A settler stopped at each step of finishing a run (in this process: the step raises as a kill would end it,
and what was not committed is rolled back) leaves the run for the next poll, which does the rest exactly once.
Launches are written in the transaction of the change that causes them. The slow tier kills a real worker at
the same points (tests/slow/test_faults_poller.py)."""

from __future__ import annotations

import pytest

from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.runs import engine, faults, submission
from tests.runs.fake_backend import ScriptedBackend
from tests.runs.test_engine import jobs_of, make_run, target  # noqa: F401  (target: a fixture)

CONVERTED = "ana/brains/s1/imaging_request_1/rawdata/resolution_1.3x/stack"


class Killed(BaseException):
    """Ends the settler as SIGKILL would: no `except Exception` sees it."""


def crash_at(monkeypatch, point: str) -> None:
    def crash(name: str) -> None:
        if name == point:
            raise Killed(name)

    monkeypatch.setattr(faults, "crash_point", crash)


def poll_until_killed(backend) -> None:
    from lightserv.runs.poller import poll

    with pytest.raises(Killed):
        poll(backend)
    db.session.rollback()  # the killed process's session is gone with it


def launch_next(run: dict, job: dict | None = None) -> None:
    """A hook that starts the next piece of work: a layer conversion (a run and its launch)."""
    from lightserv.layers.services import LayerTarget, convert_image_layer

    layer = LayerTarget("ana", "brains", "s1", 1, "1.3x", "488", "downsized")
    convert_image_layer(layer, CONVERTED, voxel_size_nm=(1.0, 1.0, 1.0), n_planes=1, downsample=False)


def conversions(run_id: int) -> list[int]:
    """The conversion runs the hooks of `run_id` started."""
    runs = get_schemas().jobs.PipelineRun & {"kind": "precomputed_downsized"} & f"run_id <> {int(run_id)}"
    return [int(r) for r in runs.to_arrays("run_id")]


def launches_of(run_ids: list[int]) -> list[str]:
    from lightserv.models import TaskOutbox

    keys = db.session.scalars(db.select(TaskOutbox.dedupe_key).where(TaskOutbox.task_name.like("%launch_runs"))).all()
    return [k for k in keys if k in {f"launch:{r}" for r in run_ids}]


def test_a_stage_trigger_killed_before_its_marker_launches_the_next_work_once(app, target, monkeypatch):  # noqa: F811
    hooks = app.extensions["run_hooks"]
    monkeypatch.setitem(hooks.stage_success, ("precomputed_downsized", "setup"), [launch_next])
    run_id = make_run(app, target)
    backend = ScriptedBackend()
    with app.app_context():
        submission.submit_run(run_id, backend)
        backend.set("1000", "COMPLETED")
        crash_at(monkeypatch, "stage_triggered")
        poll_until_killed(backend)
        assert conversions(run_id) == []  # rolled back with the kill
        monkeypatch.undo()
        monkeypatch.setitem(hooks.stage_success, ("precomputed_downsized", "setup"), [launch_next])
        backend.set("1001", "RUNNING")  # the next poll settles the run again
        from lightserv.runs.poller import poll

        poll(backend)
        poll(backend)
        started = conversions(run_id)
        assert len(started) == 1
        assert launches_of(started) == [f"launch:{started[0]}"]


@pytest.mark.parametrize("point", ["run_succeeded", "run_settled"])
def test_a_run_killed_while_it_succeeds_runs_its_success_hooks_once(app, target, monkeypatch, point):  # noqa: F811
    hooks = app.extensions["run_hooks"]
    monkeypatch.setitem(hooks.run_success, "precomputed_downsized", [launch_next])
    run_id = make_run(app, target)
    backend = ScriptedBackend()
    with app.app_context():
        submission.submit_run(run_id, backend)
        for job_id in ("1000", "1001", "1002"):
            backend.set(job_id, "COMPLETED")
        crash_at(monkeypatch, point)
        poll_until_killed(backend)
        status = engine.get_run(run_id)[0]["status"]
        assert status == "succeeded" if point == "run_settled" else status in ("queued", "running"), status
        monkeypatch.setattr(faults, "crash_point", lambda name: None)
        from lightserv.runs.poller import poll

        poll(backend)
        poll(backend)
        started = conversions(run_id)
        run = engine.get_run(run_id)[0]
        from lightserv.models import EventLog

        finished = EventLog.query.filter_by(action="run.finished").all()
        launched = launches_of(started)
    assert run["status"] == "succeeded"
    assert len(started) == 1 and launched == [f"launch:{started[0]}"]
    assert [e.entity_key["run_id"] for e in finished] == [run_id]


@pytest.mark.parametrize("point", ["jobs_cancelled", "run_failed", "failure_committed"])
def test_a_run_killed_while_it_fails_runs_its_failure_hooks_and_emails_once(app, target, monkeypatch, point):  # noqa: F811
    from lightserv.models import EmailOutbox, EventLog, TaskOutbox
    from lightserv.runs.poller import poll

    calls: list[int] = []
    hooks = app.extensions["run_hooks"]
    monkeypatch.setitem(hooks.run_failure, "precomputed_downsized", [lambda run: calls.append(run["run_id"])])
    run_id = make_run(app, target)
    backend = ScriptedBackend()
    with app.app_context():
        submission.submit_run(run_id, backend)
        backend.set("1000", "COMPLETED")
        backend.set("1001", "FAILED", exit_code="1:0")
        crash_at(monkeypatch, point)
        poll_until_killed(backend)
        committed = point == "failure_committed"
        status = engine.get_run(run_id)[0]["status"]
        assert status == "failed" if committed else status in ("queued", "running"), status
        # the hooks ran in the killed transaction (what they wrote was rolled back with it; this list was not)
        before = [] if point == "jobs_cancelled" else [run_id]
        assert calls == before
        monkeypatch.setattr(faults, "crash_point", lambda name: None)
        poll(backend)
        poll(backend)
        run = engine.get_run(run_id)[0]
        tasks = [t.dedupe_key for t in TaskOutbox.query.filter_by(task_name="lightserv.runs.email_run_failed")]
        if committed:  # the email's task, written with the failure, queues the email the kill lost
            from lightserv.runs.tasks import email_run_failed

            email_run_failed(run_id)
            db.session.commit()  # a fresh snapshot: the task committed on its own session
        emails = [e.dedupe_key for e in EmailOutbox.query.filter_by(template="run_failed")]
        finished = [e.entity_key["run_id"] for e in EventLog.query.filter_by(action="run.finished")]
        states = [j["state"] for j in jobs_of(run_id)]
    assert run["status"] == "failed" and states == ["COMPLETED", "FAILED", "CANCELLED"]
    assert calls == [*before, run_id] if not committed else calls == [run_id]
    assert tasks == [f"run.failed:{run_id}"]
    assert emails == [f"run.failed:{run_id}"]
    assert finished == [run_id]


def test_a_conversion_whose_launch_fails_leaves_neither_run_nor_layer(app, target, monkeypatch):  # noqa: F811
    """Before, the run and the layer row committed first and the launch was written after: a crash between
    left a `queued` run that nothing would ever submit."""
    from lightserv.layers import services

    def crash(run_ids):
        raise Killed("launch")

    monkeypatch.setattr(services, "launch_after_commit", crash)
    with app.test_request_context(), pytest.raises(Killed):
        launch_next({})
    with app.app_context():
        layers = get_schemas().lightsheet.Request.DataLayer.to_dicts()
        runs = get_schemas().jobs.PipelineRun.to_dicts()
    assert layers == [] and runs == []


def test_a_rerun_whose_launch_fails_leaves_the_old_run_as_it_was(app, target, monkeypatch):  # noqa: F811
    """Before, the new attempt committed (the old run superseded) and its launch was written after."""
    from lightserv.processing import reruns

    run_id = make_run(app, target)
    with app.app_context():
        get_schemas().jobs.PipelineRun.update1({"run_id": run_id, "status": "failed"})

    def crash(run_ids):
        raise Killed("launch")

    monkeypatch.setattr(reruns, "launch_after_commit", crash)
    with app.test_request_context(), pytest.raises(Killed):
        reruns.rerun(run_id, reruns.RerunInput(0), "pat")
    with app.app_context():
        runs = get_schemas().jobs.PipelineRun.to_dicts()
    assert [(r["run_id"], r["superseded_by_run_id"]) for r in runs] == [(run_id, None)]

    monkeypatch.undo()
    with app.test_request_context():
        new_id = reruns.rerun(run_id, reruns.RerunInput(0), "pat")
        assert launches_of([new_id]) == [f"launch:{new_id}"]
        with pytest.raises(engine.RunError, match="already re-run"):
            reruns.rerun(run_id, reruns.RerunInput(0), "pat")
