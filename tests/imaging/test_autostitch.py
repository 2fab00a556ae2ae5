"""SmartSPIM stitching starts when imaging of a sample is submitted
while SMARTSPIM_AUTOSTITCH is on, and not when it is off."""

from __future__ import annotations

import shutil

import pytest

from lib.naming import rawdata_resolution_dir
from lib.synth import make_brain, write_smartspim
from lightserv.db import get_schemas
from lightserv.imaging import sample_services as svc
from lightserv.imaging.batch_services import start_batch
from lightserv.imaging.tasks import run_validation
from tests.factories import channel, new_request, resolution, sample, submit

from .conftest import finish_clearing

KEY = dict(username="ana", request_name="spim", clearing_batch_number=1, imaging_request_number=1,
           imaging_batch_number=1)  # fmt: skip
PLANES = 4


@pytest.fixture
def started(app, make_user):
    make_user("ana")
    make_user("ian", roles=["imaging_staff"])
    wishes = resolution("3.6x", channel("642", "registration"), channel("488", "cell_detection"))
    submit(app, new_request("ana", "spim", [sample("s1", wishes)]))
    finish_clearing(app, name="spim")
    with app.test_request_context():
        start_batch(KEY, "ian", frozenset({"imaging_staff"}))


def _submit(app, settings) -> dict:
    folder = settings.data_root / rawdata_resolution_dir("ana", "spim", "s1", 1, "3.6x")
    shutil.rmtree(folder, ignore_errors=True)
    brain = make_brain((PLANES, 40, 40), seed=3, n_cells=2)
    write_smartspim(folder, brain, tiling=(1, 1), channels=("488", "642"), n_planes=PLANES, z_step_um=2,
                    subfolders={"488": "Ex_488", "642": "Ex_642"})  # fmt: skip
    values = dict(image_orientation="horizontal", left_lightsheet_used="y", right_lightsheet_used="y",
                  tiling_scheme="1x1", tiling_overlap="0.1", z_step="2", number_of_z_planes=str(PLANES))  # fmt: skip
    rows = {("3.6x", w, False): {**values, "rawdata_subfolder": f"Ex_{w}"} for w in ("488", "642")}
    with app.test_request_context():
        member = svc.submit_sample(KEY, "s1", rows, "", "ian", frozenset({"imaging_staff"}))
        assert run_validation(member, "ian") == 0, get_schemas().lightsheet.Request.ImagingRequest.to_dicts()
    return member


def _state(app):
    with app.app_context():
        schemas = get_schemas()
        runs = (schemas.jobs.PipelineRun & {"request_name": "spim"}).to_dicts()
        pr = (schemas.lightsheet.Request.ProcessingRequest & {"request_name": "spim"}).to_dicts()[0]
    return runs, pr


def test_submitting_a_smartspim_sample_starts_its_stitching(app, settings, started):
    _submit(app, settings)
    runs, pr = _state(app)
    assert [(r["kind"], r["image_resolution"], r["created_by"]) for r in runs] == [("smartspim_stitch", "3.6x", "ian")]
    channels = [c["subfolder"] for c in runs[0]["params"]["channels"]]
    assert channels == ["Ex_642", "Ex_488"]  # 642 is the alignment channel (785, 642, 561, 488 order)
    assert pr["processing_progress"] == "running" and pr["processor"] is None


def test_with_autostitch_off_nothing_starts(app, settings, started, monkeypatch):
    monkeypatch.setattr(settings, "smartspim_autostitch", False)
    _submit(app, settings)
    runs, pr = _state(app)
    assert runs == [] and pr["processing_progress"] == "pending"


def test_a_worker_killed_after_validation_leaves_the_stitching_to_the_task_recorded_with_the_result(
    app, settings, started
):
    """The validation's result and the task that starts the follow-ups commit together: when the worker dies
    before it starts them itself, that task starts them (once, however often it runs)."""
    from sqlalchemy import select

    from lightserv.imaging.tasks import start_conversions
    from lightserv.models import TaskOutbox

    folder = settings.data_root / rawdata_resolution_dir("ana", "spim", "s1", 1, "3.6x")
    shutil.rmtree(folder, ignore_errors=True)
    write_smartspim(folder, make_brain((PLANES, 40, 40), seed=3, n_cells=2), tiling=(1, 1), channels=("488", "642"),
                    n_planes=PLANES, z_step_um=2, subfolders={"488": "Ex_488", "642": "Ex_642"})  # fmt: skip
    values = dict(image_orientation="horizontal", left_lightsheet_used="y", right_lightsheet_used="y",
                  tiling_scheme="1x1", tiling_overlap="0.1", z_step="2", number_of_z_planes=str(PLANES))  # fmt: skip
    rows = {("3.6x", w, False): {**values, "rawdata_subfolder": f"Ex_{w}"} for w in ("488", "642")}
    with app.test_request_context():
        member = svc.submit_sample(KEY, "s1", rows, "", "ian", frozenset({"imaging_staff"}))
        assert svc.validate_sample(member, "ian") == []  # committed; the worker dies before start_followups
        from lightserv.extensions import db

        guards = db.session.scalars(
            select(TaskOutbox).where(TaskOutbox.task_name == "lightserv.imaging.start_conversions")
        ).all()
    assert _state(app)[0] == []
    assert [(g.status, g.args[0]["sample_name"]) for g in guards] == [("pending", "s1")]
    assert guards[0].not_before > guards[0].created_at  # after the worker's own start had its chance
    with app.test_request_context():
        start_conversions(*guards[0].args)
        start_conversions(*guards[0].args)  # a second delivery starts nothing more
    runs, _ = _state(app)
    assert [(r["kind"], r["created_by"]) for r in runs] == [("smartspim_stitch", "ian")]
