"""A small synthetic 2x2 SmartSPIM sample on the real local executor and the real one-node Slurm: stitching started as
at imaging submission, "Flat-field needed", flat-field files
entered, destriping per channel, the corrected layers, and the request complete with its email."""

from __future__ import annotations

import shutil
import time

import pytest

from lib.naming import rawdata_resolution_dir
from lightserv.db import get_schemas
from tests.conftest import csrf_from

from .conftest import (
    PKEY,
    PR_PATH,
    complete_imaging,
    login,
    outbox,
    pr_row,
    runs_of,
    smartspim_request,
    wait_until_settled,
)


def wait_for_run(app, executor, run_id: int, timeout: float = 300.0) -> str:
    from lightserv.runs.poller import poll

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.test_request_context():
            poll(executor)
        status = runs_of(app, run_id=run_id)[0]["status"]
        if status in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish in {timeout:.0f} s")


@pytest.mark.parametrize("cluster", ["local", "slurm-local"], indirect=True)
def test_a_tiled_smartspim_sample_is_stitched_destriped_and_converted(
    app,
    client,
    settings,
    make_user,
    cluster,
    monkeypatch,
):
    from lib.synth import make_brain, write_smartspim
    from lightserv.processing.pipeline import start_smartspim_stitching

    monkeypatch.setattr(settings, "pixel_size_um", {**settings.pixel_size_um, "3.6x": 5.0})
    make_user("ana")
    make_user("pat", roles=["processing_staff"], email="pat@core.example")
    smartspim_request(app)
    brain = make_brain((12, 72, 72), seed=5, voxel_size_um=(5.0, 5.0, 10.0), n_cells=5)
    folder = settings.data_root / rawdata_resolution_dir("ana", "brains", "s1", 1, "3.6x")
    truth = write_smartspim(folder, brain, tiling=(2, 2), channels=("488", "642"),
                            subfolders={"488": "Ex_488", "642": "Ex_642"})  # fmt: skip
    complete_imaging(app, tiling="2x2", planes=truth.n_planes, make_folders=False)

    with app.test_request_context():  # what imaging submission does with SMARTSPIM_AUTOSTITCH on
        (stitch_id,) = start_smartspim_stitching("ana", "brains", "s1", 1, 1, "system")
    assert wait_for_run(app, cluster, stitch_id) == "succeeded", runs_of(app, run_id=stitch_id)
    assert ("lightserv: Flat-field needed: ana/brains/s1", ["pat@core.example"]) in outbox(app)
    for wavelength in ("488", "642"):
        stitched = folder / f"Ex_{wavelength}_stitched"
        assert len(list(stitched.glob("plane_*.tif"))) == truth.n_planes
        shutil.copy(folder / f"Ex_{wavelength}" / "flat.tiff", stitched / "flat.tiff")

    login(client, "pat")
    token = csrf_from(client.get(f"/processing/entry/{PR_PATH}").get_data(as_text=True))
    resp = client.post(f"/processing/entry/{PR_PATH}/flatfield", data={"csrf_token": token, "action": "all|3.6x|0"})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    assert wait_until_settled(app, cluster, timeout=300) == "complete", runs_of(app)
    assert {r["status"] for r in runs_of(app)} == {"succeeded"}
    for wavelength in ("488", "642"):
        assert len(list((folder / f"Ex_{wavelength}_corrected").glob("*.tif"))) == truth.n_planes
    with app.app_context():
        layers = (get_schemas().lightsheet.Request.DataLayer & PKEY).to_dicts()
    assert sorted((x["layer_name"], x["status"], x["size_z"]) for x in layers) == [
        ("corrected_ch488", "ready", truth.n_planes), ("corrected_ch642", "ready", truth.n_planes),
    ]  # fmt: skip
    assert pr_row(app)["processor"] == "pat"
    assert "lightserv: Processing complete: brains / s1" in [s for s, _to in outbox(app)]
