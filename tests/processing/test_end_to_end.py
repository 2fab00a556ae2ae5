"""Synthetic LaVision samples through every stage:

- a 2x2-tiled, two-sheet, two-channel sample (registration and cell detection) runs setup, stitch,
  downsize, register and detect to completion with every layer and the emails, on the local executor and
  on the real one-node Slurm;
- a single-tile sample: registration fails on a corrupted atlas template and leaves the request failed
  with its reason; after the template is repaired, a re-run from `register` completes it.
"""

from __future__ import annotations

import time

import pytest

from lib.naming import rawdata_resolution_dir
from lightserv.db import get_schemas
from tests.support.atlas import synthetic_atlas_in_place

from .conftest import (
    PKEY,
    PR_PATH,
    complete_imaging,
    lavision_request,
    login,
    outbox,
    pr_row,
    runs_of,
    wait_until_settled,
)

EXPECTED_LAYERS = {
    "blended_ch488", "blended_ch647", "downsized_ch488", "downsized_ch647", "registered_ch488_regch",
    "registered_ch647_cellch", "cells_ch647", "cells_registered_ch647",
}  # fmt: skip


@pytest.fixture
def atlas(app, settings):
    """A small synthetic atlas in place of allen_2017 (files and voxel size), restored afterwards."""
    from lib.synth import make_brain

    brain = make_brain((32, 96, 96), seed=11, voxel_size_um=(5.0, 5.0, 10.0), n_cells=25)
    with synthetic_atlas_in_place(app, settings, brain) as truth:
        yield brain, truth


@pytest.mark.parametrize("cluster", ["local", "slurm-local"], indirect=True)
def test_a_tiled_two_sheet_two_channel_sample_runs_every_stage_to_completion(
    app, client, settings, make_user, cluster, atlas
):
    from lib.synth import write_lavision
    from tests.conftest import csrf_from

    brain, _truth = atlas
    make_user("ana")
    make_user("pat", roles=["processing_staff"])
    lavision_request(app)
    raw = settings.data_root / rawdata_resolution_dir("ana", "brains", "s1", 1, "1.3x") / "acq"
    acquisition = write_lavision(raw, brain, tiling=(2, 2), overlap=0.1, channels=("488", "647"), jitter_px=2,
                                 z_step_um=10.0)  # fmt: skip
    complete_imaging(app, tiling="2x2", planes=acquisition.n_planes, make_folders=False, filters=acquisition.filters)
    login(client, "pat")
    token = csrf_from(client.get(f"/processing/entry/{PR_PATH}").get_data(as_text=True))
    started = time.monotonic()
    assert client.post(f"/processing/entry/{PR_PATH}/start", data={"csrf_token": token}).status_code == 303
    assert wait_until_settled(app, cluster, timeout=400) == "complete", runs_of(app)
    (run,) = runs_of(app, kind="lavision_pipeline")
    assert run["params"]["stages"] == ["setup", "stitch", "downsize", "register", "detect"]
    with app.app_context():
        layers = {r["layer_name"]: r for r in (get_schemas().lightsheet.Request.DataLayer & PKEY).to_dicts()}
    stitched = {f"stitched_ch{c}_{s}" for c in ("488", "647") for s in ("left", "right")}
    assert set(layers) == EXPECTED_LAYERS | stitched
    assert {x["status"] for x in layers.values()} == {"ready"}
    to = {s: t for s, t in outbox(app)}
    assert to["lightserv: Processing complete: brains / s1"] == ["ana@test.example"]
    print(f"\nwhole 2x2 pipeline with conversions: {time.monotonic() - started:.0f} s")


