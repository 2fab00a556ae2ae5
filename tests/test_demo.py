"""The demo seed (lightserv/demo): the researcher's list shows a request in every state,
the imaged samples have raw data on disk, the processed sample's raw, stitched, blended, downsized, registered
and cell layers are ready (and the synthetic atlas's overlay is built), and seeding again adds nothing."""

from __future__ import annotations

import json
import re
import time

import pytest

from lib.naming import rawdata_resolution_dir
from tests.support.auth import sign_in
from tests.support.databases import server_connection

ROW_RE = re.compile(r'<tr class="status-(\w+)" id="([^"]+)" data-testid="request-row">(.*?)</tr>', re.S)
#: request row id -> (cleared, imaged, processed, status label) on the researcher's request list
EXPECTED_ROWS = {
    "researcher-demo_pending": ("0/1", "0/1", "0/1", "Pending"),
    "researcher-demo_clearing": ("0/1", "0/1", "0/1", "In progress"),
    "researcher-demo_imaging": ("1/1", "0/1", "0/1", "In progress"),
    "researcher-demo_processing": ("1/1", "1/1", "0/1", "In progress"),
    "researcher-demo_complete": ("1/1", "1/1", "1/1", "Complete"),
    "researcher-demo_failed": ("1/1", "1/1", "0/1", "Needs attention"),
}
IMAGED = {"demo_processing": "mouse_04", "demo_complete": "mouse_05", "demo_failed": "mouse_06"}
#: (resolution, product, channel, light sheet) of every layer of the processed sample
EXPECTED_LAYERS = {
    *{("1.3x", "raw", c, s) for c in ("488", "647") for s in ("left", "right")},
    *{("1.3x", p, c, "none") for p in ("blended", "downsized", "registered") for c in ("488", "647")},
    ("1.3x", "cells", "647", "none"),
    ("1.3x", "cells_registered", "647", "none"),
    *{("4x", "stitched", "555", s) for s in ("left", "right")},
    ("4x", "blended", "555", "none"),
    ("4x", "downsized", "555", "none"),
}


def request_rows(html: str) -> dict[str, tuple[str, str, str, str]]:
    rows = {}
    for _status, row_id, body in ROW_RE.findall(html):
        cells = dict(re.findall(r'data-testid="(cleared|imaged|processed)">([^<]*)<', body))
        label = re.search(r'data-testid="status">([^<]+)<', body).group(1)
        rows[row_id] = (cells["cleared"], cells["imaged"], cells["processed"], label)
    return rows


def row_counts(tables: list[str]) -> dict[str, int]:
    """Rows of every table; the event log without the password events of the accounts part (it sets the demo
    password again on every run)."""
    with server_connection() as conn, conn.cursor() as cur:
        counts = {}
        for table in tables:
            where = " WHERE action <> 'user.password_changed'" if table.endswith("`event_log`") else ""
            cur.execute(f"SELECT COUNT(*) FROM {table}{where}")
            counts[table] = cur.fetchone()[0]
        return counts


@pytest.fixture
def demo_storage(app, settings, monkeypatch, tmp_path):
    """DATA_ROOT, ATLAS_ROOT (empty: the seed installs the synthetic atlas) and the local executor's state
    folder of the seed's own; the allen_2017 row, which the seed gives the synthetic atlas's voxel size, is
    restored afterwards."""
    from lightserv.db import get_schemas

    monkeypatch.setattr(settings, "data_root", tmp_path / "data")
    monkeypatch.setattr(settings, "atlas_root", tmp_path / "atlas")
    monkeypatch.setattr(settings, "local_executor_dir", tmp_path / "executor")
    assert settings.cluster_backend == "local"
    settings.data_root.mkdir()
    with app.app_context():
        before = (get_schemas().lightsheet.Atlas & {"atlas_name": "allen_2017"}).to_dicts()[0]
    yield settings
    with app.app_context():
        get_schemas().lightsheet.Atlas.update1(
            {k: before[k] for k in ("atlas_name", "voxel_x_um", "voxel_y_um", "voxel_z_um")}
        )


