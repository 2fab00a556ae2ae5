"""Entry-form services: apply-to-all changes only batch-level columns, ventral-up rows,
save limits, submit with raw-data validation on synthetic folders, skip, reopen, complete."""

from __future__ import annotations

import shutil
import time

import pytest

from lib.naming import rawdata_resolution_dir
from lib.synth import corrupt, make_brain, write_lavision
from lightserv.db import get_schemas
from lightserv.imaging import channel_services as chan
from lightserv.imaging import sample_services as svc
from lightserv.imaging.batch_services import ImagingError, start_batch
from tests.factories import channel, new_request, resolution, sample, submit

from .conftest import finish_clearing, imaging_requests

KEY = dict(username="ana", request_name="brains", clearing_batch_number=1, imaging_request_number=1,
           imaging_batch_number=1)  # fmt: skip
IMAGER = frozenset({"imaging_staff"})
PLANES = 4


@pytest.fixture
def started(app, make_user):
    """ana/brains, samples s1 and s2 (one imaging batch) at 1.3x with 488 (registration) and 647 (cell
    detection); the batch is started by "ian"."""
    make_user("ana")
    make_user("ian", roles=["imaging_staff"])
    base = [channel("488", "registration"), channel("647", "cell_detection")]
    submit(
        app,
        new_request(
            "ana",
            "brains",
            [sample("s1", resolution("1.3x", *base)), sample("s2", resolution("1.3x", *base))],
        ),
    )
    finish_clearing(app)
    with app.test_request_context():
        start_batch(KEY, "ian", IMAGER)
    return KEY


def channels(app, sample_name: str) -> dict[tuple[str, bool], dict]:
    with app.app_context():
        rows = (get_schemas().lightsheet.Request.ImagingChannel & {"sample_name": sample_name}).to_dicts()
        return {(r["channel_name"], bool(r["ventral_up"])): r for r in rows}


def row(**values) -> dict:
    base = dict(image_orientation="horizontal", left_lightsheet_used="y", right_lightsheet_used="y",
                tiling_scheme="1x1", tiling_overlap="0", z_step="10")  # fmt: skip
    return {**base, **values}


def sample_rows(subfolder: str = "Ex_488_647", planes: int = PLANES, **values) -> dict:
    return {
        ("1.3x", w, False): row(number_of_z_planes=str(planes), rawdata_subfolder=subfolder, **values)
        for w in ("488", "647")
    }


def test_apply_to_all_updates_only_batch_columns_and_reports_missing_rows(app, started):
    with app.test_request_context():
        svc.save_sample(KEY, "s1", {("1.3x", "488", False): row(number_of_z_planes="7", rawdata_subfolder="a")},
                        "", "ian", IMAGER)  # fmt: skip
        batch_rows = {
            ("1.3x", "488", False): row(
                tiling_scheme="2X2", tiling_overlap="0.1", z_step="5", right_lightsheet_used=""
            ),
            ("1.3x", "555", False): row(z_step="4"),
        }
        applied, warnings = svc.apply_batch_parameters(KEY, batch_rows, "ian", IMAGER)
    assert applied == 2
    assert warnings == [
        "Not applied to sample s1: no channel 555 at 1.3x.",
        "Not applied to sample s2: no channel 555 at 1.3x.",
    ]
    s1 = channels(app, "s1")
    assert s1[("488", False)]["tiling_scheme"] == "2x2" and s1[("488", False)]["z_step"] == 5
    assert s1[("488", False)]["right_lightsheet_used"] == 0
    # what must not change: purposes, z planes, subfolders, channel indexes, other rows
    assert s1[("488", False)]["registration"] == 1
    assert s1[("488", False)]["number_of_z_planes"] == 7 and s1[("488", False)]["rawdata_subfolder"] == "a"
    assert s1[("647", False)]["cell_detection"] == 1 and s1[("647", False)]["z_step"] == 10
    assert channels(app, "s2")[("488", False)]["z_step"] == 5


