"""Acceptance (issue 9, Docker tier): the viewer through the launcher's `docker` back end. The three viewer
images, the launcher's and the proxy's are built from the project's Dockerfiles on the locally made base;
the launcher runs in its container with the Docker socket, the proxy in its own, both on an internal viewer
network as in docker-compose-prod.yml. A session of four synthetic layers is launched through the launcher's
API; in headless Chromium the Neuroglancer client (bundled with the pinned package, served by the
neuroglancer container) fetches every layer's `info` and chunks through the proxy and draws the data. Each
container carries its labels, read-only mounts under the allowed root, a non-root user, dropped capabilities
and its limits. Refused: a path outside the allowed roots, a missing token, an unknown layer type."""

from __future__ import annotations

import json
import re
import secrets
import statistics
import time

import pytest
import requests

from lib import viewer_access
from tests.support.layers import image_volume, write_cells_layer, write_image_layer

from .conftest import DOCKER_ARTIFACTS

pytestmark = pytest.mark.browser
CELLS = [(20.5, 20.5, 3.5), (24.5, 70.5, 3.5), (110.5, 20.5, 3.5)]
NAMES = ["raw_ch488_left", "raw_ch488_right", "blended_ch647", "cells_ch647"]
MEMORY = {"cloudvolume": 1 << 30, "annotation": 256 << 20, "neuroglancer": 2 << 30}


@pytest.fixture(scope="module")
def layers(data_root):
    folders = {
        "raw_ch488_left": write_image_layer(data_root / "raw_ch488_left"),
        "raw_ch488_right": write_image_layer(data_root / "raw_ch488_right", image_volume(2500, (8, 56, 8, 48))),
        "blended_ch647": write_image_layer(data_root / "blended_ch647", image_volume(2000, (64, 120, 40, 88))),
        "cells_ch647": write_cells_layer(data_root / "cells_ch647", CELLS),
    }
    for folder in data_root.rglob("*"):
        folder.chmod(0o755 if folder.is_dir() else 0o644)
    return folders


def body(stack, layers, names, **extra) -> dict:
    kinds = {n: "annotation" if n.startswith("cells") else "image" for n in names}
    return {
        "session_id": secrets.token_hex(16),
        "owner": "ana",
        "variant": "general",
        "layers": [{"name": n, "type": kinds[n], "host_path": str(layers[n])} for n in names],
        "access_key": secrets.token_hex(32),
        "neuroglancer": {"token": secrets.token_hex(16), "public_base_url": stack.proxy_public, "gain": 45,
                         "layout": [[[n] for n in names if kinds[n] == "image"]]},
        **extra,
    }  # fmt: skip


def auth(stack) -> dict:
    return {"Authorization": f"Bearer {stack.launcher_token}"}


def cookie(payload: dict) -> dict:
    """The access cookie the portal gives the session's owner."""
    value = viewer_access.cookie_value(payload["access_key"], payload["session_id"], int(time.time()) + 3600)
    return {viewer_access.COOKIE: value}


def launch(stack, payload) -> tuple[dict, float]:
    """POST the session, register its routes with the proxy (what the app does), and return once every layer
    answers through the proxy; the seconds are the launch time of docs/performance.md."""
    from lib.proxy import ProxyClient

    started = time.monotonic()
    reply = requests.post(stack.launcher_url + "/v1/sessions", json=payload, headers=auth(stack), timeout=180)
    assert reply.status_code == 201, reply.text
    session = reply.json()
    client = ProxyClient(stack.proxy_api, stack.proxy_token)
    for container in session["containers"]:
        client.add_route(container["proxy_path"], container["target"])
    for name in [layer["name"] for layer in payload["layers"]]:
        url = f"{stack.proxy_public}/cv/{payload['session_id']}/{name}/info"
        answer = requests.get(url, cookies=cookie(payload), timeout=30)
        assert answer.status_code == 200, (name, answer.status_code, answer.text[:300])
        assert requests.get(url, timeout=30).status_code == 401  # nobody else reads it
    return session, time.monotonic() - started


def stop(stack, session_id: str) -> None:
    from lib.proxy import ProxyClient

    assert (
        requests.delete(f"{stack.launcher_url}/v1/sessions/{session_id}", headers=auth(stack), timeout=120).status_code
        == 204
    )
    client = ProxyClient(stack.proxy_api, stack.proxy_token)
    for path in [p for p in client.routes() if session_id in p]:
        client.delete_route(path)