def test_the_demo_seed_shows_every_state_with_raw_data_and_a_processed_sample_and_adds_nothing_twice(
    app, client, demo_storage, _table_list, monkeypatch
):
    from lightserv.db import get_schemas
    from lightserv.demo import STATES, seed_demo, seed_demo_requests
    from lightserv.demo.content import SUBFOLDER

    settings = demo_storage
    said: list[str] = []
    with app.app_context():
        seed_demo("demo-password-of-the-test")
        started = time.monotonic()
        first = seed_demo_requests(echo=said.append)  # on the configured back end: the local executor
        took = time.monotonic() - started
    print(f"\ndemo seed: {took:.0f} s")
    assert [(s.name, s.state, s.created) for s in first] == [(f"demo_{state}", state, True) for state in STATES]
    assert [s.link for s in first] == [f"/requests/researcher/demo_{state}" for state in STATES]
    complete = first[STATES.index("complete")]
    assert complete.extra == "layers: /viewer/setup/researcher/demo_complete/mouse_05/1/1"
    assert any("synthetic atlas installed" in line for line in said), said
    assert not any("skipped" in line or "elastix" in line for line in said), said  # registered and cells made

    # what the researcher sees
    sign_in(client, "researcher")
    assert request_rows(client.get("/requests/").get_data(as_text=True)) == EXPECTED_ROWS
    setup = client.get(complete.extra.removeprefix("layers: "))
    assert setup.status_code == 200
    page = setup.get_data(as_text=True)
    assert "registered_ch647_cellch" in page and "Overlay atlas?" in page  # the atlas to lay over the registered

    # raw data on disk for the imaged samples
    for name, sample in IMAGED.items():
        folder = settings.data_root / rawdata_resolution_dir("researcher", name, sample, 1, "1.3x") / SUBFOLDER
        assert len(list(folder.glob("*.ome.tif"))) >= 8, folder

    with app.app_context():
        ls, jobs = get_schemas().lightsheet, get_schemas().jobs
        layers = (ls.Request.DataLayer & {"username": "researcher", "request_name": "demo_complete"}).to_dicts()
        processing = {
            r["request_name"]: r for r in (ls.Request.ProcessingRequest & {"username": "researcher"}).to_dicts()
        }
        queued = (jobs.PipelineRun & {"request_name": "demo_processing"}).to_dicts()
    # the processed sample: every layer ready, with its files
    got = {(r["image_resolution"], r["product"], r["channel_name"], r["lightsheet"]): r["status"] for r in layers}
    assert got == dict.fromkeys(EXPECTED_LAYERS, "ready")
    assert all((settings.data_root / r["layer_path"] / "info").is_file() for r in layers)
    blended = next(r for r in layers if (r["product"], r["channel_name"]) == ("blended", "488"))
    info = json.loads((settings.data_root / blended["layer_path"] / "info").read_text())
    assert info["scales"][0]["size"] == [256, 320, 96]  # x, y, z: big enough to look like a brain
    overlay = settings.atlas_root / "allen_2017" / "precomputed"
    assert (overlay / "info").is_file() and (overlay / "segment_properties" / "info").is_file()
    # the other processing requests: one waits for the worker, one failed with its reason
    assert processing["demo_processing"]["processing_progress"] == "running"
    assert [(r["kind"], r["status"]) for r in queued] == [("lavision_pipeline", "queued")]
    assert processing["demo_failed"]["processing_progress"] == "failed"
    assert processing["demo_failed"]["failure_summary"].startswith("1.3x: The stitching step stopped: raw plane Z"), (
        processing["demo_failed"]
    )
    assert processing["demo_pending"]["processing_progress"] == "pending"

    # seeding again (`flask seed-demo` as `make run` calls it, in DEV) adds nothing and lists the same states
    import lightserv.demo
    from lightserv import create_app

    before = row_counts(_table_list)
    monkeypatch.setattr(lightserv.demo, "demo_password", lambda: "demo-password-of-the-test")
    dev = create_app(settings.model_copy(update={"lightserv_mode": "DEV"}))
    result = dev.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert row_counts(_table_list) == before
    assert "Demo requests of researcher (0 new;" in result.output
    for state in STATES:
        assert re.search(rf"^  demo_{state} +{state} +/requests/researcher/demo_{state}", result.output, re.M), (
            result.output
        )
