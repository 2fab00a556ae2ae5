"""Runs of a started processing request on a scripted scheduler:
derived states and their failure summaries, stage triggers, cancel, re-run with edits, stage logs."""

from __future__ import annotations

import pytest

from lightserv.db import get_schemas
from tests.conftest import csrf_from

from .conftest import (
    PKEY,
    PR_PATH,
    complete_imaging,
    jobs_of,
    lavision_request,
    login,
    outbox,
    pr_row,
    runs_of,
    settle,
)

LOG = f"/processing/log/{PR_PATH}"


@pytest.fixture
def started(app, client, make_user, atlas_files, scripted):
    """A 1.3x request (488 registration, 647 cell detection) started by processing staff."""

    def start(tiling: str = "1x1") -> dict:
        make_user("ana")
        make_user("pat", roles=["processing_staff"], email="pat@core.example")
        lavision_request(app)
        complete_imaging(app, tiling=tiling, planes=60)
        login(client, "pat")
        token = csrf_from(client.get(f"/processing/entry/{PR_PATH}").get_data(as_text=True))
        resp = client.post(f"/processing/entry/{PR_PATH}/start", data={"csrf_token": token})
        assert resp.status_code == 303, resp.get_data(as_text=True)[:1000]
        (run,) = runs_of(app, kind="lavision_pipeline")
        return run

    return start


def test_the_running_table_shows_the_current_stage(app, client, started, scripted):
    run = started()
    jobs = jobs_of(app, run["run_id"])
    scripted.set(jobs[0]["slurm_job_id"], "COMPLETED")
    scripted.set(jobs[1]["slurm_job_id"], "RUNNING", array_done=1)
    from lightserv.runs.poller import poll

    with app.test_request_context():
        poll(scripted)
    html = client.get("/processing/queue").get_data(as_text=True)
    assert "1.3x: Stage 2 of 5: blending — running (1/2 tasks)" in html


def test_a_failed_stage_fails_the_request_with_a_plain_reason_and_emails_once(app, client, started, scripted):
    run = started()
    settle(app, scripted, run["run_id"], {0: "TIMEOUT"})
    pr = pr_row(app)
    assert pr["processing_progress"] == "failed"
    assert pr["failure_summary"] == "1.3x: The setup step ran out of time"
    with app.app_context():
        rr = (get_schemas().lightsheet.Request.ProcessingResolutionRequest & PKEY).to_dicts()[0]
    assert rr["pipeline_status"] == "failed"
    settle(app, scripted, run["run_id"], {})  # a later poll changes nothing and emails nobody again
    subjects = [s for s, _to in outbox(app)]
    assert subjects.count("lightserv: Problem processing s1") == 1
    assert subjects.count("lightserv: Processing FAILED: ana/brains/s1 1.3x") == 1
    to = dict(outbox(app))
    assert to["lightserv: Problem processing s1"] == ["ana@test.example"]
    assert "pat@core.example" in to["lightserv: Processing FAILED: ana/brains/s1 1.3x"]
    html = client.get(LOG).get_data(as_text=True)
    assert "1.3x: The setup step ran out of time" in html and "Ran out of time" in html


def test_researchers_read_a_failure_in_words_and_staff_keep_the_scheduler_details(app, client, started, scripted):
    run = started()
    settle(app, scripted, run["run_id"], {0: "OUT_OF_MEMORY"})
    job_id = jobs_of(app, run["run_id"])[0]["slurm_job_id"]
    staff_run = client.get(f"/processing/run/{run['run_id']}").get_data(as_text=True)
    assert job_id in staff_run and "Exit code" in staff_run and "State history" in staff_run
    login(client, "ana")
    for url in (LOG, f"/processing/run/{run['run_id']}"):
        page = client.get(url).get_data(as_text=True)
        assert "The setup step ran out of memory. The facility has been told and is on it." in page, url
        for detail in (job_id, "Slurm", "Exit code", "OUT_OF_MEMORY", "State history", "Code commit",
                       "lavision_pipeline", "gench", "regch"):  # fmt: skip
            assert detail not in page, (url, detail)