def test_apply_to_all_writes_nothing_when_a_row_is_invalid(app, started):
    with app.test_request_context(), pytest.raises(svc.SaveRefused) as refused:
        svc.apply_batch_parameters(
            KEY,
            {
                ("1.3x", "488", False): row(z_step="4"),
                ("1.3x", "647", False): row(tiling_scheme="3x3", tiling_overlap="0.1"),
            },
            "ian",
            IMAGER,
        )
    assert refused.value.errors == {"1.3x channel 647": ["Tiling scheme must not exceed 2x2 at this resolution."]}
    assert channels(app, "s1")[("488", False)]["z_step"] == 10


def test_apply_to_all_skips_samples_already_done(app, started):
    with app.test_request_context():
        svc.skip_sample(KEY, "s2", "broke", "ian", IMAGER)
        applied, _ = svc.apply_batch_parameters(KEY, {("1.3x", "488", False): row(z_step="3")}, "ian", IMAGER)
    assert applied == 1 and channels(app, "s2")[("488", False)]["z_step"] == 10


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"left_lightsheet_used": "", "right_lightsheet_used": ""}, "At least one light sheet is required."),
        ({"tiling_scheme": "2 x2"}, "Tiling scheme must look like 2x3 (columns x rows), with no spaces."),
        ({"tiling_scheme": "2x1"}, "Tiled acquisitions need an overlap greater than 0."),
        ({"tiling_overlap": "1"}, "Tiling overlap must be a number from 0 up to, but not including, 1."),
        ({"z_step": "1"}, "z step must be a number from 2 to 1000 microns."),
        ({"number_of_z_planes": "5501"}, "Number of z planes must be from 1 to 5500."),
        ({"rawdata_subfolder": "my folder"}, "Raw data subfolder must not contain spaces."),
        ({"rawdata_subfolder": "../x"}, "Raw data subfolder must be relative, without '..', '\\' or a leading '/'."),
    ],
)
def test_save_refuses_each_field_limit(app, started, values, message):
    with app.test_request_context(), pytest.raises(svc.SaveRefused) as refused:
        svc.save_sample(KEY, "s1", {("1.3x", "488", False): row(**values)}, "", "ian", IMAGER)
    assert message in refused.value.errors["1.3x channel 488"]


def test_save_accepts_empty_planes_but_submit_requires_them(app, started):
    with app.test_request_context():
        svc.save_sample(KEY, "s1", {("1.3x", "488", False): row(rawdata_subfolder="x/")}, "note", "ian", IMAGER)
        assert channels(app, "s1")[("488", False)]["rawdata_subfolder"] == "x"
        with pytest.raises(svc.SaveRefused):
            svc.submit_sample(KEY, "s1", {("1.3x", "488", False): row()}, "", "ian", IMAGER)


def test_a_submit_records_its_validation_task_with_its_rows_and_a_refused_one_records_none(app, started):
    """The validation task is written in the submit's transaction: a worker or web process that dies after the
    commit leaves the task in the outbox for the relay, and a refused submit leaves no task behind."""
    from sqlalchemy import select

    from lightserv.extensions import db
    from lightserv.models import TaskOutbox

    def validations() -> list[tuple[str, str]]:
        with app.app_context():
            rows = db.session.scalars(
                select(TaskOutbox).where(TaskOutbox.task_name == "lightserv.imaging.validate_sample")
            ).all()
            return [(r.args[0]["sample_name"], r.args[1]) for r in rows]

    before = validations()
    with app.test_request_context(), pytest.raises(svc.SaveRefused):
        svc.submit_sample(KEY, "s1", {("1.3x", "488", False): row()}, "", "ian", IMAGER)  # no planes: refused
    assert validations() == before
    with app.test_request_context():
        svc.submit_sample(KEY, "s1", sample_rows(), "", "ian", IMAGER)
    assert validations() == [*before, ("s1", "ian")]


