"""Submitting a single-tile LaVision sample produces raw layers that read back equal to the synthetic
input, through the engine on the real local executor and on the real one-node Slurm
(stage resources shrunk with SLURM_STAGE_RESOURCES so that the 2-core test node can run them)."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
import tifffile

from lib.naming import rawdata_resolution_dir
from lib.synth import make_brain, write_lavision
from lightserv.db import get_schemas
from lightserv.imaging import sample_services as svc
from lightserv.imaging.batch_services import start_batch
from lightserv.imaging.tasks import run_validation
from lightserv.runs.engine import get_run
from lightserv.runs.poller import poll
from lightserv.runs.submission import submit_run
from tests.factories import channel, new_request, resolution, sample, submit

from .conftest import finish_clearing

KEY = dict(username="ana", request_name="brains", clearing_batch_number=1, imaging_request_number=1,
           imaging_batch_number=1)  # fmt: skip
PLANES = 5


@pytest.fixture
def started(app, make_user):
    make_user("ana")
    make_user("ian", roles=["imaging_staff"])
    wishes = resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))
    submit(app, new_request("ana", "brains", [sample("s1", wishes)]))
    finish_clearing(app)
    with app.test_request_context():
        start_batch(KEY, "ian", frozenset({"imaging_staff"}))


def run_to_the_end(run_ids: set[int], executor, timeout: float = 240) -> set[int]:
    """Submit the runs and poll like the beat task until they settle; returns those still unsettled."""
    for run_id in run_ids:
        submit_run(run_id, executor)
    deadline = time.monotonic() + timeout
    pending = set(run_ids)
    while time.monotonic() < deadline and pending:
        poll(executor)
        pending = {r for r in pending if get_run(r)[0]["status"] not in ("succeeded", "failed")}
        time.sleep(0.5)
    return pending


SMALL = {"*": {"cpus": 1, "mem_gb": 1, "time_limit": "00:10:00"}}


@pytest.mark.parametrize("backend_kind", ["local", "slurm-local"])
def test_a_single_tile_lavision_submit_makes_raw_layers_equal_to_the_input(
    app, settings, started, backends, backend_kind, monkeypatch
):
    from cloudvolume import CloudVolume

    made = backends[backend_kind]
    if not hasattr(made, "impl"):
        pytest.skip(str(made).splitlines()[0])
    executor = made.impl
    monkeypatch.setattr(settings, "slurm_stage_resources", SMALL)

    brain = make_brain((PLANES, 32, 40), seed=5, n_cells=3)
    folder = settings.data_root / rawdata_resolution_dir("ana", "brains", "s1", 1, "1.3x") / "acq"
    shutil.rmtree(folder, ignore_errors=True)  # data_root is shared by the session
    truth = write_lavision(folder, brain, tiling=(1, 1), channels=("488", "647"), n_planes=PLANES, z_step_um=10)
    names_before = sorted(p.name for p in folder.iterdir())
    values = dict(image_orientation="horizontal", left_lightsheet_used="y", right_lightsheet_used="y",
                  tiling_scheme="1x1", tiling_overlap="0", z_step="10", number_of_z_planes=str(PLANES),
                  rawdata_subfolder="acq")  # fmt: skip
    rows = {("1.3x", w, False): values for w in ("488", "647")}
    with app.test_request_context():
        member = svc.submit_sample(KEY, "s1", rows, "", "ian", frozenset({"imaging_staff"}))
        assert run_validation(member, "ian") == 0
        ls = get_schemas().lightsheet
        layers = (ls.Request.DataLayer & {"sample_name": "s1", "product": "raw"}).to_dicts()
        assert sorted(r["layer_name"] for r in layers) == [
            "raw_ch488_left", "raw_ch488_right", "raw_ch647_left", "raw_ch647_right",
        ]  # fmt: skip
        pending = run_to_the_end({r["run_id"] for r in layers}, executor)
        layers = {r["layer_name"]: r for r in (ls.Request.DataLayer & {"sample_name": "s1"}).to_dicts()}
        run_ids = [{"run_id": r} for r in {x["run_id"] for x in layers.values()}]
        jobs = (get_schemas().jobs.PipelineRun.SlurmJob & run_ids).to_dicts()
    assert {(j["cpus"], j["mem_gb"]) for j in jobs} == {(1, 1)}  # SLURM_STAGE_RESOURCES applied
    assert not pending
    assert sorted(p.name for p in folder.iterdir()) == names_before  # raw files untouched
    for wavelength in ("488", "647"):
        for sheet in ("left", "right"):
            layer = layers[f"raw_ch{wavelength}_{sheet}"]
            assert layer["status"] == "ready", layer
            vol = CloudVolume(f"file://{settings.data_root / layer['layer_path']}", mip=0, progress=False)
            data = np.asarray(vol[:, :, :])[..., 0]  # x, y, z
            expected = np.stack(
                [tifffile.imread(truth.path(0, 0, sheet, z, wavelength)) for z in range(PLANES)], axis=-1
            ).transpose(1, 0, 2)
            np.testing.assert_array_equal(data, expected)
    with app.app_context():
        mails = _outbox()
    ready = [m for m in mails if m.template == "raw_data_ready"]
    assert [m.subject for m in ready] == ["lightserv: Raw data ready to view: brains / s1"]  # once, all four ready
    assert "/viewer/setup/raw/ana/brains/s1/1" in ready[0].body_text
    assert not [m for m in mails if "FAILED" in m.subject]


def _outbox():
    from lightserv.extensions import db
    from lightserv.models import EmailOutbox

    return list(db.session.scalars(db.select(EmailOutbox).order_by(EmailOutbox.id)))


def test_a_failed_raw_conversion_tells_staff_the_details_and_the_requester_plainly(
    app, settings, started, backends, make_user
):
    make_user("pat", roles=["processing_staff"], email="pat@core.example")
    executor = backends["local"].impl
    brain = make_brain((PLANES, 32, 40), seed=6, n_cells=3)
    folder = settings.data_root / rawdata_resolution_dir("ana", "brains", "s1", 1, "1.3x") / "acq"
    shutil.rmtree(folder, ignore_errors=True)
    truth = write_lavision(folder, brain, tiling=(1, 1), channels=("488", "647"), n_planes=PLANES, z_step_um=10)
    values = dict(image_orientation="horizontal", left_lightsheet_used="y", right_lightsheet_used="y",
                  tiling_scheme="1x1", tiling_overlap="0", z_step="10", number_of_z_planes=str(PLANES),
                  rawdata_subfolder="acq")  # fmt: skip
    rows = {("1.3x", w, False): values for w in ("488", "647")}
    with app.test_request_context():
        member = svc.submit_sample(KEY, "s1", rows, "", "ian", frozenset({"imaging_staff"}))
        truth.path(0, 0, "left", 2, "647").write_bytes(b"not a tiff")  # damaged after validation
        assert run_validation(member, "ian") == 0
        ls = get_schemas().lightsheet
        layers = (ls.Request.DataLayer & {"sample_name": "s1", "product": "raw"}).to_dicts()
        assert not run_to_the_end({r["run_id"] for r in layers}, executor)
        status = {r["layer_name"]: r["status"] for r in (ls.Request.DataLayer & {"sample_name": "s1"}).to_dicts()}
        mails = _outbox()
    assert status["raw_ch647_left"] == "failed" and status["raw_ch488_left"] == "ready"
    by_template = {m.template: m for m in mails}
    staff = by_template["raw_conversion_failed"]
    assert staff.subject == "lightserv: Raw data conversion FAILED: ana/brains/s1"
    assert staff.to_addrs == ["pat@core.example"]
    assert "channel 647, light sheet left" in staff.body_text and "Slurm job" in staff.body_text
    plain = by_template["raw_conversion_problem"]
    assert plain.subject == "lightserv: Problem preparing your raw-data view" and "Slurm" not in plain.body_text
    assert "raw_data_ready" not in by_template and "run_failed" not in by_template
    assert len([m for m in mails if m.template.startswith("raw_conversion")]) == 2  # once per imaging request