def test_tiled_stitching_registers_blended_and_per_sheet_stitched_layers_once(app, started, scripted, settings):
    run = started("2x2")
    assert [j["step_name"] for j in jobs_of(app, run["run_id"])][:2] == ["setup", "stitch"]
    settle(app, scripted, run["run_id"], {0: "COMPLETED", 1: "COMPLETED"})
    settle(app, scripted, run["run_id"], {})  # the trigger fires once per (run, stage)
    with app.app_context():
        layers = (get_schemas().lightsheet.Request.DataLayer & PKEY).to_dicts()
    names = sorted(layer["layer_name"] for layer in layers)
    assert names == ["blended_ch488", "blended_ch647", "stitched_ch488_left", "stitched_ch488_right",
                     "stitched_ch647_left", "stitched_ch647_right"]  # fmt: skip
    assert {layer["status"] for layer in layers} == {"converting"}
    kinds = sorted(r["kind"] for r in runs_of(app) if r["kind"].startswith("precomputed_"))
    assert kinds == ["precomputed_blended"] * 2 + ["precomputed_stitched"] * 4
    blended = next(x for x in layers if x["layer_name"] == "blended_ch488")
    assert blended["source_path"].endswith("resolution_1.3x/full_sizedatafld/acq_ch00")
    assert blended["layer_path"].endswith("viz/processing_request_1/resolution_1.3x/blended/ch488")
    assert pr_row(app)["processing_progress"] == "running"


