"""The viewer-launcher's API with the real `process` back end: the token, the input checks,
the mount roots, and sessions that start, answer, list, stop and leave nothing behind."""

from __future__ import annotations

import logging
import os
import secrets
import time
import urllib.error
import urllib.request

import psutil
import pytest

from lib import viewer_access
from tests.support.launcher import PUBLIC_BASE_URL, TOKEN, auth, server_processes, sid


def body(layer_dir, session_id=None, layers=None, **ng):
    default = [{"name": "img", "type": "image", "host_path": str(layer_dir / "img")}]
    return {
        "session_id": session_id or sid(),
        "owner": "alice",
        "variant": "general",
        "layers": layers if layers is not None else default,
        "access_key": secrets.token_hex(32),
        "neuroglancer": {"token": sid(), "public_base_url": PUBLIC_BASE_URL, "layout": None, "gain": 45, **ng},
    }  # fmt: skip


def cookie_for(doc: dict) -> str:
    """The access cookie the portal would give the session's owner."""
    value = viewer_access.cookie_value(doc["access_key"], doc["session_id"], int(time.time()) + 600)
    return f"{viewer_access.COOKIE}={value}"


BAD_HEADERS = [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Bearer {TOKEN}x"},
               {"Authorization": f"Basic {TOKEN}"}]  # fmt: skip


@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_every_endpoint_but_healthz_needs_the_token(launcher, layer_dir, headers):
    client = launcher.test_client()
    s = sid()
    assert client.get("/healthz").status_code == 200
    assert client.get("/v1/sessions", headers=headers).status_code == 401
    assert client.get(f"/v1/sessions/{s}", headers=headers).status_code == 401
    assert client.delete(f"/v1/sessions/{s}", headers=headers).status_code == 401
    assert client.post("/v1/sweep", json={"keep": []}, headers=headers).status_code == 401
    resp = client.post("/v1/sessions", json=body(layer_dir), headers=headers)
    assert resp.status_code == 401 and resp.json == {"error": "unauthorized"}
    assert client.get("/v1/sessions", headers=auth()).json == {"sessions": []}  # nothing was started


def test_a_short_token_stops_the_launcher_at_start_naming_the_setting(tmp_path):
    from viewer_launcher import ConfigError, LauncherConfig

    with pytest.raises(ConfigError, match="VIEWER_LAUNCHER_TOKEN"):
        LauncherConfig.from_env({"VIEWER_LAUNCHER_TOKEN": "short", "ALLOWED_MOUNT_ROOTS": str(tmp_path)})
    with pytest.raises(ConfigError, match="ALLOWED_MOUNT_ROOTS"):
        LauncherConfig.from_env({"VIEWER_LAUNCHER_TOKEN": TOKEN})
    for base in ("", "javascript:alert(1)", "ftp://example.org"):
        with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
            LauncherConfig.from_env({"VIEWER_LAUNCHER_TOKEN": TOKEN, "ALLOWED_MOUNT_ROOTS": str(tmp_path),
                                     "PUBLIC_BASE_URL": base})  # fmt: skip
    with pytest.raises(ConfigError, match="VIEWER_CONTAINER_UID"):
        LauncherConfig.from_env({"VIEWER_LAUNCHER_TOKEN": TOKEN, "ALLOWED_MOUNT_ROOTS": str(tmp_path),
                                 "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
                                 "VIEWER_LAUNCHER_BACKEND": "docker", "CLOUDVOLUME_IMAGE": "cv:1",
                                 "NEUROGLANCER_IMAGE_GENERAL": "ng:1", "NEUROGLANCER_IMAGE_REGISTRATION": "ngr:1",
                                 "VIEWER_CONTAINER_UID": "0"})  # fmt: skip


