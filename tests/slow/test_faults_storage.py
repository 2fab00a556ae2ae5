"""Fault: DATA_ROOT read-only (issue 11), made with a read-only bind mount of the test DATA_ROOT over itself
(root ignores file modes, so chmod would not stop it; skipped, naming mount, where mounting is not permitted).

Pages that only read keep working. Actions that must write under DATA_ROOT either fail at once with a clear
503 and no half-written record (processing start), or are kept and finished by themselves once the storage is
writable again (a validated sample's raw conversions, a new request's folders); nothing runs twice.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest

from tests.conftest import csrf_from
from tests.processing import conftest as processing
from tests.slow import test_faults_worker as worker_faults
from tests.slow.conftest import wait_for
from tests.support.auth import sign_in

STORAGE = "The data storage (DATA_ROOT) cannot be written at the moment"
atlas_files = processing.atlas_files  # fixture: placeholder atlas files (start checks that they exist)
submitted = worker_faults.submitted  # fixture: an imaging batch started, single-tile raw data on disk
worker_settings = worker_faults.worker_settings


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` mounted read-only over itself for the duration (always unmounted afterwards)."""
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"mount --bind is not permitted here ({bind.stderr.strip()}): cannot make DATA_ROOT read-only")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True, text=True)
        if ro.returncode != 0:
            pytest.skip(f"mount -o remount,bind,ro is not permitted here ({ro.stderr.strip()})")
        with pytest.raises(OSError, match="Read-only file system"):
            (folder / ".probe").write_text("x")
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True, capture_output=True, text=True)
    (folder / ".probe").write_text("x")  # writable again
    (folder / ".probe").unlink()


def post(client, url: str, data: dict):
    token = csrf_from(client.get("/about").get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


@pytest.fixture
def ready_to_process(app, make_user, atlas_files, settings):
    import shutil

    # the session's DATA_ROOT is shared: earlier slow tests may have left ana/brains results in it
    shutil.rmtree(settings.data_root / "ana", ignore_errors=True)
    make_user("ana")
    make_user("pat", roles=["processing_staff"], email="pat@core.example")
    processing.lavision_request(app)
    processing.complete_imaging(app)
    yield
    shutil.rmtree(settings.data_root / "ana", ignore_errors=True)


def test_processing_start_on_a_read_only_data_root_is_refused_clearly_then_works(
    app, client, settings, ready_to_process
):
    from lightserv.db import get_schemas

    start = f"/processing/entry/{processing.PR_PATH}/start"
    processing.login(client, "pat")
    with read_only(settings.data_root):
        for page in ("/requests/ana/brains", f"/processing/entry/{processing.PR_PATH}", "/processing/queue"):
            assert client.get(page).status_code == 200, page  # reading is unaffected
        resp = post(client, start, {"notes": ""})
        html = resp.get_data(as_text=True)
        assert resp.status_code == 503 and STORAGE in html and "Traceback" not in html
        # no half-written record: the start is one transaction, its folder and parameter file came first
        pr = processing.pr_row(app)
        assert pr["processing_progress"] == "pending" and pr["processor"] is None
        assert processing.runs_of(app) == []
        with app.app_context():
            from lightserv.models import EventLog

            assert not (get_schemas().lightsheet.Request.ProcessingChannel & processing.PKEY).to_dicts()
            assert not EventLog.query.filter_by(action="processing.started").all()
            assert not EventLog.query.filter_by(action="run.created").all()

    resp = post(client, start, {"notes": ""})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    (run,) = processing.runs_of(app)
    assert processing.pr_row(app)["processing_progress"] == "running"
    assert (settings.data_root / run["run_dir"] / "params.json").is_file()


def test_a_sample_validated_on_a_read_only_data_root_gets_its_raw_layers_once_it_is_writable(
    app, settings, submitted, worker_settings, start_worker
):
    from lightserv.db import get_schemas
    from lightserv.imaging import sample_services as svc
    from lightserv.imaging import tasks

    values = dict(image_orientation="horizontal", left_lightsheet_used="y", right_lightsheet_used="y",
                  tiling_scheme="1x1", tiling_overlap="0", z_step="10", number_of_z_planes=str(worker_faults.PLANES),
                  rawdata_subfolder="acq")  # fmt: skip
    rows = {("1.3x", w, False): values for w in ("488", "647")}
    worker = start_worker(**worker_settings)

    def imaging() -> dict:
        with app.app_context():
            ls = get_schemas().lightsheet
            row = (ls.Request.ImagingRequest & {"sample_name": "s1"}).to_dicts()[0]
            layers = (ls.Request.DataLayer & {"sample_name": "s1", "product": "raw"}).to_dicts()
            runs = (get_schemas().jobs.PipelineRun & {"sample_name": "s1", "kind": "precomputed_raw"}).to_dicts()
        return {"validation": row["validation_status"], "layers": layers, "runs": runs}

    with read_only(settings.data_root):
        with app.test_request_context():
            member = svc.submit_sample(worker_faults.KEY, "s1", rows, "", "ian", worker_faults.IMAGER)
            tasks.queue_validation(member, "ian")
        # validation only reads: it passes; the conversions, which write, wait for the storage
        wait_for(lambda: imaging()["validation"] == "passed", 90, "the validation to pass", worker.log)
        wait_for(lambda: "wait for a writable DATA_ROOT" in worker.log(), 30, "the worker to say it waits")
        state = imaging()
        assert state["layers"] == [] and state["runs"] == []

    # writable again: the retry (every minute) starts every conversion once and the worker submits them
    wait_for(lambda: len(imaging()["runs"]) >= 4, 150, "the raw conversions to start", worker.log)
    wait_for(lambda: all(j for r in imaging()["runs"] for j in _job_ids(app, r["run_id"])), 60,
             "the conversions to be submitted", worker.log)  # fmt: skip
    state = imaging()
    assert sorted(x["layer_name"] for x in state["layers"]) == [
        "raw_ch488_left", "raw_ch488_right", "raw_ch647_left", "raw_ch647_right",
    ]  # fmt: skip
    assert len(state["runs"]) == 4 and {x["status"] for x in state["layers"]} <= {"converting", "ready"}


def _job_ids(app, run_id: int) -> list:
    from lightserv.db import get_schemas

    with app.app_context():
        return [j["slurm_job_id"] for j in (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run_id}).to_dicts()]


def test_a_request_submitted_on_a_read_only_data_root_gets_its_folders_once_it_is_writable(
    app, client, settings, make_user, worker_settings, start_worker
):
    from lib.naming import rawdata_resolution_dir
    from tests.requests.test_new_request_page import full_form

    make_user("ana", email="ana@lab.example")
    worker = start_worker(**worker_settings)
    folder = settings.data_root / rawdata_resolution_dir("ana", "brains", "brains-001", 1, "1.3x")
    sign_in(client, "ana")
    try:
        with read_only(settings.data_root):
            token = csrf_from(client.get("/requests/new").get_data(as_text=True))
            resp = client.post(
                "/requests/new", data={**full_form(1, confirmed="y"), "action": "submit", "csrf_token": token}
            )
            assert resp.status_code == 302  # the request is in the database; its folders wait
            wait_for(lambda: "create_imaging_folders" in worker.log() and "Retry in" in worker.log(), 60,
                     "the folder task to wait for the storage", worker.log)  # fmt: skip
            assert not folder.exists()
        wait_for(folder.is_dir, 120, f"{folder} to be created by a retry", worker.log)
        assert (folder.stat().st_mode & 0o7777) == 0o2770
    finally:
        import shutil

        shutil.rmtree(settings.data_root / "ana", ignore_errors=True)
