"""The processing entry form and "Start processing": every check refuses with its
message and writes nothing; a start writes the rows, runs and parameter documents in one transaction."""

from __future__ import annotations

import json

import pytest

from lib.pipeline.params import LavisionParams
from lightserv.db import get_schemas
from tests.runs.fake_backend import ScriptedBackend

from .conftest import (
    PKEY,
    PR_PATH,
    complete_imaging,
    jobs_of,
    lavision_request,
    login,
    pr_row,
    runs_of,
)

ENTRY = f"/processing/entry/{PR_PATH}"
START = ENTRY + "/start"


@pytest.fixture
def world(app, make_user, atlas_files):
    make_user("ana")
    make_user("pat", roles=["processing_staff"], email="pat@core.example")
    lavision_request(app)
    return app


def nothing_written(app) -> None:
    pr = pr_row(app)
    assert pr["processing_progress"] == "pending" and pr["processor"] is None and pr["started_at"] is None
    assert runs_of(app) == []
    with app.app_context():
        ls = get_schemas().lightsheet
        assert not (ls.Request.ProcessingChannel & PKEY).to_dicts()
        assert {r["pipeline_status"] for r in (ls.Request.ProcessingResolutionRequest & PKEY).to_dicts()} == {
            "not_started"
        }
        from lightserv.models import EventLog

        assert not EventLog.query.filter_by(action="processing.started").all()


def start(client, act, **fields):
    login(client, "pat")
    return act(START, {"notes": "", **fields})


def refused(resp, message: str, status: int = 409) -> None:
    html = resp.get_data(as_text=True)
    assert resp.status_code == status, html[:2000]
    assert message in html.replace("&#39;", "'")


def test_a_request_that_is_not_pending_is_refused(world, client, act):
    complete_imaging(world)
    with world.app_context():
        get_schemas().lightsheet.Request.ProcessingRequest.update1({**PKEY, "processing_progress": "complete"})
    resp = start(client, act)
    refused(resp, "Processing is complete for this sample. To process again, open a new processing request from "
                  "the request page.")  # fmt: skip
    assert runs_of(world) == []


def test_clearing_must_be_complete(world, client, act):
    complete_imaging(world, clearing=False)
    refused(start(client, act), "The clearing batch of this sample is not complete yet.")
    nothing_written(world)


def test_imaging_must_be_complete_and_not_skipped(world, client, act):
    from tests.processing.conftest import finish_clearing

    finish_clearing(world)
    refused(start(client, act), "Imaging of this sample is not complete yet.")
    with world.app_context():
        get_schemas().lightsheet.Request.ImagingRequest.update1(
            {k: PKEY[k] for k in list(PKEY)[:4]} | {"imaging_progress": "skipped"}
        )
    refused(start(client, act), "Imaging of this sample was skipped: there is nothing to process.")
    nothing_written(world)


def test_the_chosen_atlas_must_be_active_and_have_its_files(world, client, act, atlas_files):
    complete_imaging(world)
    (atlas_files / "allen_2011" / "template.tif").unlink()
    refused(
        start(client, act, **{"atlas|1.3x|0": "allen_2011"}),
        "The files of the atlas Allen atlas (pre-2017) are missing",
    )
    nothing_written(world)
    with world.app_context():
        atlas = get_schemas().lightsheet.Atlas
        atlas.update1({"atlas_name": "paxinos", "is_active": 0})
    try:
        refused(
            start(client, act, **{"atlas|1.3x|0": "paxinos"}),
            "The atlas Franklin–Paxinos mouse brain atlas is not available.",
        )
    finally:
        with world.app_context():
            get_schemas().lightsheet.Atlas.update1({"atlas_name": "paxinos", "is_active": 1})
    nothing_written(world)


def test_output_orientation_must_be_sagittal_with_a_registration_channel(world, client, act):
    complete_imaging(world)
    resp = start(client, act, **{"orientation|1.3x|0": "coronal"})
    refused(resp, "1.3x: output orientation must be sagittal when registration is selected.")
    assert 'class="form-select is-invalid" id="orientation|1.3x|0"' not in resp.get_data(as_text=True)  # fixed field
    nothing_written(world)


def test_every_raw_data_folder_must_exist(world, client, act):
    complete_imaging(world, make_folders=False)
    refused(start(client, act), "The raw data folder of channel 488 at 1.3x was not found")
    nothing_written(world)


def test_an_output_folder_with_results_is_refused(world, client, act, settings):
    from lib.naming import output_dir

    complete_imaging(world)
    folder = settings.data_root / output_dir("ana", "brains", "s1", 1, 1, "1.3x")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "old_result.tif").write_bytes(b"x")
    refused(start(client, act), "The output folder already contains results.")
    nothing_written(world)


def test_a_researcher_may_start_only_with_self_processing_and_others_never(world, client, act, make_user, settings,
                                                                          monkeypatch):  # fmt: skip
    complete_imaging(world)
    make_user("ian", roles=["imaging_staff"])
    login(client, "ian")
    assert client.get(ENTRY).status_code == 403
    assert act(START).status_code == 403
    monkeypatch.setattr(settings, "allow_self_processing", False)
    login(client, "ana")
    assert client.get(ENTRY).status_code == 403
    assert act(START).status_code == 403
    nothing_written(world)
    monkeypatch.setattr(settings, "allow_self_processing", True)
    assert client.get(ENTRY).status_code == 200
    assert act(START, {"notes": ""}).status_code == 303
    assert pr_row(world)["processor"] == "ana"