def test_paths_outside_the_allowed_roots_are_refused_naming_the_layer(launcher, layer_dir, tmp_path):
    client = launcher.test_client()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "info").write_text("{}")
    escape = layer_dir / f"escape-{os.getpid()}"
    if not escape.exists():
        escape.symlink_to(outside)  # a link inside the root pointing out of it
    cases = {
        str(outside): "outside the allowed mount roots",
        str(escape): "outside the allowed mount roots",
        f"{layer_dir}/img/../../{outside.parent.name}": "outside the allowed mount roots",
        "relative/path": "must be absolute",
        str(layer_dir / "not_a_layer"): "has no info file",
        str(layer_dir / "missing"): "is not a folder",
        str(layer_dir / "img" / "info"): "is not a folder",
        "/etc": "outside the allowed mount roots",
    }
    for path, reason in cases.items():
        layers = [{"name": "img", "type": "image", "host_path": str(layer_dir / "img")},
                  {"name": "bad_layer", "type": "image", "host_path": path}]  # fmt: skip
        resp = client.post("/v1/sessions", json=body(layer_dir, layers=layers), headers=auth())
        assert resp.status_code == 400, (path, resp.json)
        assert resp.json["layer"] == "bad_layer" and reason in resp.json["error"], (path, resp.json)
    assert client.get("/v1/sessions", headers=auth()).json == {"sessions": []}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: b["layers"][0].update(type="mesh"), "type must be one of image, segmentation, annotation"),
        (lambda b: b["layers"][0].update(type="annotation"), "not a precomputed annotation info"),
        (lambda b: b["layers"][0].update(image="evil/image:latest"), "unknown field(s) image"),
        (lambda b: b.update(image="evil/image:latest"), "unknown field(s) image"),
        (lambda b: b.update(session_id="../../etc"), "session_id must be 32 lower-case hex digits"),
        (lambda b: b.update(session_id="A" * 32), "session_id must be 32 lower-case hex digits"),
        (lambda b: b.update(variant="custom"), "variant must be one of general, registration"),
        (lambda b: b["layers"][0].update(name="bad name/.."), "layer names are 1-64 letters"),
        (lambda b: b["layers"][0].update(name="."), "layer names are 1-64 letters"),
        (lambda b: b["layers"][0].update(name=".."), "layer names are 1-64 letters"),
        (lambda b: b["layers"][0].update(name="-img"), "layer names are 1-64 letters"),
        (lambda b: b["layers"][0].update(name="img.v2"), "layer names are 1-64 letters"),
        (lambda b: b.pop("access_key"), "access_key must be 64 lower-case hex digits"),
        (lambda b: b.update(access_key="00" * 16), "access_key must be 64 lower-case hex digits"),
        (lambda b: b["neuroglancer"].update(public_base_url="https://evil.example"), "configured PUBLIC_BASE_URL"),
        (lambda b: b["neuroglancer"].update(public_base_url=""), "configured PUBLIC_BASE_URL"),
        (lambda b: b["layers"].append(dict(b["layers"][0])), "appears twice"),
        (lambda b: b.update(layers=[]), "layers must be a non-empty list"),
        (lambda b: b["neuroglancer"].update(token="short"), "neuroglancer.token"),
        (lambda b: b["neuroglancer"].update(public_base_url="javascript:alert(1)"), "public_base_url"),
        (lambda b: b["neuroglancer"].update(layout=[["nope"]]), "unknown layer nope"),
        (lambda b: b["neuroglancer"].update(gain=-1), "gain"),
        (lambda b: b["layers"][0].update(label="x" * 81), "layer img: label must be 1-80 printable characters"),
        (lambda b: b["layers"][0].update(label="488 nm\n<script>"), "label must be 1-80 printable characters"),
        (lambda b: b["layers"][0].update(label="  "), "label must be 1-80 printable characters"),
        (lambda b: b["layers"][0].update(label=7), "label must be 1-80 printable characters"),
        (lambda b: b["layers"][0].update(range=[3000, 10]), "range must be two finite numbers"),
        (lambda b: b["layers"][0].update(range=[0, float("inf")]), "range must be two finite numbers"),
        (lambda b: b["layers"][0].update(range=[0, "9"]), "range must be two finite numbers"),
        (lambda b: b["layers"][0].update(range=[0]), "range must be two finite numbers"),
        (lambda b: b["layers"][0].update(type="segmentation", range=[0, 1]), "only image layers have a range"),
        (lambda b: b["neuroglancer"].update(title="t" * 129), "neuroglancer.title must be 1-128 printable"),
    ],
)
def test_bad_bodies_are_refused_before_anything_starts(launcher, layer_dir, change, message):
    client = launcher.test_client()
    doc = body(layer_dir)
    change(doc)
    resp = client.post("/v1/sessions", json=doc, headers=auth())
    assert resp.status_code == 400 and message in resp.json["error"], resp.json
    assert client.get("/v1/sessions", headers=auth()).json == {"sessions": []}