def test_a_single_tile_sample_fails_at_registration_and_a_rerun_from_there_completes_it(
    app, client, settings, make_user, cluster, atlas
):
    from lib.synth import write_lavision

    brain, truth = atlas
    make_user("ana")
    make_user("pat", roles=["processing_staff"], email="pat@core.example")
    lavision_request(app)
    raw = settings.data_root / rawdata_resolution_dir("ana", "brains", "s1", 1, "1.3x") / "acq"
    acquisition = write_lavision(raw, brain, tiling=(1, 1), channels=("488", "647"), z_step_um=10.0)
    complete_imaging(app, planes=acquisition.n_planes, make_folders=False, filters=acquisition.filters)
    template = truth.template_path
    good = template.read_bytes()
    template.write_bytes(b"this is not a TIFF file")  # the corrupted input

    from tests.conftest import csrf_from

    login(client, "pat")
    token = csrf_from(client.get(f"/processing/entry/{PR_PATH}").get_data(as_text=True))
    started = time.monotonic()
    resp = client.post(f"/processing/entry/{PR_PATH}/start", data={"csrf_token": token, "notes": "synthetic"})
    assert resp.status_code == 303
    assert wait_until_settled(app, cluster) == "failed"
    first_attempt = time.monotonic() - started

    (run,) = runs_of(app, kind="lavision_pipeline")
    assert run["status"] == "failed"
    pr = pr_row(app)
    summary = pr["failure_summary"]
    assert summary.startswith("1.3x: The registration step stopped: ") and "exit code" not in summary, summary
    with app.app_context():
        jobs = (get_schemas().jobs.PipelineRun.SlurmJob & {"run_id": run["run_id"]}).to_dicts(order_by=["step_index"])
    assert [j["state"] for j in jobs] == ["COMPLETED", "COMPLETED", "COMPLETED", "FAILED", "CANCELLED"]
    subjects = [s for s, _to in outbox(app)]
    assert "lightserv: Problem processing s1" in subjects
    assert "lightserv: Processing FAILED: ana/brains/s1 1.3x" in subjects
    page = client.get(f"/processing/log/{PR_PATH}").get_data(as_text=True)
    assert "The registration step stopped: " in page and "Re-run from a stage" in page
    assert "Register failed (exit code 2:0)" in page  # staff also see the scheduler's side
    queue = client.get("/processing/queue").get_data(as_text=True)
    assert 'data-testid="queue-attention"' in queue and "The registration step stopped" in queue

    # repair the input, re-run from `register` (stage 4): confirmation, then the new attempt
    template.write_bytes(good)
    token = csrf_from(page)
    confirm = client.post(f"/processing/run/{run['run_id']}/rerun", data={"csrf_token": token, "stage": "3"})
    assert confirm.status_code == 200
    assert "<li>register</li>" in confirm.get_data(as_text=True) and "<li>detect</li>" in confirm.get_data(as_text=True)
    resp = client.post(
        f"/processing/run/{run['run_id']}/rerun", data={"csrf_token": token, "stage": "3", "confirm": "1"}
    )
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/processing/log/{PR_PATH}")
    assert pr_row(app)["processing_progress"] == "running"
    assert wait_until_settled(app, cluster) == "complete"

    runs = runs_of(app, kind="lavision_pipeline")
    assert [(r["attempt"], r["status"], r["start_stage"]) for r in runs] == [(1, "failed", "setup"),
                                                                              (2, "succeeded", "register")]  # fmt: skip
    assert runs[0]["superseded_by_run_id"] == runs[1]["run_id"]
    pr = pr_row(app)
    assert pr["completed_at"] is not None and pr["failure_summary"] == ""
    with app.app_context():
        ls = get_schemas().lightsheet
        layers = {r["layer_name"]: r for r in (ls.Request.DataLayer & PKEY).to_dicts()}
        rr = (ls.Request.ProcessingResolutionRequest & PKEY).to_dicts()[0]
        channels = (ls.Request.ProcessingChannel & PKEY).to_dicts()
    assert set(layers) == EXPECTED_LAYERS
    assert {name: layer["status"] for name, layer in layers.items()} == dict.fromkeys(EXPECTED_LAYERS, "ready")
    assert layers["blended_ch488"]["size_z"] == acquisition.n_planes
    assert layers["cells_ch647"]["layer_type"] == "annotation"
    assert rr["pipeline_status"] == "complete"
    assert all(c["processing_completed_at"] for c in channels)
    to = {s: t for s, t in outbox(app)}
    assert to["lightserv: Processing complete: brains / s1"] == ["ana@test.example"]
    assert "lightserv: All processing for brains is complete" in to
    log = client.get(f"/processing/log/{PR_PATH}").get_data(as_text=True)
    assert "cells_registered_ch647" in log and "Processed channels" in log
    print(f"\nfirst attempt {first_attempt:.0f} s, total {time.monotonic() - started:.0f} s")


def test_a_tiled_sample_without_registration_is_stitched_into_per_sheet_blended_and_downsized_layers(
    app, client, settings, make_user, cluster
):
    from lib.synth import make_brain, write_lavision
    from tests.factories import channel, new_request, resolution, sample, submit

    make_user("ana")
    make_user("pat", roles=["processing_staff"])
    submit(app, new_request("ana", "brains", [sample("s1", resolution("1.3x", channel("488", "generic_imaging")))]))
    brain = make_brain((8, 64, 64), seed=2, voxel_size_um=(5.0, 5.0, 10.0), n_cells=5)
    raw = settings.data_root / rawdata_resolution_dir("ana", "brains", "s1", 1, "1.3x") / "acq"
    acquisition = write_lavision(raw, brain, tiling=(2, 2), overlap=0.1, channels=("488",), z_step_um=10.0)
    complete_imaging(app, tiling="2x2", planes=acquisition.n_planes, make_folders=False, filters=acquisition.filters)

    from tests.conftest import csrf_from

    login(client, "pat")
    token = csrf_from(client.get(f"/processing/entry/{PR_PATH}").get_data(as_text=True))
    assert client.post(f"/processing/entry/{PR_PATH}/start", data={"csrf_token": token}).status_code == 303
    assert wait_until_settled(app, cluster, timeout=180) == "complete", runs_of(app)
    (run,) = runs_of(app, kind="lavision_pipeline")
    assert run["params"]["stages"] == ["setup", "stitch", "downsize"]
    with app.app_context():
        layers = {r["layer_name"]: r for r in (get_schemas().lightsheet.Request.DataLayer & PKEY).to_dicts()}
    assert sorted(layers) == ["blended_ch488", "downsized_ch488", "stitched_ch488_left", "stitched_ch488_right"]
    assert {x["status"] for x in layers.values()} == {"ready"}
    assert layers["stitched_ch488_left"]["size_z"] == acquisition.n_planes
