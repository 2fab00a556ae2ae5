"""Fixtures of the viewer tests: small real layers, the launcher (in-process for its API tests, under gunicorn
for the app's), configurable-http-proxy from var/node (tests skip, naming it, when node or the package is
missing), and request rows whose layers are ready."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.conftest import ROOT, free_port
from tests.support import processes

from .layers import image_volume, write_atlas_layer, write_cells_layer, write_image_layer

LAUNCHER_DIR = ROOT / "viewer-launcher"
if str(LAUNCHER_DIR) not in sys.path:
    sys.path.insert(0, str(LAUNCHER_DIR))

TOKEN = secrets.token_urlsafe(32)
PROXY_TOKEN = secrets.token_hex(32)
#: the public address the in-process launcher's sessions name (its API tests talk to the servers directly)
PUBLIC_BASE_URL = "http://127.0.0.1:8000"


def sid() -> str:
    return secrets.token_hex(16)


def auth(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def server_processes(state_dir: Path) -> list[psutil.Process]:
    """Viewer server programs started by the process back end whose state folder is `state_dir` and still
    running (the back end runs them with that folder's `process/` as working directory)."""
    programs = [f"{ROOT}/{p}/server.py" for p in ("cloudvolume", "neuroglancer", "neuroglancer-registration")]
    found = []
    for proc in psutil.process_iter(["cmdline", "status", "cwd"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if proc.info.get("status") == psutil.STATUS_ZOMBIE or not any(p in cmd for p in programs):
            continue
        if str(proc.info.get("cwd") or "").startswith(str(state_dir)):
            found.append(proc)
    return found


@pytest.fixture(scope="session")
def layer_dir(tmp_path_factory) -> Path:
    """An allowed root with an image layer, a second image, an atlas, cells, and a layer cloud-volume refuses."""
    root = tmp_path_factory.mktemp("layers")
    write_image_layer(root / "img")
    write_image_layer(root / "img2", image_volume(value=2000, block=(8, 40, 8, 40)))
    write_atlas_layer(root / "atlas")
    write_cells_layer(root / "cells", [(40.0, 30.0, 2.0), (80.0, 60.0, 3.0)])
    broken = root / "broken"
    broken.mkdir()
    # a well-formed info whose data is missing: the server refuses it at start (it never fabricates a volume)
    (broken / "info").write_text(
        '{"@type": "neuroglancer_multiscale_volume", "type": "image", "data_type": "uint16", "num_channels": 1,'
        ' "scales": [{"key": "1_1_1", "resolution": [1, 1, 1], "size": [4, 4, 4], "voxel_offset": [0, 0, 0],'
        ' "chunk_sizes": [[4, 4, 4]], "encoding": "raw"}]}'
    )
    (root / "not_a_layer").mkdir()
    return root


@pytest.fixture
def launcher_config(tmp_path, layer_dir):
    from viewer_launcher import LauncherConfig

    return LauncherConfig(
        token=TOKEN, allowed_roots=(layer_dir,), public_base_url=PUBLIC_BASE_URL, mode="TEST",
        state_dir=tmp_path / "launcher-state", ready_timeout=30.0, sweep_min_age=600.0,
    )  # fmt: skip


@pytest.fixture
def launcher(launcher_config):
    """The launcher's Flask app with the real process back end; every session it started is removed after."""
    from viewer_launcher import create_app

    app = create_app(launcher_config)
    yield app
    manager = app.extensions["viewer_launcher"]
    for session in manager.sessions():
        manager.delete(session["session_id"])


@pytest.fixture(scope="session")
def chp(tmp_path_factory):
    """configurable-http-proxy on free loopback ports (skipped, naming it, when not installed)."""
    from lib.proxy import ProxyUnavailable, start_proxy

    try:
        proxy = start_proxy(free_port(), free_port(), PROXY_TOKEN, tmp_path_factory.mktemp("chp") / "chp.log")
    except ProxyUnavailable as exc:
        pytest.skip(f"configurable-http-proxy unavailable: {exc}")
    yield proxy
    proxy.stop()


@dataclass(frozen=True)
class LauncherService:
    url: str
    state_dir: Path


@pytest.fixture(scope="session")
def launcher_service(settings, chp, tmp_path_factory):
    """The real launcher under gunicorn (`python -m viewer_launcher`), process back end, allowed roots = the
    test DATA_ROOT and ATLAS_ROOT, sessions on the session's proxy (`chp`)."""
    port = free_port()
    state = tmp_path_factory.mktemp("launcher")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VIEWER_"))}
    env.update(
        VIEWER_LAUNCHER_TOKEN=TOKEN,
        ALLOWED_MOUNT_ROOTS=f"{settings.data_root}{os.pathsep}{settings.atlas_root}",
        PUBLIC_BASE_URL=chp.public_url,
        LIGHTSERV_MODE="TEST",
        VIEWER_LAUNCHER_STATE_DIR=str(state),
        VIEWER_LAUNCHER_BACKEND="process",
        VIEWER_READY_TIMEOUT_SECONDS="30",
        VIEWER_SWEEP_MIN_AGE_SECONDS="0.5",
        PYTHONPATH=str(LAUNCHER_DIR),
    )
    proc = processes.Proc(
        "viewer-launcher",
        [sys.executable, "-m", "viewer_launcher", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env,
        state / "log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        processes.wait_http(url + "/healthz", timeout=60, proc=proc)
        yield LauncherService(url, state)
    finally:
        import requests

        try:
            for s in requests.get(url + "/v1/sessions", headers=auth(), timeout=10).json()["sessions"]:
                requests.delete(f"{url}/v1/sessions/{s['session_id']}", headers=auth(), timeout=30)
        except Exception:  # noqa: BLE001 - best effort before stopping
            pass
        proc.stop()


@pytest.fixture
def viewer_settings(settings, monkeypatch, launcher_service, chp):
    """The app's settings pointed at the real launcher and proxy for one test."""
    monkeypatch.setattr(settings, "viewer_launcher_url", launcher_service.url)
    monkeypatch.setattr(settings, "viewer_launcher_token", TOKEN)
    monkeypatch.setattr(settings, "viewer_proxy_api_url", chp.api_url)
    monkeypatch.setattr(settings, "configproxy_auth_token", PROXY_TOKEN)
    monkeypatch.setattr(settings, "public_base_url", chp.public_url)
    return settings


# --- a request with layers ---------------------------------------------------------------------------

OWNER, REQUEST, SAMPLE = "ana", "brains", "s1"
IKEY = dict(username=OWNER, request_name=REQUEST, sample_name=SAMPLE, imaging_request_number=1)
PKEY = dict(IKEY, processing_request_number=1)
RAW_SETUP = f"/viewer/setup/raw/{OWNER}/{REQUEST}/{SAMPLE}/1"
#: cells (voxels x, y, z) drawn in the middle plane, away from the bright blocks
CELLS = [(20.5, 20.5, 3.5), (24.5, 70.5, 3.5), (110.5, 20.5, 3.5)]
SETUP = f"/viewer/setup/{OWNER}/{REQUEST}/{SAMPLE}/1/1"


class World:
    """Request `ana/brains` (sample s1, 1.3x, channels 488 registration and 647 cell detection, imaging
    complete) and a helper that registers a DataLayer with real files on disk."""

    def __init__(self, app):
        self.app = app
        self.settings = app.config["SETTINGS"]

    def layer(self, product: str, channel: str, sheet: str = "none", status: str = "ready", role: str = "",
              ventral_up: bool = False, build: bool = True) -> dict:  # fmt: skip
        from lightserv.db import get_schemas
        from lightserv.layers.services import LayerTarget

        target = LayerTarget(OWNER, REQUEST, SAMPLE, 1, "1.3x", channel, product, lightsheet=sheet,
                             ventral_up=ventral_up, processing_request_number=0 if product == "raw" else 1,
                             role=role)  # fmt: skip
        folder = self.settings.data_root / target.folder()
        kind = "annotation" if product in ("cells", "cells_registered") else "image"
        if build and status == "ready":
            if kind == "annotation":
                write_cells_layer(folder, CELLS)
            else:
                write_image_layer(folder)
        row = dict(target.key(), layer_name=target.name(), layer_type=kind, layer_path=str(target.folder()),
                   source_path=f"{OWNER}/{REQUEST}/{SAMPLE}/imaging_request_1/rawdata/resolution_1.3x/ch{channel}",
                   status=status, data_type="uint16", voxel_x_nm=5000.0, voxel_y_nm=5000.0, voxel_z_nm=10000.0,
                   size_x=128, size_y=96, size_z=6, num_scales=2, run_id=None, created_at=_now(), ready_at=None,
                   failure_reason="")  # fmt: skip
        with self.app.app_context():
            table = get_schemas().lightsheet.Request.DataLayer
            if table & target.key():
                (table & target.key()).delete(prompt=False, part_integrity="ignore")
            table.insert1(row)
        return row

    def set_status(self, layer: dict, status: str) -> None:
        from lightserv.db import get_schemas
        from lightserv.layers.services import LAYER_KEY

        with self.app.app_context():
            get_schemas().lightsheet.Request.DataLayer.update1({**{k: layer[k] for k in LAYER_KEY}, "status": status})

    def imaging(self, **values) -> None:
        from lightserv.db import get_schemas

        with self.app.app_context():
            get_schemas().lightsheet.Request.ImagingRequest.update1({**IKEY, **values})

    def channel(self, channel: str, **values) -> None:
        from lightserv.db import get_schemas

        key = dict(IKEY, image_resolution="1.3x", channel_name=channel, ventral_up=0)
        with self.app.app_context():
            get_schemas().lightsheet.Request.ImagingChannel.update1({**key, **values})


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


@pytest.fixture(scope="session")
def atlas_installed(settings):
    """The synthetic atlas overlay where the seeded Atlas row says allen_2017's layer is."""
    return write_atlas_layer(settings.atlas_root / "allen_2017" / "precomputed")


@pytest.fixture
def world(app, make_user, atlas_installed):
    import shutil

    from tests.factories import channel, new_request, resolution, sample, submit

    make_user(OWNER)
    wishes = resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))
    submit(app, new_request(OWNER, REQUEST, [sample(SAMPLE, wishes)]))
    w = World(app)
    w.imaging(imaging_progress="complete")
    yield w
    shutil.rmtree(app.config["SETTINGS"].data_root / OWNER, ignore_errors=True)


@contextlib.contextmanager
def site_behind_proxy(chp, web_port: int) -> Iterator[str]:
    """The session's proxy forwards everything that is not a viewer route to the web application on
    `web_port` (as the host proxy does in production); yields the public address."""
    client = chp.client()
    client.add_route("/", f"http://127.0.0.1:{web_port}")
    try:
        yield chp.public_url
    finally:
        client.delete_route("/")