def managed(docker_client, stack, session_id: str | None = None) -> list:
    labels = [f"org.lightserv.env={stack.mode}"] + ([f"org.lightserv.session={session_id}"] if session_id else [])
    return docker_client.containers.list(all=True, filters={"label": labels})


def test_four_layers_open_in_neuroglancer_through_the_docker_back_end(
    docker_client, viewer_stack, layers, page, artifacts_dir
):
    from tests.viewer.test_viewer_browser import screenshot_until_drawn

    stack = viewer_stack
    payload = body(stack, layers, NAMES)
    payload["neuroglancer"]["layout"] = [[["raw_ch488_left"], ["raw_ch488_right"]], [["blended_ch647", "cells_ch647"]]]
    session, seconds = launch(stack, payload)
    sid = payload["session_id"]

    # the containers: one per layer and the neuroglancer server, each as the security model says
    containers = managed(docker_client, stack, sid)
    assert sorted(c.labels["org.lightserv.role"] for c in containers) == [
        "annotation", "cloudvolume", "cloudvolume", "cloudvolume", "neuroglancer"]  # fmt: skip
    for container in containers:
        container.reload()
        role = container.labels["org.lightserv.role"]
        labels = container.labels
        assert labels["org.lightserv.managed"] == "true" and labels["org.lightserv.owner"] == "ana"
        assert labels["org.lightserv.session"] == sid and labels["org.lightserv.env"] == stack.mode
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels["org.lightserv.created"])
        assert container.name.startswith(f"lsv-{sid}-{role}-")
        assert container.status == "running"
        config, host = container.attrs["Config"], container.attrs["HostConfig"]
        assert config["User"] == "65534:65534", "never root"
        assert config["Image"] == {"cloudvolume": "lightserv-cloudvolume:dockertest",
                                   "annotation": "lightserv-cloudvolume:dockertest",
                                   "neuroglancer": "lightserv-neuroglancer:dockertest"}[role]  # fmt: skip
        assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"]
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert host["PidsLimit"] == 256 and host["NanoCpus"] == 1_000_000_000
        assert host["Memory"] == MEMORY[role]
        assert host["RestartPolicy"]["Name"] == "no"
        assert not host.get("PortBindings"), "viewer containers publish no port"
        assert list(container.attrs["NetworkSettings"]["Networks"]) == [stack.viewer_network]
        mounts = container.attrs["Mounts"]
        if role == "neuroglancer":
            assert mounts == []
        else:
            assert len(mounts) == 1 and mounts[0]["RW"] is False
            assert mounts[0]["Source"] == str(layers[labels["org.lightserv.layer"]])
            assert mounts[0]["Destination"] == ("/web" if role == "annotation" else "/mnt/data")
        # the server really runs as that user inside
        top = container.top(ps_args="-o pid,user,args")
        user_column = top["Titles"].index("USER")
        assert all(row[user_column] not in ("root", "0") for row in top["Processes"]), top

    # the browser: the client from the neuroglancer container, every fetch through the proxy
    seen: list[tuple[int, str]] = []
    viewer = page.context.new_page()
    viewer.set_viewport_size({"width": 1280, "height": 900})
    viewer.on("response", lambda r: seen.append((r.status, r.url)))
    viewer_url = f"{stack.proxy_public}/nglancer/{sid}{session['viewer_path']}"
    assert requests.get(viewer_url, timeout=30).status_code == 401  # no cookie, no page
    host = stack.proxy_public.split("//", 1)[1].split(":")[0]
    page.context.add_cookies([{"name": name, "value": value, "domain": host, "path": path, "httpOnly": True}
                              for name, value in cookie(payload).items()
                              for path in viewer_access.cookie_paths(sid)])  # fmt: skip
    assert viewer.goto(viewer_url).status == 200
    chunk = {n: re.compile(rf"/cv/{sid}/{n}/(5000_5000_10000|10000_10000_10000)/\d") for n in NAMES[:3]}
    chunk["cells_ch647"] = re.compile(rf"/cv/{sid}/cells_ch647/spatial0/")
    deadline = time.monotonic() + 90
    while True:
        ok = [u for s, u in seen if s == 200]
        missing = [n for n in NAMES if not any(u.endswith(f"/cv/{sid}/{n}/info") for u in ok)]
        missing += [f"{n} chunk" for n in NAMES if not any(chunk[n].search(u) for u in ok)]
        if not missing:
            break
        assert time.monotonic() < deadline, f"not fetched through the proxy: {missing}; seen {seen[-20:]}"
        viewer.wait_for_timeout(250)
    assert all(u.startswith(stack.proxy_public) for _, u in seen), "every request goes through the proxy"
    shot = artifacts_dir / "docker-neuroglancer.png"
    drawn = screenshot_until_drawn(viewer, shot)
    assert all(f > 0.01 for f in drawn["panels"].values()), f"data not drawn in every panel: {drawn}"
    assert drawn["whole"] < 0.5 and drawn["markers"] > 10, drawn
    viewer.close()

    # stop: every container of the session goes, and its routes
    stop(stack, sid)
    assert managed(docker_client, stack, sid) == []
    print(f"docker back end, 4 layers: POST to every layer answering through the proxy in {seconds:.2f} s")