def test_more_layers_than_the_maximum_are_refused(launcher, layer_dir):
    layers = [{"name": f"l{i}", "type": "image", "host_path": str(layer_dir / "img")} for i in range(13)]
    resp = launcher.test_client().post("/v1/sessions", json=body(layer_dir, layers=layers), headers=auth())
    assert resp.status_code == 400 and resp.json["error"] == "at most 12 layers per session"


def _get(url: str, cookie: str = "") -> tuple[int, bytes, dict]:
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_a_session_starts_every_server_answers_and_delete_leaves_nothing(launcher, launcher_config, layer_dir):
    client = launcher.test_client()
    doc = body(layer_dir, layers=[
        {"name": "img", "type": "image", "host_path": str(layer_dir / "img")},
        {"name": "atlas_allen_2017", "type": "segmentation", "host_path": str(layer_dir / "atlas")},
        {"name": "cells_ch647", "type": "annotation", "host_path": str(layer_dir / "cells")},
    ], layout=[[["img", "cells_ch647", "atlas_allen_2017"]]])  # fmt: skip
    doc["variant"] = "registration"
    started = time.monotonic()
    resp = client.post("/v1/sessions", json=doc, headers=auth())
    elapsed = time.monotonic() - started
    assert resp.status_code == 201, resp.json
    out = resp.json
    session_id = doc["session_id"]
    names = sorted(c["name"] for c in out["containers"])
    assert names == sorted(f"lsv-{session_id}-{r}" for r in ("neuroglancer-0", "cloudvolume-0", "cloudvolume-1",
                                                              "annotation-0"))  # fmt: skip
    by_layer = {c["layer"]: c for c in out["containers"]}
    assert by_layer["img"]["proxy_path"] == f"/cv/{session_id}/img"
    assert by_layer[""]["proxy_path"] == f"/nglancer/{session_id}" and by_layer[""]["role"] == "neuroglancer"
    assert by_layer[""]["image"] == "process:neuroglancer-registration/server.py"
    # every server answers the owner's cookie: layer info (with CORS), a chunk, the viewer page
    cookie = cookie_for(doc)
    status, data, headers = _get(by_layer["img"]["target"] + "/info", cookie)
    assert status == 200 and b"5000_5000_10000" in data and headers["Access-Control-Allow-Origin"] == "*"
    urls = [by_layer["img"]["target"] + "/5000_5000_10000/0-128_0-96_0-1",
            by_layer["cells_ch647"]["target"] + "/spatial0/0_0_0",
            by_layer["atlas_allen_2017"]["target"] + "/segment_properties/info",
            f"{by_layer['']['target']}/v/{doc['neuroglancer']['token']}/"]  # fmt: skip
    assert [_get(u, cookie)[0] for u in urls] == [200, 200, 200, 200]
    assert b"neuroglancer" in _get(urls[-1], cookie)[1]
    # and nobody else, even on the servers' own addresses: no cookie 401, another session's key 403
    other = cookie_for({**doc, "access_key": secrets.token_hex(32)})
    assert [_get(u)[0] for u in urls] == [401, 401, 401, 401]
    assert [_get(u, other)[0] for u in urls] == [403, 403, 403, 403]
    # listed with owner and labels; one session
    listed = client.get("/v1/sessions", headers=auth()).json["sessions"]
    assert [s["session_id"] for s in listed] == [session_id] and listed[0]["owner"] == "alice"
    assert client.get(f"/v1/sessions/{session_id}", headers=auth()).json["containers"][0]["status"] == "running"
    assert client.post("/v1/sessions", json=doc, headers=auth()).status_code == 409  # the same id again
    state_dir = launcher_config.state_dir
    assert len(server_processes(state_dir)) == 4
    # delete: stopped and removed, no process, no registry entry; deleting again is fine
    resp = client.delete(f"/v1/sessions/{session_id}", headers=auth())
    assert resp.status_code == 204 and resp.headers["X-Lightserv-Removed"] == "4"
    assert server_processes(state_dir) == []
    assert client.get(f"/v1/sessions/{session_id}", headers=auth()).status_code == 404
    assert list((state_dir / "process").glob("*.json")) == []
    assert client.delete(f"/v1/sessions/{session_id}", headers=auth()).status_code == 204
    assert elapsed < 60