def test_only_the_imager_or_an_admin_may_save(app, started, make_user):
    with app.test_request_context(), pytest.raises(ImagingError) as refused:
        svc.save_sample(KEY, "s1", {}, "", "ivy", IMAGER)
    assert refused.value.status == 403


def test_adding_a_ventral_up_channel_copies_the_row_and_adds_processing(app, started):
    with app.test_request_context():
        svc.save_sample(KEY, "s1", {("1.3x", "647", False): row(number_of_z_planes="9", rawdata_subfolder="d",
                                                                   z_step="7")}, "", "ian", IMAGER)  # fmt: skip
        warnings = svc.add_ventral_up(KEY, None, "1.3x", "647", "ian", IMAGER)
        assert warnings == []
        with pytest.raises(ImagingError, match="already has a ventral-up copy"):
            svc.add_ventral_up(KEY, "s1", "1.3x", "647", "ian", IMAGER)
    ventral = channels(app, "s1")[("647", True)]
    assert ventral["cell_detection"] == 1 and ventral["z_step"] == 7 and ventral["image_orientation"] == "horizontal"
    assert ventral["number_of_z_planes"] is None and ventral["rawdata_subfolder"] is None
    assert ("647", True) in channels(app, "s2")
    with app.app_context():
        proc = (get_schemas().lightsheet.Request.ProcessingResolutionRequest & {"sample_name": "s1"}).to_dicts()
    assert sorted(p["ventral_up"] for p in proc) == [0, 1]


def test_a_ventral_up_channel_needs_horizontal_imaging(app, started):
    with app.test_request_context():
        svc.save_sample(KEY, "s1", {("1.3x", "488", False): row(image_orientation="sagittal")}, "", "ian", IMAGER)
        with pytest.raises(ImagingError, match="only be added for horizontal imaging"):
            svc.add_ventral_up(KEY, "s1", "1.3x", "488", "ian", IMAGER)


def write_acquisition(app, sample_name: str, tiling=(1, 1)):
    brain = make_brain((PLANES, 32, 40), seed=3, n_cells=3)
    root = app.config["SETTINGS"].data_root / rawdata_resolution_dir("ana", "brains", sample_name, 1, "1.3x")
    shutil.rmtree(root / "Ex_488_647", ignore_errors=True)  # data_root is shared by the session
    return write_lavision(root / "Ex_488_647", brain, tiling=tiling, overlap=0.2, channels=("488", "647"),
                          n_planes=PLANES)  # fmt: skip


def test_submitting_a_correct_folder_completes_the_sample_with_channel_indexes(app, started):
    write_acquisition(app, "s1")
    with app.test_request_context():
        member = svc.submit_sample(KEY, "s1", sample_rows(), "done", "ian", IMAGER)
        assert imaging_requests(app)["s1"]["validation_status"] == "running"
        assert svc.validate_sample(member, "ian") == []
    request_row = imaging_requests(app)["s1"]
    assert request_row["imaging_progress"] == "complete" and request_row["validation_status"] == "passed"
    assert request_row["imaging_performed_date"] is not None
    rows = channels(app, "s1")
    assert rows[("488", False)]["imspector_channel_index"] == 0 and rows[("647", False)]["imspector_channel_index"] == 1
    assert rows[("488", False)]["imaging_date"] is not None


def test_a_broken_folder_fails_validation_and_the_sample_stays_pending(app, started):
    truth = write_acquisition(app, "s1")
    corrupt(truth.out_dir, "missing_plane")
    with app.test_request_context():
        member = svc.submit_sample(KEY, "s1", sample_rows(), "", "ian", IMAGER)
        messages = svc.validate_sample(member, "ian")
    request_row = imaging_requests(app)["s1"]
    assert request_row["imaging_progress"] == "pending" and request_row["validation_status"] == "failed"
    assert request_row["validation_messages"] == messages
    assert any(m.startswith("Sample s1, resolution 1.3x: Channel ") and "expected 8 raw files" in m for m in messages)


