"""Launcher settings, read once from the environment."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: the repository checkout this package lives in (the process back end runs the server programs from it)
CHECKOUT = Path(__file__).resolve().parents[2]
MIN_TOKEN_LENGTH = 32
URL_RE = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?(/[A-Za-z0-9._~/%-]*)?$")
BACKENDS = ("process", "docker")


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class LauncherConfig:
    token: str
    allowed_roots: tuple[Path, ...]
    public_base_url: str  # where browsers reach the proxy; every session must name exactly this one
    backend: str = "process"
    mode: str = "DEV"  # the `org.lightserv.env` label: sessions of other environments are never touched
    max_layers: int = 12
    max_sessions: int = 40
    ready_timeout: float = 60.0
    probe_interval: float = 0.5
    stop_grace: float = 5.0
    sweep_min_age: float = 600.0
    state_dir: Path = CHECKOUT / "var" / "viewer-launcher"
    # process back end
    python: str = sys.executable
    programs_dir: Path = CHECKOUT
    bind_host: str = "127.0.0.1"
    # docker back end
    images: Mapping[str, str] = field(default_factory=dict)
    network: str = "lightserv_viewer"
    container_uid: str = ""
    container_groups: tuple[str, ...] = ()
    static_content_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LauncherConfig:
        env = os.environ if env is None else env
        token = env.get("VIEWER_LAUNCHER_TOKEN", "")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError(
                f"VIEWER_LAUNCHER_TOKEN is required (at least {MIN_TOKEN_LENGTH} characters of a random value, "
                'e.g. python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        roots_raw = env.get("ALLOWED_MOUNT_ROOTS", "")
        roots = tuple(Path(os.path.realpath(p)) for p in roots_raw.split(os.pathsep) if p.strip())
        if not roots:
            raise ConfigError(f"ALLOWED_MOUNT_ROOTS is required (absolute folders separated by {os.pathsep!r})")
        if any(not Path(p).is_absolute() for p in roots_raw.split(os.pathsep) if p.strip()):
            raise ConfigError("ALLOWED_MOUNT_ROOTS must list absolute folders")
        public_base_url = env.get("PUBLIC_BASE_URL", "").rstrip("/")
        if not URL_RE.match(public_base_url):
            raise ConfigError("PUBLIC_BASE_URL is required: the http(s) address browsers reach the viewer proxy at")
        backend = env.get("VIEWER_LAUNCHER_BACKEND", "process")
        if backend not in BACKENDS:
            raise ConfigError(f"VIEWER_LAUNCHER_BACKEND must be one of {', '.join(BACKENDS)}")
        images = {
            "cloudvolume": env.get("CLOUDVOLUME_IMAGE", ""),
            "annotation": env.get("ANNOTATION_IMAGE", "") or env.get("CLOUDVOLUME_IMAGE", ""),
            "neuroglancer:general": env.get("NEUROGLANCER_IMAGE_GENERAL", ""),
            "neuroglancer:registration": env.get("NEUROGLANCER_IMAGE_REGISTRATION", ""),
        }
        uid = env.get("VIEWER_CONTAINER_UID", "")
        if backend == "docker":
            names = {"cloudvolume": "CLOUDVOLUME_IMAGE", "neuroglancer:general": "NEUROGLANCER_IMAGE_GENERAL",
                     "neuroglancer:registration": "NEUROGLANCER_IMAGE_REGISTRATION"}  # fmt: skip
            missing = [names[k] for k in names if not images[k]]
            if missing:
                raise ConfigError(f"the docker back end needs {', '.join(missing)}")
            if not uid or uid.split(":", 1)[0] in ("0", "root"):
                raise ConfigError("VIEWER_CONTAINER_UID is required for the docker back end and may not be root")
        return cls(
            token=token,
            allowed_roots=roots,
            public_base_url=public_base_url,
            backend=backend,
            mode=env.get("LIGHTSERV_MODE", "DEV").upper(),
            max_layers=_int(env, "VIEWER_MAX_LAYERS", 12),
            max_sessions=_int(env, "VIEWER_MAX_SESSIONS", 40),
            ready_timeout=_float(env, "VIEWER_READY_TIMEOUT_SECONDS", 60.0),
            sweep_min_age=_float(env, "VIEWER_SWEEP_MIN_AGE_SECONDS", 600.0),
            state_dir=Path(env.get("VIEWER_LAUNCHER_STATE_DIR", "") or CHECKOUT / "var" / "viewer-launcher"),
            python=env.get("VIEWER_PROCESS_PYTHON", "") or sys.executable,
            programs_dir=Path(env.get("VIEWER_PROGRAMS_DIR", "") or CHECKOUT),
            images=images,
            network=env.get("VIEWER_NETWORK", "lightserv_viewer"),
            container_uid=uid,
            container_groups=tuple(g for g in env.get("VIEWER_CONTAINER_GROUPS", "").split(",") if g.strip()),
            static_content_url=env.get("NEUROGLANCER_STATIC_CONTENT_URL", ""),
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        value = int(env.get(name, "") or default)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number") from exc
    if value < 1:
        raise ConfigError(f"{name} must be at least 1")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, "") or default)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value