def test_launch_times_of_one_and_four_layers(docker_client, viewer_stack, layers):
    """docs/performance.md: the time from the session POST to every layer answering through the proxy."""
    stack = viewer_stack
    times: dict[str, list[float]] = {"1": [], "4": []}
    for _ in range(3):
        for count, names in (("1", NAMES[:1]), ("4", NAMES)):
            payload = body(stack, layers, names)
            _session, seconds = launch(stack, payload)
            times[count].append(round(seconds, 2))
            stop(stack, payload["session_id"])
    assert managed(docker_client, stack) == []
    summary = {k: {"runs": v, "median": statistics.median(v)} for k, v in times.items()}
    DOCKER_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (DOCKER_ARTIFACTS / "launch-seconds.json").write_text(json.dumps(summary, indent=2))
    print("docker back end launch times:", summary)


@pytest.mark.parametrize(
    "case",
    ["outside the allowed roots", "a symlink out of the roots", "no token", "a wrong token", "an unknown layer type",
     "an image name"],
)  # fmt: skip
def test_the_launcher_refuses_and_starts_nothing(docker_client, viewer_stack, layers, data_root, tmp_path, case):
    stack = viewer_stack
    payload = body(stack, layers, NAMES[:1])
    headers = auth(stack)
    expected = 400
    if case == "outside the allowed roots":
        outside = tmp_path / "elsewhere"
        write_image_layer(outside)
        payload["layers"][0]["host_path"] = str(outside)
    elif case == "a symlink out of the roots":
        outside = tmp_path / "elsewhere"
        write_image_layer(outside)
        link = data_root / f"link-{secrets.token_hex(4)}"
        link.symlink_to(outside)
        payload["layers"][0]["host_path"] = str(link)
    elif case == "no token":
        headers, expected = {}, 401
    elif case == "a wrong token":
        headers, expected = {"Authorization": "Bearer " + "x" * 43}, 401
    elif case == "an unknown layer type":
        payload["layers"][0]["type"] = "shell"
    else:
        payload["image"] = "alpine:latest"
    reply = requests.post(stack.launcher_url + "/v1/sessions", json=payload, headers=headers, timeout=60)
    assert reply.status_code == expected, reply.text
    assert "error" in reply.json()
    assert managed(docker_client, stack, payload["session_id"]) == []
    if expected == 401:
        assert requests.get(stack.launcher_url + "/v1/sessions", headers=headers, timeout=30).status_code == 401


def test_proxy_api_needs_its_token(viewer_stack):
    stack = viewer_stack
    assert requests.get(stack.proxy_api + "/api/routes", timeout=10).status_code == 403
    wrong = {"Authorization": "token " + "0" * 64}
    assert requests.get(stack.proxy_api + "/api/routes", headers=wrong, timeout=10).status_code == 403
    good = {"Authorization": f"token {stack.proxy_token}"}
    assert requests.get(stack.proxy_api + "/api/routes", headers=good, timeout=10).status_code == 200


def test_no_image_runs_as_root(docker_client, viewer_images):
    for name in ("cloudvolume", "neuroglancer", "neuroglancer-registration", "proxy"):
        user = docker_client.images.get(viewer_images[name]).attrs["Config"]["User"]
        assert user and not user.startswith(("0", "root")), (name, user)