def test_skip_complete_and_reopen(app, started, make_user):
    make_user("adam", roles=["facility_admin"])
    write_acquisition(app, "s1")
    with app.test_request_context():
        with pytest.raises(ImagingError, match="still need imaging or skipping: s1, s2"):
            svc.complete_batch(KEY, "ian", IMAGER)
        svc.validate_sample(svc.submit_sample(KEY, "s1", sample_rows(), "", "ian", IMAGER), "ian")
        svc.skip_sample(KEY, "s2", "no signal", "ian", IMAGER)
        with pytest.raises(ImagingError) as refused:
            svc.reopen_sample(KEY, "s2", "ian", IMAGER)
        assert refused.value.status == 403
        svc.reopen_sample(KEY, "s2", "adam", frozenset({"facility_admin"}))
        assert imaging_requests(app)["s2"]["imaging_progress"] == "pending"
        svc.skip_sample(KEY, "s2", "no signal", "ian", IMAGER)
        svc.complete_batch(KEY, "ian", IMAGER)
    with app.app_context():
        batch = (get_schemas().lightsheet.Request.ImagingBatch & KEY).fetch1()
    assert batch["imaging_progress"] == "complete" and batch["completed_at"] is not None
    assert imaging_requests(app)["s2"]["skip_reason"] == "no signal"


def outbox(app, template: str) -> list:
    from lightserv.extensions import db
    from lightserv.models import EmailOutbox

    with app.app_context():
        return list(db.session.scalars(db.select(EmailOutbox).where(EmailOutbox.template == template)))


def test_completing_the_batch_emails_the_requester_and_processing_staff_once(app, started, make_user):
    make_user("pat", roles=["processing_staff"])
    write_acquisition(app, "s1")
    with app.test_request_context():
        svc.validate_sample(svc.submit_sample(KEY, "s1", sample_rows(), "", "ian", IMAGER), "ian")
        svc.skip_sample(KEY, "s2", "cracked", "ian", IMAGER)
        svc.complete_batch(KEY, "ian", IMAGER)
    [mail] = outbox(app, "imaging_completed")
    assert mail.subject == "lightserv: Imaging complete: brains" and mail.to_addrs == ["ana@test.example"]
    assert "resolution_1.3x/Ex_488_647" in mail.body_text and "No images taken: cracked" in mail.body_text
    [staff] = outbox(app, "samples_ready_for_processing")
    assert staff.subject == "lightserv: Samples ready for processing: ana/brains" and "s1" in staff.body_text
    assert "pat@" in " ".join(staff.to_addrs)


def test_adding_a_channel_copies_batch_values_and_skips_samples_that_have_it(app, started):
    with app.test_request_context():
        svc.save_sample(KEY, "s1", {("1.3x", "488", False): row(z_step="6")}, "", "ian", IMAGER)
        assert chan.add_channel(KEY, "s1", "1.3x", "555", "cell_detection", "ian", IMAGER) == []
        warnings = chan.add_channel(KEY, None, "1.3x", "555", "generic_imaging", "ian", IMAGER)
        assert warnings == ["Sample s1 already has channel 555 at 1.3x."]
        with pytest.raises(ImagingError, match="not available at 1.3x"):
            chan.add_channel(KEY, "s1", "1.3x", "561", "generic_imaging", "ian", IMAGER)
        with pytest.raises(ImagingError, match="Channel 790 cannot be used for registration at 1.3x."):
            chan.add_channel(KEY, "s1", "1.3x", "790", "registration", "ian", IMAGER)
        chan.delete_channel(KEY, "s2", "1.3x", "555", False, "ian", IMAGER)
        with pytest.raises(ImagingError, match="already has a registration channel"):
            chan.add_channel(KEY, "s2", "1.3x", "555", "registration", "ian", IMAGER)
        chan.add_channel(KEY, "s2", "1.3x", "555", "generic_imaging", "ian", IMAGER)
    added = channels(app, "s1")[("555", False)]
    assert added["added_during_imaging"] == 1 and added["cell_detection"] == 1 and added["registration"] == 0
    assert added["z_step"] == 6  # copied from the first dorsal row (488)
    assert channels(app, "s2")[("555", False)]["generic_imaging"] == 1


