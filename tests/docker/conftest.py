"""The Docker tier (`make test-docker`): Debian's docker.io engine, a base image made
locally by scripts/provision-docker.sh (debootstrap + docker import: no registry is reachable), and the
project's images built from its own Dockerfiles on that base. Every test skips, naming the Docker engine,
when no engine answers; CI starts one (scripts/provision-docker.sh), so CI skips nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, ROOT
from tests.support.ports import free_port
from tests.support.waiting import wait_for

BASE_IMAGE = os.environ.get("LIGHTSERV_BASE_IMAGE", "lightserv-base:bookworm")
TAG = "dockertest"
#: image name -> (Dockerfile, build context), all built on BASE_IMAGE
IMAGES = {
    "cloudvolume": ("cloudvolume/Dockerfile", "."),
    "neuroglancer": ("neuroglancer/Dockerfile", "."),
    "neuroglancer-registration": ("neuroglancer-registration/Dockerfile", "."),
    "viewer-launcher": ("viewer-launcher/Dockerfile", "."),
    "proxy": ("lib/proxy/Dockerfile", "."),
}
DOCKER_ARTIFACTS = ARTIFACTS / "docker"


def image_name(name: str) -> str:
    return f"lightserv-{name}:{TAG}"


@pytest.fixture(scope="session")
def docker_client():
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        pytest.skip(f"Docker engine not reachable ({type(exc).__name__}); `make test-docker` starts Debian's dockerd")
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:
    from docker.errors import ImageNotFound

    try:
        docker_client.images.get(BASE_IMAGE)
    except ImageNotFound:
        subprocess.run(["bash", str(ROOT / "scripts" / "provision-docker.sh")], check=False, timeout=900)
        try:
            docker_client.images.get(BASE_IMAGE)
        except ImageNotFound:
            pytest.skip(f"base image {BASE_IMAGE} could not be built (debootstrap, root and the Debian mirror needed)")
    return BASE_IMAGE


def build(
    name: str, base: str, dockerfile: str = "", context: str = ".", extra_args: dict[str, str] | None = None
) -> float:
    """`docker build` of one project image on the local base, tagged `lightserv-<name>:dockertest`; returns the
    seconds it took. The CLI (legacy builder: Debian's docker.io has no buildx) prints the failing step."""
    if not dockerfile:
        dockerfile, context = IMAGES[name]
    cmd = ["docker", "build", "-q", "-f", str(ROOT / dockerfile), "-t", image_name(name)]
    for key, value in {"BASE_IMAGE": base, **(extra_args or {})}.items():
        cmd += ["--build-arg", f"{key}={value}"]
    started = time.monotonic()
    result = subprocess.run([*cmd, str(ROOT / context)], capture_output=True, text=True, timeout=1800,
                            env={**os.environ, "DOCKER_BUILDKIT": "0"})  # fmt: skip
    assert result.returncode == 0, f"docker build of {name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return time.monotonic() - started


@pytest.fixture(scope="session")
def viewer_images(base_image) -> dict[str, str]:
    """The three viewer images, the launcher's and the proxy's, built from the project's Dockerfiles."""
    times = {name: round(build(name, base_image), 1) for name in IMAGES}
    DOCKER_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (DOCKER_ARTIFACTS / "build-seconds.json").write_text(json.dumps(times, indent=2))
    return {name: image_name(name) for name in IMAGES}


@dataclass
class Stack:
    """The launcher and the proxy in containers on the viewer network, reachable from the test on loopback
    ports (the production compose file publishes neither the launcher nor the proxy API; the test must
    reach them somehow, and a published loopback port is the least surprising way)."""

    mode: str
    data_root: Path
    viewer_network: str
    launcher_url: str
    launcher_token: str
    proxy_public: str
    proxy_api: str
    proxy_token: str
    containers: list = field(default_factory=list)


def wait_http(url: str, timeout: float, container=None) -> None:
    """Wait until `url` answers below 500; the failure shows the container's last log lines."""
    import requests

    def answers() -> bool:
        try:
            return requests.get(url, timeout=3).status_code < 500
        except requests.RequestException:
            return False

    def logs() -> str:
        return "\n" + container.logs(tail=30).decode(errors="replace") if container is not None else ""

    wait_for(answers, timeout, f"{url} to answer", detail=logs, interval=0.5)


@pytest.fixture(scope="session")
def data_root():
    """An allowed root every container user may read (pytest's own temporary folders are private to root)."""
    root = Path(tempfile.mkdtemp(prefix="lightserv-docker-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def viewer_stack(docker_client, viewer_images, data_root):
    import secrets

    suffix = uuid.uuid4().hex[:8]
    mode = f"DOCKERTEST{suffix.upper()}"
    viewer_net = docker_client.networks.create(f"lstest_viewer_{suffix}", driver="bridge", internal=True)
    front_net = docker_client.networks.create(f"lstest_front_{suffix}", driver="bridge")
    launcher_token, proxy_token = secrets.token_urlsafe(32), secrets.token_hex(32)
    launcher_port, public_port, api_port = free_port(), free_port(), free_port()
    started = []
    try:
        launcher = docker_client.containers.run(
            viewer_images["viewer-launcher"], name=f"lstest-launcher-{suffix}", detach=True, user="root",
            environment={
                "VIEWER_LAUNCHER_TOKEN": launcher_token, "VIEWER_LAUNCHER_BIND": "0.0.0.0:8090",
                "VIEWER_LAUNCHER_BACKEND": "docker", "ALLOWED_MOUNT_ROOTS": str(data_root),
                "VIEWER_NETWORK": viewer_net.name, "VIEWER_CONTAINER_UID": "65534:65534", "LIGHTSERV_MODE": mode,
                "VIEWER_READY_TIMEOUT_SECONDS": "60",
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{public_port}",
                "CLOUDVOLUME_IMAGE": viewer_images["cloudvolume"],
                "NEUROGLANCER_IMAGE_GENERAL": viewer_images["neuroglancer"],
                "NEUROGLANCER_IMAGE_REGISTRATION": viewer_images["neuroglancer-registration"],
            },
            volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                     str(data_root): {"bind": str(data_root), "mode": "ro"}},
            network=front_net.name, ports={"8090/tcp": ("127.0.0.1", launcher_port)},
            labels={"org.lightserv.test": suffix},
        )  # fmt: skip
        started.append(launcher)
        viewer_net.connect(launcher)
        proxy = docker_client.containers.run(
            viewer_images["proxy"], name=f"lstest-proxy-{suffix}", detach=True,
            environment={"CONFIGPROXY_AUTH_TOKEN": proxy_token}, network=front_net.name,
            ports={"8000/tcp": ("127.0.0.1", public_port), "8001/tcp": ("127.0.0.1", api_port)},
            labels={"org.lightserv.test": suffix},
        )  # fmt: skip
        started.append(proxy)
        viewer_net.connect(proxy)
        local = "http://127.0.0.1"
        stack = Stack(mode, data_root, viewer_net.name, f"{local}:{launcher_port}", launcher_token,
                      f"{local}:{public_port}", f"{local}:{api_port}", proxy_token, started)  # fmt: skip
        wait_http(stack.launcher_url + "/healthz", 60, launcher)
        wait_http(stack.proxy_public + "/", 60, proxy)
        yield stack
    finally:
        for container in docker_client.containers.list(all=True, filters={"label": f"org.lightserv.env={mode}"}):
            container.remove(force=True)
        for container in started:
            (DOCKER_ARTIFACTS / f"{container.name}.log").parent.mkdir(parents=True, exist_ok=True)
            try:
                (DOCKER_ARTIFACTS / f"{container.name}.log").write_bytes(container.logs())
            except Exception:  # noqa: BLE001,S110 - logs are a courtesy
                pass
            container.remove(force=True)
        viewer_net.remove()
        front_net.remove()
