"""SmartSPIM processing on a scripted scheduler: stitching started at imaging submission,
"Flat-field needed", flat-field checks, destriping runs, the corrected layer, completion and its email."""

from __future__ import annotations

import json

import pytest

from lib.pipeline.params import DestripeParams, SmartspimParams
from lightserv.db import get_schemas
from tests.conftest import csrf_from

from .conftest import (
    PKEY,
    PR_PATH,
    complete_imaging,
    jobs_of,
    login,
    outbox,
    pr_row,
    runs_of,
    settle,
    smartspim_request,
)
from .test_queue import table_rows

ENTRY = f"/processing/entry/{PR_PATH}"


@pytest.fixture
def imaged(app, make_user, scripted):
    make_user("ana")
    make_user("pat", roles=["processing_staff"], email="pat@core.example")
    smartspim_request(app)
    complete_imaging(app, planes=70)
    return scripted


def autostitch(app) -> list[int]:
    from lightserv.processing.pipeline import start_smartspim_stitching

    with app.test_request_context():
        return start_smartspim_stitching("ana", "brains", "s1", 1, 1, "system")


def test_stitching_starts_once_per_resolution_with_the_alignment_channel_recorded(app, imaged):
    (run_id,) = autostitch(app)
    assert autostitch(app) == []  # already started
    (run,) = runs_of(app, kind="smartspim_stitch")
    assert run["run_id"] == run_id and run["output_dir"].endswith("imaging_request_1/rawdata/resolution_3.6x")
    params = SmartspimParams.from_document(run["params"])
    assert [c.wavelength for c in params.channels] == ["642", "488"] and params.alignment_channel.wavelength == "642"
    jobs = jobs_of(app, run_id)
    assert [(j["step_name"], j["array_size"], j["cpus"], j["mem_gb"], j["time_limit"]) for j in jobs] == [
        ("import", 2, 16, 64, "12:00:00"), ("displcompute", None, 16, 64, "12:00:00"),
        ("place", None, 16, 64, "12:00:00"), ("copy_placement", 2, 16, 64, "12:00:00"),
        ("merge", 2, 16, 64, "12:00:00"),
    ]  # fmt: skip
    assert [j["state"] for j in jobs_of(app, run_id)] == ["SUBMITTED"] * 5  # by the launch task after the commit
    with app.app_context():
        ls = get_schemas().lightsheet
        channels = {c["channel_name"]: c for c in (ls.Request.ProcessingChannel & PKEY).to_dicts()}
        rr = (ls.Request.ProcessingResolutionRequest & PKEY).to_dicts()[0]
    assert channels["642"]["is_alignment_channel"] == 1 and channels["488"]["is_alignment_channel"] == 0
    assert rr["pipeline_status"] == "running"
    assert pr_row(app)["processing_progress"] == "pending"  # nobody started processing yet


def test_start_processing_after_auto_stitching_makes_no_second_stitching_run(app, client, imaged):
    autostitch(app)
    login(client, "pat")
    token = csrf_from(client.get(ENTRY).get_data(as_text=True))
    assert client.post(ENTRY + "/start", data={"csrf_token": token}).status_code == 303
    assert len(runs_of(app, kind="smartspim_stitch")) == 1
    assert pr_row(app)["processing_progress"] == "running"


