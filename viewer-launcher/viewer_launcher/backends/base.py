"""The back-end interface: start one server ("container"), report, stop and remove. The orchestrator (sessions.py)
owns validation, parallel start, readiness probes and clean-up; a back end
only knows how to run one server of a role and how to find the ones it runs, by their labels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

LABEL_PREFIX = "org.lightserv."
ROLES = ("cloudvolume", "annotation", "neuroglancer")
#: the port each role listens on inside its container
CONTAINER_PORT = {"cloudvolume": 1337, "annotation": 8080, "neuroglancer": 8080}


class BackendError(RuntimeError):
    """A server could not be started or inspected; the message is safe to show the caller."""


def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container_name(session_id: str, role: str, k: int) -> str:
    return f"lsv-{session_id}-{role}-{k}"


def labels_for(session_id: str, role: str, layer: str, owner: str, mode: str, created: str) -> dict[str, str]:
    return {
        f"{LABEL_PREFIX}managed": "true",
        f"{LABEL_PREFIX}session": session_id,
        f"{LABEL_PREFIX}role": role,
        f"{LABEL_PREFIX}layer": layer,
        f"{LABEL_PREFIX}owner": owner,
        f"{LABEL_PREFIX}env": mode,
        f"{LABEL_PREFIX}created": created,
    }


@dataclass(frozen=True)
class StartRequest:
    """One server to start. `host_path` is already checked against the allowed roots (and checked again by
    the back end); `kind` is "precomputed" or "static" for layer servers, the variant for neuroglancer."""

    name: str
    role: str
    labels: Mapping[str, str]
    host_path: Path | None = None
    kind: str = ""
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ContainerRecord:
    name: str
    role: str
    layer: str
    session_id: str
    owner: str
    created: str
    image: str
    status: str  # running, exited, created, ...
    started: str
    target: str  # base URL the proxy forwards to (and the launcher probes)
    labels: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "role": self.role,
            "layer": self.layer,
            "image": self.image,
            "status": self.status,
            "started": self.started,
            "target": self.target,
        }

    @classmethod
    def from_labels(cls, labels: Mapping[str, str], **values: str) -> ContainerRecord:
        get = lambda key: labels.get(LABEL_PREFIX + key, "")  # noqa: E731
        return cls(
            role=get("role"),
            layer=get("layer"),
            session_id=get("session"),
            owner=get("owner"),
            created=get("created"),
            labels=dict(labels),
            **values,  # type: ignore[arg-type]
        )


class Backend(Protocol):
    kind: str

    def ping(self) -> None:
        """Raise BackendError when the back end cannot start servers (Docker unreachable, ...)."""

    def start(self, request: StartRequest) -> ContainerRecord:
        """Start one server and return at once (readiness is probed by the caller)."""

    def is_running(self, name: str) -> bool:
        """False once the server has exited (the probe then fails at once instead of waiting)."""

    def logs_tail(self, name: str, lines: int = 20) -> str: ...

    def list(self) -> list[ContainerRecord]:
        """Every managed server of this environment (`org.lightserv.env` = the launcher's mode)."""

    def remove(self, names: list[str], grace: float) -> int:
        """Stop (SIGTERM, then kill after `grace` seconds) and remove; missing ones are ignored. Returns
        how many were removed."""