def test_a_server_that_fails_its_readiness_check_fails_the_session_and_removes_its_siblings(
    launcher, launcher_config, layer_dir
):
    client = launcher.test_client()
    doc = body(layer_dir, layers=[
        {"name": "img", "type": "image", "host_path": str(layer_dir / "img")},
        {"name": "img2", "type": "image", "host_path": str(layer_dir / "img2")},
        {"name": "broken", "type": "image", "host_path": str(layer_dir / "broken")},
    ])  # fmt: skip
    resp = client.post("/v1/sessions", json=doc, headers=auth())
    assert resp.status_code == 502, resp.json
    assert resp.json["layer"] == "broken" and "exited before it was ready" in resp.json["error"]
    assert "cloud-volume cannot open" in resp.json["error"]  # the server's own reason, never a fake volume
    assert client.get("/v1/sessions", headers=auth()).json == {"sessions": []}
    assert server_processes(launcher_config.state_dir) == []


def test_the_session_cap_answers_429_and_the_sweep_removes_sessions_not_kept(layer_dir, tmp_path):
    from viewer_launcher import LauncherConfig, create_app

    config = LauncherConfig(token=TOKEN, allowed_roots=(layer_dir,), public_base_url=PUBLIC_BASE_URL, mode="TEST",
                            state_dir=tmp_path / "s", max_sessions=1, sweep_min_age=0.01)  # fmt: skip
    client = create_app(config).test_client()
    first = body(layer_dir)
    assert client.post("/v1/sessions", json=first, headers=auth()).status_code == 201
    resp = client.post("/v1/sessions", json=body(layer_dir), headers=auth())
    assert resp.status_code == 429 and "at most 1 sessions" in resp.json["error"]
    kept = client.post("/v1/sweep", json={"keep": [first["session_id"]]}, headers=auth())
    assert kept.json == {"removed": []}
    assert client.post("/v1/sweep", json={"keep": "all"}, headers=auth()).status_code == 400
    time.sleep(0.05)
    swept = client.post("/v1/sweep", json={"keep": []}, headers=auth()).json["removed"]
    assert sorted(swept) == sorted(f"lsv-{first['session_id']}-{r}" for r in ("cloudvolume-0", "neuroglancer-0"))
    assert server_processes(tmp_path / "s") == []


def test_other_environments_servers_are_neither_listed_nor_swept(layer_dir, tmp_path):
    from viewer_launcher import LauncherConfig, create_app

    common = dict(token=TOKEN, allowed_roots=(layer_dir,), public_base_url=PUBLIC_BASE_URL, state_dir=tmp_path)
    dev = create_app(LauncherConfig(**common, mode="DEV"))
    test = create_app(LauncherConfig(**common, mode="TEST", sweep_min_age=0.01))
    doc = body(layer_dir)
    assert dev.test_client().post("/v1/sessions", json=doc, headers=auth()).status_code == 201
    try:
        assert test.test_client().get("/v1/sessions", headers=auth()).json == {"sessions": []}
        time.sleep(0.05)
        assert test.test_client().post("/v1/sweep", json={"keep": []}, headers=auth()).json == {"removed": []}
        assert len(dev.test_client().get("/v1/sessions", headers=auth()).json["sessions"]) == 1
    finally:
        dev.test_client().delete(f"/v1/sessions/{doc['session_id']}", headers=auth())
    assert server_processes(tmp_path) == []


def test_calls_are_logged_without_the_token_and_servers_do_not_inherit_it(launcher, layer_dir, caplog):
    client = launcher.test_client()
    doc = body(layer_dir)
    with caplog.at_level(logging.INFO, logger="viewer_launcher"):
        assert client.post("/v1/sessions", json=doc, headers=auth()).status_code == 201
        client.get("/v1/sessions", headers={"Authorization": "Bearer nope"})
    text = caplog.text
    assert f"session={doc['session_id']} -> 201" in text and "-> 401" in text
    assert TOKEN not in text
    manager = launcher.extensions["viewer_launcher"]
    pids = [psutil.Process(e["pid"]) for e in
            (manager.backend._read(p) for p in (manager.backend.dir).glob("lsv-*.json"))]  # fmt: skip
    assert pids
    for proc in pids:
        env = proc.environ()
        assert "VIEWER_LAUNCHER_TOKEN" not in env and TOKEN not in " ".join(env.values())
        assert env["LIGHTSERV_VIEW_SESSION"] == doc["session_id"] and env["LIGHTSERV_VIEW_KEY"] == doc["access_key"]
