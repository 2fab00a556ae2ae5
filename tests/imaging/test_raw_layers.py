"""Submitting a single-tile LaVision sample produces raw layers that read back equal to the synthetic
input (imaging.md §9.1), through the engine and the real local executor (the Slurm variant is not done yet)."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
import tifffile

from lib.cluster import LocalExecutor
from lib.naming import rawdata_resolution_dir
from lib.synth import make_brain, write_lavision
from lightserv.db import get_schemas
from lightserv.imaging import sample_services as svc
from lightserv.imaging.batch_services import start_batch
from lightserv.imaging.tasks import run_validation
from lightserv.runs.engine import get_run, submit_run
from lightserv.runs.poller import poll
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


def test_a_single_tile_lavision_submit_makes_raw_layers_equal_to_the_input(app, settings, tmp_path, started):
    from cloudvolume import CloudVolume

    brain = make_brain((PLANES, 32, 40), seed=5, n_cells=3)
    folder = settings.data_root / rawdata_resolution_dir("ana", "brains", "s1", 1, "1.3x") / "acq"
    shutil.rmtree(folder, ignore_errors=True)  # data_root is shared by the session
    truth = write_lavision(folder, brain, tiling=(1, 1), channels=("488", "647"), n_planes=PLANES, z_step_um=10)
    names_before = sorted(p.name for p in folder.iterdir())
    values = dict(image_orientation="horizontal", left_lightsheet_used="y", right_lightsheet_used="y",
                  tiling_scheme="1x1", tiling_overlap="0", z_step="10", number_of_z_planes=str(PLANES),
                  rawdata_subfolder="acq")  # fmt: skip
    rows = {("1.3x", w, False): values for w in ("488", "647")}
    executor = LocalExecutor(tmp_path / "executor")
    with app.test_request_context():
        member = svc.submit_sample(KEY, "s1", rows, "", "ian", frozenset({"imaging_staff"}))
        assert run_validation(member, "ian") == 0
        ls = get_schemas().lightsheet
        layers = (ls.Request.DataLayer & {"sample_name": "s1", "product": "raw"}).to_dicts()
        assert sorted(r["layer_name"] for r in layers) == [
            "raw_ch488_left", "raw_ch488_right", "raw_ch647_left", "raw_ch647_right",
        ]  # fmt: skip
        pending = {r["run_id"] for r in layers}
        for run_id in pending:
            submit_run(run_id, executor)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and pending:
            poll(executor)
            pending = {r for r in pending if get_run(r)[0]["status"] not in ("succeeded", "failed")}
            time.sleep(0.5)
        layers = {r["layer_name"]: r for r in (ls.Request.DataLayer & {"sample_name": "s1"}).to_dicts()}
    executor.close()
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