def test_flat_field_then_destriping_then_the_corrected_layers_complete_the_request(app, client, imaged, settings):
    (stitch_id,) = autostitch(app)
    settle(app, imaged, stitch_id, dict.fromkeys(range(5), "COMPLETED"))
    settle(app, imaged, stitch_id, {})
    staff_mail = [(s, to) for s, to in outbox(app) if s.startswith("lightserv: Flat-field needed")]
    assert staff_mail == [("lightserv: Flat-field needed: ana/brains/s1", ["pat@core.example"])]
    login(client, "pat")
    queue = client.get("/processing/queue").get_data(as_text=True)
    assert table_rows(queue, "flatfield") == [PR_PATH]
    page = client.get(ENTRY).get_data(as_text=True)
    assert "Start destriping for all channels" in page and 'name="flat|3.6x|0|642"' in page
    token = csrf_from(page)
    stitched = settings.data_root / runs_of(app, run_id=stitch_id)[0]["output_dir"]

    def post(**fields):
        return client.post(ENTRY + "/flatfield", data={"csrf_token": token, **fields})

    resp = post(action="all|3.6x|0")
    assert resp.status_code == 409
    assert f"Flat-field file flat.tiff was not found in {stitched}/Ex_488_stitched." in resp.get_data(as_text=True)
    resp = post(action="channel|3.6x|0|488", **{"flat|3.6x|0|488": "../flat.tiff"})
    assert resp.status_code == 400 and "bare file name" in resp.get_data(as_text=True)
    assert runs_of(app, kind="smartspim_destripe") == []
    for wavelength, name in (("642", "flat.tiff"), ("488", "flat_488.tiff")):
        (stitched / f"Ex_{wavelength}_stitched").mkdir(parents=True, exist_ok=True)
        (stitched / f"Ex_{wavelength}_stitched" / name).write_bytes(b"flat")
    resp = post(action="all|3.6x|0", **{"flat|3.6x|0|488": "flat_488.tiff"})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    destripes = runs_of(app, kind="smartspim_destripe")
    assert sorted(r["channel_name"] for r in destripes) == ["488", "642"]
    for r in destripes:
        params = DestripeParams.from_document(r["params"])
        assert params.output_dir == settings.data_root / r["output_dir"]
        assert r["output_dir"].endswith(f"Ex_{r['channel_name']}_corrected")
        assert [(j["step_name"], j["array_size"], j["cpus"]) for j in jobs_of(app, r["run_id"])] == [
            ("destripe", 2, 32)
        ]
    with app.app_context():
        channels = {
            c["channel_name"]: c for c in (get_schemas().lightsheet.Request.ProcessingChannel & PKEY).to_dicts()
        }
    assert (
        channels["488"]["flatfield_filename"] == "flat_488.tiff"
        and channels["642"]["flatfield_filename"] == "flat.tiff"
    )
    pr = pr_row(app)
    assert (pr["processing_progress"], pr["processor"]) == ("running", "pat")  # the actor became the processor
    assert table_rows(client.get("/processing/queue").get_data(as_text=True), "flatfield") == []
    assert post(action="channel|3.6x|0|488").status_code == 409  # already started

    for r in destripes:
        settle(app, imaged, r["run_id"], {0: "COMPLETED"})
    conversions = runs_of(app, kind="precomputed_corrected")
    assert len(conversions) == 2
    assert [j["step_name"] for j in jobs_of(app, conversions[0]["run_id"])] == ["info", "upload", "downsample"]
    assert conversions[0]["params"]["voxel_size_nm"] == [1866.0, 1866.0, 10000.0]
    assert pr_row(app)["processing_progress"] == "running"
    for r in conversions:  # the conversion wrote its layer
        layer = settings.data_root / r["output_dir"]
        layer.mkdir(parents=True, exist_ok=True)
        (layer / "info").write_text(json.dumps(
            {"data_type": "uint16", "scales": [{"resolution": [1866, 1866, 10000], "size": [64, 64, 70]}] * 6}
        ))  # fmt: skip
        settle(app, imaged, r["run_id"], dict.fromkeys(range(3), "COMPLETED"))
    pr = pr_row(app)
    assert pr["processing_progress"] == "complete" and pr["completed_at"] is not None
    subjects = [s for s, _to in outbox(app)]
    assert "lightserv: Processing complete: brains / s1" in subjects
    page = client.get(ENTRY).get_data(as_text=True)
    assert page.count("<td>Ready</td>") == 2


def test_without_auto_stitching_start_processing_starts_the_stitching(app, client, imaged):
    login(client, "pat")
    token = csrf_from(client.get(ENTRY).get_data(as_text=True))
    assert client.post(ENTRY + "/start", data={"csrf_token": token}).status_code == 303
    (run,) = runs_of(app, kind="smartspim_stitch")
    assert (run["created_by"], run["processing_request_number"]) == ("pat", 1)
    with app.app_context():
        channels = (get_schemas().lightsheet.Request.ProcessingChannel & PKEY).to_dicts()
    assert all(c["processing_started_at"] for c in channels) and len(channels) == 2
    page = client.get(ENTRY).get_data(as_text=True)
    assert "Flat-field files can be entered once stitching has succeeded." in page
