"""A layer from raw planes to `ready` through the engine and the real local executor (processing.md §7)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lib.cluster import LocalExecutor
from lib.synth import write_plane_stack
from lightserv.db import get_schemas
from lightserv.layers.services import LayerTarget, convert_image_layer
from lightserv.runs.engine import get_run, submit_run
from lightserv.runs.poller import poll
from tests.factories import channel, new_request, resolution, sample, submit


@pytest.fixture
def request_with_channel(app, make_user):
    make_user("ana")
    submit(app, new_request("ana", "brains", [sample("s1", resolution("1.3x", channel("488", "registration")))]))


def test_raw_planes_become_a_ready_layer_equal_to_the_input(app, settings, tmp_path, request_with_channel):
    from cloudvolume import CloudVolume

    source = "ana/brains/s1/imaging_request_1/rawdata/resolution_1.3x/stack"
    stack = write_plane_stack(settings.data_root / source, (20, 96, 80), pattern="noise", seed=3)
    target = LayerTarget("ana", "brains", "s1", 1, "1.3x", "488", "raw", lightsheet="left")
    executor = LocalExecutor(tmp_path / "executor")
    with app.test_request_context():
        run_id = convert_image_layer(target, source, voxel_size_nm=(5000.0, 5000.0, 10000.0), n_planes=20)
        submit_run(run_id, executor)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            poll(executor)
            run = get_run(run_id)[0]
            if run["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        layer = (get_schemas().lightsheet.Request.DataLayer & {"run_id": run_id}).to_dicts()[0]
    executor.close()
    assert run["status"] == "succeeded", run["failure_reason"]
    assert layer["status"] == "ready" and layer["layer_name"] == "raw_ch488_left"
    assert (layer["size_x"], layer["size_y"], layer["size_z"]) == (80, 96, 20)
    assert (layer["voxel_x_nm"], layer["voxel_z_nm"]) == (5000.0, 10000.0) and layer["num_scales"] == 5
    vol = CloudVolume(f"file://{settings.data_root / layer['layer_path']}", mip=0, progress=False)
    data = np.asarray(vol[:, :, :])[..., 0]  # x, y, z
    import tifffile

    expected = np.stack([tifffile.imread(f) for f in stack.files], axis=-1).transpose(1, 0, 2)
    np.testing.assert_array_equal(data, expected)

    # each further scale halves x and y only and averages 2x2 blocks (viewer.md §3)
    for mip in range(1, 5):
        lower = np.asarray(
            CloudVolume(f"file://{settings.data_root / layer['layer_path']}", mip=mip - 1, progress=False)[:, :, :]
        )[..., 0].astype(float)
        upper = np.asarray(
            CloudVolume(f"file://{settings.data_root / layer['layer_path']}", mip=mip, progress=False)[:, :, :]
        )[..., 0].astype(float)
        nx, ny = lower.shape[0] // 2, lower.shape[1] // 2
        mean = lower[: 2 * nx, : 2 * ny].reshape(nx, 2, ny, 2, -1).mean(axis=(1, 3))
        assert upper.shape[2] == lower.shape[2]
        assert np.abs(upper[:nx, :ny] - mean).max() <= 1.0