def test_deleting_a_dorsal_channel_takes_its_ventral_copy_and_the_ventral_processing(app, started):
    with app.test_request_context():
        svc.add_ventral_up(KEY, "s1", "1.3x", "647", "ian", IMAGER)
        chan.delete_channel(KEY, "s1", "1.3x", "647", False, "ian", IMAGER)
        assert set(channels(app, "s1")) == {("488", False)}
        with app.app_context():
            proc = (get_schemas().lightsheet.Request.ProcessingResolutionRequest & {"sample_name": "s1"}).to_dicts()
        assert [p["ventral_up"] for p in proc] == [0]
        with pytest.raises(ImagingError, match="A resolution needs at least one channel."):
            chan.delete_channel(KEY, "s1", "1.3x", "488", False, "ian", IMAGER)
    assert set(channels(app, "s2")) == {("488", False), ("647", False)}


def test_a_validation_whose_worker_died_is_requeued_then_completes(app, started):
    """The worker running a validation died (its heartbeat expired): the beat task re-queues it and a real
    Celery worker finishes it, with the submitting imager recorded; a finished validation is not redone."""
    from celery.contrib.testing.worker import start_worker

    from lightserv.common.redis import get_redis
    from lightserv.imaging import tasks

    write_acquisition(app, "s1")
    with app.test_request_context():
        member = svc.submit_sample(KEY, "s1", sample_rows(), "", "ian", IMAGER)
        redis = get_redis()
        redis.set(tasks.actor_key(member), "ian")  # what queue_validation stores; the task itself never ran
        redis.delete(tasks.heartbeat_key(member), tasks.lock_key(member), tasks.requeue_key(member))
        app.extensions["celery"].control.purge()  # tasks other tests left in the queue
        assert tasks.recover_lost_validations() == 1
        with start_worker(app.extensions["celery"], pool="solo", perform_ping_check=False):
            # the worker thread shares this process's database connection: wait on Redis, not on the database
            deadline = time.monotonic() + 30
            while redis.exists(tasks.requeue_key(member)):  # the task deletes it when it has finished
                assert time.monotonic() < deadline, "the re-queued validation did not finish"
                time.sleep(0.2)
        assert imaging_requests(app)["s1"]["validation_status"] == "passed"
        assert tasks.recover_lost_validations() == 0  # nothing running any more
        assert tasks.run_validation(member, "ian") == -1  # a late duplicate does nothing
        from lightserv.models import EventLog

        actions = [e.action for e in EventLog.query.filter(EventLog.action.like("imaging.%")).all()]
        completed = EventLog.query.filter_by(action="imaging.sample_completed").one()
    assert "imaging.validation_requeued" in actions
    assert completed.actor == "ian"


def test_a_validation_lost_too_often_fails_with_a_message(app, started):
    from lightserv.common.redis import get_redis
    from lightserv.imaging import tasks

    with app.test_request_context():
        member = svc.submit_sample(KEY, "s1", sample_rows(), "", "ian", IMAGER)
        redis = get_redis()
        redis.set(tasks.requeue_key(member), tasks.MAX_REQUEUES)
        assert tasks.recover_lost_validations() == 1
    row = imaging_requests(app)["s1"]
    assert row["validation_status"] == "failed" and row["imaging_progress"] == "pending"
    assert "the background worker stopped 3 times" in row["validation_messages"][0]
