"""The viewer side as the tests run it: the launcher's token, the allowed-root layers, configurable-http-proxy
from var/node (skipped, naming it, when node or the package is missing) and the real launcher under gunicorn.

A pytest plugin (named in tests/conftest.py): the launcher's own tests, the app's viewer tests, the end-to-end
journey and the slow tier share these fixtures.
"""

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

from tests.support import processes
from tests.support.layers import image_volume, write_atlas_layer, write_cells_layer, write_image_layer
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
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


def viewer_settings_for(launcher_service: LauncherService, chp) -> dict[str, str]:
    """The app's settings that point it at the real launcher and proxy."""
    return dict(
        viewer_launcher_url=launcher_service.url,
        viewer_launcher_token=TOKEN,
        viewer_proxy_api_url=chp.api_url,
        configproxy_auth_token=PROXY_TOKEN,
        public_base_url=chp.public_url,
    )


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


@contextlib.contextmanager
def product_behind_proxy(
    chp, env: dict[str, str], log_root: Path, *, worker: str = "worker", concurrency: int = 1, beat: bool = False
) -> Iterator[list[processes.Proc]]:
    """gunicorn (two workers) and a Celery worker (and Celery beat when `beat`) on `env`, the web application
    behind the session's proxy; yields the programs (web first) once the public login page answers, and stops
    them all afterwards."""
    web_port = free_port()
    procs = [processes.gunicorn(env, web_port, log_root / "web", workers=2)]
    try:
        procs.append(processes.celery_worker(env, log_root / "worker", name=worker, concurrency=concurrency))
        if beat:
            procs.append(processes.celery_beat(env, log_root / "beat"))
        with site_behind_proxy(chp, web_port):
            processes.wait_http(chp.public_url + "/login", timeout=60, proc=procs[0])
            yield procs
    finally:
        for proc in reversed(procs):
            proc.stop()