def test_opening_the_form_assigns_nothing_and_shows_the_sections(world, client):
    complete_imaging(world)
    login(client, "pat")
    html = client.get(ENTRY).get_data(as_text=True)
    assert "Processing entry form" in html and "(1/1) Image resolution: 1.3x" in html
    assert "blending of the light sheets" in html and "detected cells" in html
    assert 'name="atlas|1.3x|0"' in html and "Start processing" in html
    assert pr_row(world)["processor"] is None


def test_start_writes_rows_runs_and_parameter_documents_then_submits(world, client, act, settings, monkeypatch):
    monkeypatch.setattr(settings, "slurm_stage_resources", {"register": {"mem_gb": 48}})
    complete_imaging(world, planes=120)
    resp = start(client, act, notes="please hurry", **{"atlas|1.3x|0": "allen_2011", "orientation|1.3x|0": "sagittal"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/processing/log/{PR_PATH}")
    assert "Processing has started. You will be emailed when it finishes." in client.get(
        resp.headers["Location"]
    ).get_data(as_text=True)
    pr = pr_row(world)
    assert (pr["processing_progress"], pr["processor"], pr["notes_from_processing"]) == (
        "running",
        "pat",
        "please hurry",
    )
    assert pr["started_at"] is not None
    with world.app_context():
        ls = get_schemas().lightsheet
        channels = (ls.Request.ProcessingChannel & PKEY).to_dicts(order_by=["channel_name"])
        rr = (ls.Request.ProcessingResolutionRequest & PKEY).to_dicts()[0]
    got = [(c["channel_name"], c["channel_role"], c["channel_index"], c["intensity_correction"]) for c in channels]
    assert got == [
        ("488", "regch", 0, 1), ("647", "cellch", 2, 1),
    ]  # fmt: skip
    assert all(c["processing_started_at"] for c in channels)
    assert (rr["pipeline_status"], rr["atlas_name"]) == ("running", "allen_2011")
    assert rr["output_dir"] == "ana/brains/s1/imaging_request_1/output/processing_request_1/resolution_1.3x"
    (run,) = runs_of(world)
    assert (run["kind"], run["image_resolution"], run["processing_request_number"], run["created_by"]) == (
        "lavision_pipeline", "1.3x", 1, "pat",
    )  # fmt: skip
    jobs = jobs_of(world, run["run_id"])
    assert [(j["step_name"], j["is_array"], j["array_size"]) for j in jobs] == [
        ("setup", 0, None), ("blend", 1, 3), ("downsize", 1, 2), ("register", 1, 2), ("detect", 1, 1),
    ]  # fmt: skip
    assert [(j["cpus"], j["mem_gb"], j["time_limit"]) for j in jobs] == [
        (1, 4, "00:30:00"), (4, 16, "02:00:00"), (4, 32, "02:00:00"), (8, 48, "06:00:00"), (16, 128, "24:00:00"),
    ]  # fmt: skip
    assert jobs[1]["script_path"].endswith("lib/pipeline/lavision/__main__.py")
    assert jobs[4]["script_path"].endswith("lib/pipeline/registration/__main__.py")
    params = LavisionParams.from_document(run["params"])
    assert params.run_id == run["run_id"] and params.output_dir == settings.data_root / rr["output_dir"]
    assert params.atlas_name == "allen_2011" and params.number_of_z_planes == 120
    assert json.loads((settings.data_root / run["run_dir"] / "params.json").read_text()) == run["params"]
    with world.app_context():
        from lightserv.models import EventLog

        assert EventLog.query.filter_by(action="processing.started").count() == 1
        # after the commit: folders, params.json in the output folder, submission
        from lightserv.runs.submission import launch

        backend = ScriptedBackend()
        assert launch([run["run_id"]], backend) == [run["run_id"]]
    assert json.loads((settings.data_root / rr["output_dir"] / "params.json").read_text())["run_id"] == run["run_id"]
    assert oct((settings.data_root / rr["output_dir"]).stat().st_mode & 0o7777) == "0o2770"
    assert [j["state"] for j in jobs_of(world, run["run_id"])] == ["SUBMITTED"] * 5
    # the form is read-only now and a second start is refused
    html = client.get(ENTRY).get_data(as_text=True)
    assert "Processing is running for this sample. This page is read-only." in html
    assert "Start processing</button>" not in html
    refused(act(START, {"notes": ""}), "Processing is running for this sample.")
    assert len(runs_of(world)) == 1


def test_a_start_that_cannot_be_submitted_fails_the_request_and_tells_staff(world, client, act, app):
    complete_imaging(world)
    start(client, act)
    (run,) = runs_of(world)
    with app.test_request_context():
        from lightserv.runs.submission import launch

        assert launch([run["run_id"]], ScriptedBackend(fail_submit_at=2)) == []
    pr = pr_row(world)
    assert pr["processing_progress"] == "failed"
    assert pr["failure_summary"] == "1.3x: The work could not be handed to the cluster"
    from .conftest import outbox

    subjects = [s for s, _to in outbox(world)]
    assert "lightserv: Could not submit processing jobs" in subjects
    assert "lightserv: Problem processing s1" in subjects
