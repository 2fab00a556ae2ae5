"""The `docker` back end (production): one container per server through the Docker SDK.

Every container gets: the launcher's own pinned image for its role (the caller never names an image), the
`lsv-<session>-<role>-<k>` name and `org.lightserv.*` labels, the internal network and no published port, a
non-root user, a read-only root file system with a small /tmp tmpfs, every capability dropped,
no-new-privileges, a pids limit of 256, one CPU, a memory limit per role, restart policy "no", and its layer
folder mounted read-only (checked again here against the allowed roots).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import LauncherConfig
from ..spec import within
from .base import LABEL_PREFIX, BackendError, ContainerRecord, StartRequest

MEMORY = {"cloudvolume": "1g", "annotation": "256m", "neuroglancer": "2g"}
MOUNT_POINT = {"cloudvolume": "/mnt/data", "annotation": "/web"}
PIDS_LIMIT = 256
NANO_CPUS = 1_000_000_000  # one CPU


class DockerBackend:
    kind = "docker"

    def __init__(self, config: LauncherConfig, client: Any = None):
        self.config = config
        if client is None:
            import docker

            client = docker.from_env(timeout=30)
        self.client = client

    # --- interface ------------------------------------------------------------------------------------
    def ping(self) -> None:
        try:
            self.client.ping()
        except Exception as exc:  # noqa: BLE001 - the SDK raises many kinds; all mean "not reachable"
            raise BackendError(f"Docker is not reachable: {type(exc).__name__}") from exc

    def image_for(self, request: StartRequest) -> str:
        key = f"neuroglancer:{request.kind}" if request.role == "neuroglancer" else request.role
        image = self.config.images.get(key, "")
        if not image:
            raise BackendError(f"no image configured for {key}")
        return image

    def run_options(self, request: StartRequest) -> dict[str, Any]:
        """Every option of `containers.run` for one server (unit-tested: the security model lives here)."""
        image = self.image_for(request)
        # the root file system is read-only and the user has no home: whatever a library caches under $HOME
        # (cloud-volume's ~/.cloudvolume) goes to the container's own /tmp
        env = {**request.env, "HOME": "/tmp"}  # noqa: S108 - the container's tmpfs
        volumes: dict[str, dict[str, str]] = {}
        if request.role in MOUNT_POINT:
            if request.host_path is None:
                raise BackendError(f"{request.name}: a layer server needs its folder")
            real = Path(os.path.realpath(request.host_path))
            if not real.is_absolute() or not within(real, self.config.allowed_roots):
                raise BackendError(f"{request.name}: the layer folder is outside the allowed roots")
            volumes[str(real)] = {"bind": MOUNT_POINT[request.role], "mode": "ro"}
            if request.role == "annotation":
                env.update(CV_ROOT="/web", CV_PORT="8080", CV_KIND="static")
            else:
                env.update(CV_ROOT="/mnt/data", CV_PORT="1337", CV_KIND="precomputed")
        else:
            env.update(NG_BIND_ADDRESS="0.0.0.0", NG_PORT="8080")  # noqa: S104 - the internal network only
            if self.config.static_content_url:
                env["NG_STATIC_CONTENT_URL"] = self.config.static_content_url
        uid = self.config.container_uid
        if not uid or uid.split(":", 1)[0] in ("0", "root"):
            raise BackendError("VIEWER_CONTAINER_UID must name a non-root user")
        options: dict[str, Any] = dict(
            image=image,
            name=request.name,
            labels=dict(request.labels),
            environment=env,
            network=self.config.network,
            user=uid,
            read_only=True,
            tmpfs={"/tmp": "rw,noexec,nosuid,size=64m"},  # noqa: S108 - the container's own tmpfs
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            pids_limit=PIDS_LIMIT,
            nano_cpus=NANO_CPUS,
            mem_limit=MEMORY[request.role],
            restart_policy={"Name": "no"},
            volumes=volumes,
            detach=True,
        )
        if self.config.container_groups:
            options["group_add"] = list(self.config.container_groups)
        return options

    def start(self, request: StartRequest) -> ContainerRecord:
        options = self.run_options(request)
        try:
            container = self.client.containers.run(**options)
        except Exception as exc:  # noqa: BLE001 - image missing, name taken, daemon error...
            raise BackendError(f"{request.name} did not start: {_reason(exc)}") from exc
        port = 1337 if request.role == "cloudvolume" else 8080
        return ContainerRecord.from_labels(
            request.labels,
            name=request.name,
            image=options["image"],
            status=getattr(container, "status", "created") or "created",
            started=_started(container),
            target=f"http://{request.name}:{port}",
        )

    def is_running(self, name: str) -> bool:
        try:
            container = self.client.containers.get(name)
            container.reload()
        except Exception:  # noqa: BLE001 - gone is "not running"
            return False
        return container.status in ("created", "running", "restarting")

    def logs_tail(self, name: str, lines: int = 20) -> str:
        try:
            raw = self.client.containers.get(name).logs(tail=lines)
        except Exception:  # noqa: BLE001
            return ""
        return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)

    def list(self) -> list[ContainerRecord]:
        filters = {"label": [f"{LABEL_PREFIX}managed=true", f"{LABEL_PREFIX}env={self.config.mode}"]}
        records = []
        for container in self.client.containers.list(all=True, filters=filters):
            labels = dict(container.labels or {})
            role = labels.get(f"{LABEL_PREFIX}role", "")
            port = 1337 if role == "cloudvolume" else 8080
            tags = getattr(container.image, "tags", None) or [""]
            records.append(
                ContainerRecord.from_labels(
                    labels,
                    name=container.name,
                    image=tags[0],
                    status=container.status,
                    started=_started(container),
                    target=f"http://{container.name}:{port}",
                )
            )
        return records

    def remove(self, names: list[str], grace: float) -> int:
        removed = 0
        for name in names:
            try:
                container = self.client.containers.get(name)
            except Exception:  # noqa: BLE001,S112 - already gone
                continue
            if (container.labels or {}).get(f"{LABEL_PREFIX}managed") != "true":
                continue  # never touch a container we did not make
            try:
                container.stop(timeout=max(1, int(round(grace))))
            except Exception:  # noqa: BLE001,S110 - stopping an exited container fails; removal follows
                pass
            try:
                container.remove(force=True)
                removed += 1
            except Exception as exc:  # noqa: BLE001
                if "No such container" not in str(exc) and "404" not in str(exc):
                    raise BackendError(f"{name} could not be removed: {_reason(exc)}") from exc
        return removed


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "explanation", "") or exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _started(container: Any) -> str:
    attrs = getattr(container, "attrs", None) or {}
    return str((attrs.get("State") or {}).get("StartedAt", "") or attrs.get("Created", ""))
