"""A layer from raw planes to `ready` through the engine and the real local executor."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lib.cluster import LocalExecutor
from lib.synth import write_plane_stack
from lightserv.db import get_schemas
from lightserv.layers.services import LayerTarget, convert_image_layer
from lightserv.runs.engine import get_run
from lightserv.runs.poller import poll
from lightserv.runs.submission import submit_run
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

    # each further scale halves x and y only and averages 2x2 blocks
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


def test_one_channel_at_two_resolutions_becomes_two_layers_each_equal_to_its_own_planes(
    app, settings, tmp_path, make_user
):
    """Regression: the conversion's resume folder was keyed by layer name and attempt only, so the second
    resolution of a channel "resumed" the first one's finished slabs, wrote nothing and failed downsampling."""
    from cloudvolume import CloudVolume

    make_user("ana")
    wishes = [resolution("1.3x", channel("488", "registration")), resolution("4x", channel("488"))]
    submit(app, new_request("ana", "brains", [sample("s1", *wishes)]))
    executor = LocalExecutor(tmp_path / "executor")
    stacks, runs = {}, {}
    with app.test_request_context():
        for res, seed in (("1.3x", 3), ("4x", 4)):
            source = f"ana/brains/s1/imaging_request_1/rawdata/resolution_{res}/two_resolutions"
            stacks[res] = write_plane_stack(settings.data_root / source, (8, 64, 48), pattern="noise", seed=seed)
            target = LayerTarget("ana", "brains", "s1", 1, res, "488", "raw", lightsheet="left")
            runs[res] = convert_image_layer(target, source, voxel_size_nm=(5000.0, 5000.0, 10000.0), n_planes=8)
            submit_run(runs[res], executor)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            poll(executor)
            states = {res: get_run(run_id)[0]["status"] for res, run_id in runs.items()}
            if all(s in ("succeeded", "failed") for s in states.values()):
                break
            time.sleep(0.5)
        data_layer = get_schemas().lightsheet.Request.DataLayer
        layers = {res: (data_layer & {"run_id": r}).to_dicts()[0] for res, r in runs.items()}
    executor.close()
    assert states == {"1.3x": "succeeded", "4x": "succeeded"}
    import tifffile

    for res, layer in layers.items():
        assert layer["status"] == "ready"
        data = np.asarray(CloudVolume(f"file://{settings.data_root / layer['layer_path']}", progress=False)[:, :, :])
        expected = np.stack([tifffile.imread(f) for f in stacks[res].files], axis=-1).transpose(1, 0, 2)
        np.testing.assert_array_equal(data[..., 0], expected)