def test_cancel_fails_the_request_and_a_rerun_with_edits_starts_the_next_attempt(app, client, started, scripted):
    run = started()
    ids = [j["slurm_job_id"] for j in jobs_of(app, run["run_id"])]
    page = client.get(LOG).get_data(as_text=True)
    assert "Cancel run" in page
    resp = client.post(f"/processing/run/{run['run_id']}/cancel", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(LOG)
    cancelled = runs_of(app, run_id=run["run_id"])[0]
    assert (cancelled["status"], cancelled["cancelled_by"]) == ("cancelled", "pat")
    assert sorted(scripted.cancelled) == sorted(ids)
    pr = pr_row(app)
    assert (pr["processing_progress"], pr["failure_summary"]) == ("failed", "1.3x: The facility stopped this run")
    assert "lightserv: Problem processing s1" not in [s for s, _to in outbox(app)]  # staff cancelled: no alarm
    # the atlas may change only when restarting at or before registration
    token = csrf_from(client.get(LOG).get_data(as_text=True))
    refused = client.post(f"/processing/run/{run['run_id']}/rerun",
                          data={"csrf_token": token, "stage": "4", "atlas_name": "allen_2011",
                                "confirm": "1"})  # fmt: skip
    assert refused.status_code == 400
    assert "registration or an earlier stage" in refused.get_data(as_text=True)
    form = {
        "csrf_token": token,
        "stage": "0",
        "atlas_name": "allen_2011",
        "mem|setup": "8",
        "time|register": "10:00:00",
    }
    confirm = client.post(f"/processing/run/{run['run_id']}/rerun", data=form).get_data(as_text=True)
    assert [s for s in ("setup", "blend", "downsize", "register", "detect") if f"<li>{s}</li>" in confirm] == [
        "setup", "blend", "downsize", "register", "detect",
    ]  # fmt: skip
    assert runs_of(app, kind="lavision_pipeline")[-1]["run_id"] == run["run_id"]  # nothing happened yet
    resp = client.post(f"/processing/run/{run['run_id']}/rerun", data={**form, "confirm": "1"})
    assert resp.status_code == 303
    first, second = runs_of(app, kind="lavision_pipeline")
    assert first["superseded_by_run_id"] == second["run_id"] and second["attempt"] == 2
    assert second["params"]["atlas_name"] == "allen_2011"
    assert second["params"]["atlasfile"].endswith("allen_2011/template.tif")
    jobs = {j["step_name"]: j for j in jobs_of(app, second["run_id"])}
    assert jobs["setup"]["mem_gb"] == 8 and jobs["register"]["time_limit"] == "10:00:00"
    assert {j["state"] for j in jobs.values()} == {"SUBMITTED"}
    pr = pr_row(app)
    assert pr["processing_progress"] == "running"
    with app.app_context():
        rr = (get_schemas().lightsheet.Request.ProcessingResolutionRequest & PKEY).to_dicts()[0]
        from lightserv.models import EventLog

        assert EventLog.query.filter_by(action="processing.rerun").count() == 1
        assert EventLog.query.filter_by(action="processing.cancelled").count() == 1
    assert (rr["atlas_name"], rr["pipeline_status"]) == ("allen_2011", "running")


def test_staff_read_the_last_lines_of_a_stage_log_and_researchers_may_not(app, client, started, scripted, settings,
                                                                          make_user):  # fmt: skip
    run = started()
    job = jobs_of(app, run["run_id"])[0]
    stdout = settings.data_root / job["stdout_path"].replace("%A", job["slurm_job_id"]).replace("%a", "4294967294")
    stdout.parent.mkdir(parents=True, exist_ok=True)
    stdout.write_text("\n".join(f"line {i}" for i in range(300)) + "\n")
    html = client.get(f"/processing/run/{run['run_id']}/logs/0").get_data(as_text=True)
    assert "line 299" in html and "line 100" in html and "line 99\n" not in html
    assert client.get(f"/processing/run/{run['run_id']}/logs/9").status_code == 404
    login(client, "ana")
    assert client.get(f"/processing/run/{run['run_id']}/logs/0").status_code == 403
    page = client.get(LOG).get_data(as_text=True)
    assert "Cancel run" not in page and "stdout / stderr" not in page and f"Run {run['run_id']}" in page


def test_a_rerun_moves_the_recomputed_outputs_and_layers_aside_and_retention_removes_them(
    app, client, started, scripted, settings
):
    from lightserv.processing.triggers import remove_superseded

    run = started()
    settle(app, scripted, run["run_id"], {0: "COMPLETED", 1: "COMPLETED"})  # blended layers are registered
    settle(app, scripted, run["run_id"], {2: "FAILED"}, exit_code="1:0")
    out = settings.data_root / run["output_dir"]
    kept = out / "metadata.json"
    kept.write_text("{}")
    planes = out / "full_sizedatafld" / "acq_ch00"
    planes.mkdir(parents=True, exist_ok=True)
    (planes / "plane_0000.tif").write_bytes(b"old")
    with app.app_context():
        layer = (get_schemas().lightsheet.Request.DataLayer & PKEY & {"layer_name": "blended_ch488"}).to_dicts()[0]
    old_layer = settings.data_root / layer["layer_path"]
    old_layer.mkdir(parents=True, exist_ok=True)
    (old_layer / "info").write_text("{}")
    token = csrf_from(client.get(LOG).get_data(as_text=True))
    resp = client.post(
        f"/processing/run/{run['run_id']}/rerun", data={"csrf_token": token, "stage": "1", "confirm": "1"}
    )
    assert resp.status_code == 303
    aside = out / "superseded" / "attempt_1"
    assert (aside / "full_sizedatafld" / "acq_ch00" / "plane_0000.tif").read_bytes() == b"old"
    assert not planes.exists() and kept.exists()  # setup is not recomputed: its output stays
    assert not old_layer.exists()
    viz_aside = list((settings.data_root / "ana/brains/s1/imaging_request_1/viz/.superseded").rglob("info"))
    assert len(viz_aside) == 1
    with app.app_context():
        layers = (get_schemas().lightsheet.Request.DataLayer & PKEY & {"product": "blended"}).to_dicts()
    assert {x["status"] for x in layers} == {"pending"}
    assert [j["step_name"] for j in jobs_of(app, runs_of(app, kind="lavision_pipeline")[-1]["run_id"])] == [
        "blend", "downsize", "register", "detect",
    ]  # fmt: skip
    with app.app_context():
        assert remove_superseded(30) == 0
        assert remove_superseded(-1) == 2
    assert not aside.exists() and not viz_aside[0].exists()


def test_the_daily_reminder_lists_requests_ready_for_a_week_or_running_for_three_days(app, started, scripted):
    import datetime as dt

    from lightserv.processing.tasks import send_waiting_reminder

    started()
    with app.app_context():
        ls = get_schemas().lightsheet
        ls.Request.ProcessingRequest.update1({**PKEY, "started_at": dt.datetime(2020, 1, 1)})
        assert send_waiting_reminder() == 1
        assert send_waiting_reminder() == 1  # the email is sent once a day
    mails = [(s, to) for s, to in outbox(app) if s == "lightserv: Processing requests waiting"]
    assert mails == [("lightserv: Processing requests waiting", ["pat@core.example"])]
