"""Sessions on top of a back end: validate, start every layer server in parallel and wait until
each answers `GET /info`, then start neuroglancer and wait until `GET /v/<token>/` answers; on any failure
remove every server of the session. Listing, deletion and the orphan sweep work from the labels alone.

State shared by the launcher's worker processes lives on disk (a lock file and one reservation file per
session being started), never in process memory, so the caps and the 409 hold across workers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lib import viewer_access

from .backends.base import Backend, BackendError, ContainerRecord, StartRequest, container_name, labels_for, utc_now_iso
from .config import LauncherConfig
from .spec import SESSION_ID_RE, SessionSpec, SpecError, parse_session


class NotReady(Exception):
    pass


def wait_ready(url: str, timeout: float, interval: float, alive: Callable[[], bool], cookie: str = "") -> float:
    """Probe `url` (with the session's access cookie) every `interval` s until it answers 200; NotReady when the
    server exits or time runs out. Returns the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    probe = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})  # noqa: S310 - our targets
    while True:
        try:
            with urllib.request.urlopen(probe, timeout=min(2.0, timeout)) as resp:  # noqa: S310 - http targets we made
                if resp.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if not alive():
            raise NotReady("exited before it was ready")
        if time.monotonic() >= deadline:
            raise NotReady(f"did not answer within {timeout:g} s")
        time.sleep(interval)


class SessionManager:
    def __init__(self, config: LauncherConfig, backend: Backend):
        self.config = config
        self.backend = backend
        self.dir = Path(config.state_dir)
        self.reservations = self.dir / "reservations"

    # --- create ---------------------------------------------------------------------------------------
    def create(self, body: Any) -> dict[str, Any]:
        spec = parse_session(
            body, self.config.allowed_roots, self.config.max_layers, public_base_url=self.config.public_base_url
        )
        self._reserve(spec.session_id)
        try:
            return self._start(spec)
        finally:
            with contextlib.suppress(FileNotFoundError):
                (self.reservations / spec.session_id).unlink()

    def _start(self, spec: SessionSpec) -> dict[str, Any]:
        created = utc_now_iso()
        access_env = viewer_access.server_env(spec.session_id, spec.access_key)
        probe_cookie = f"{viewer_access.COOKIE}=" + viewer_access.cookie_value(
            spec.access_key, spec.session_id, int(time.time()) + 600
        )
        counters: dict[str, int] = {}
        requests = []
        for layer in spec.layers:
            k = counters.get(layer.role, 0)
            counters[layer.role] = k + 1
            name = container_name(spec.session_id, layer.role, k)
            labels = labels_for(spec.session_id, layer.role, layer.name, spec.owner, self.config.mode, created)
            kind = "static" if layer.type == "annotation" else "precomputed"
            requests.append((layer, StartRequest(name, layer.role, labels, layer.host_path, kind, access_env)))
        names = [r.name for _, r in requests]
        ng_name = container_name(spec.session_id, "neuroglancer", 0)
        started: dict[str, ContainerRecord] = {}
        try:
            with ThreadPoolExecutor(max_workers=min(len(requests), 16)) as pool:
                futures = [
                    (layer, pool.submit(self._start_one, req, "/info", probe_cookie)) for layer, req in requests
                ]
                errors = []
                for layer, fut in futures:
                    try:
                        started[layer.name] = fut.result()
                    except (BackendError, NotReady) as exc:
                        errors.append((layer.name, exc))
            if errors:
                # the most telling failure first: one that did not start or exited, before a mere timeout
                layer, exc = sorted(errors, key=lambda e: "within" in str(e[1]))[0]
                raise SpecError(f"the server of layer {layer} {exc}", layer, 504 if "within" in str(exc) else 502)
            ng_layers = [
                {"name": layer.name, "type": layer.type, "source": spec.source_of(layer.name), "info": layer.info,
                 "label": layer.label or layer.name, **({"range": list(layer.range)} if layer.range else {})}
                for layer in spec.layers
            ]  # fmt: skip
            env = {
                **access_env,
                "NG_TOKEN": spec.token,
                "NG_LAYERS": json.dumps(ng_layers),
                "NG_LAYOUT": json.dumps(spec.layout),
                "NG_GAIN": f"{spec.gain:g}",
                "NG_VARIANT": spec.variant,
                "NG_TITLE": spec.title,
            }
            ng_labels = labels_for(spec.session_id, "neuroglancer", "", spec.owner, self.config.mode, created)
            ng_request = StartRequest(ng_name, "neuroglancer", ng_labels, None, spec.variant, env)
            try:
                ng = self._start_one(ng_request, f"/v/{spec.token}/", probe_cookie)
            except (BackendError, NotReady) as exc:
                raise SpecError(f"the neuroglancer server {exc}", None, 504 if "within" in str(exc) else 502) from exc
        except BaseException:
            self._remove_session(spec.session_id, extra=names + [ng_name])
            raise
        containers = [ng, *(started[layer.name] for layer in spec.layers)]
        out: dict[str, Any] = {
            "session_id": spec.session_id,
            "owner": spec.owner,
            "variant": spec.variant,
            "created": created,
            "viewer_path": f"/v/{spec.token}/",
            "containers": [
                {**c.as_json(), "proxy_path": self._proxy_path(spec.session_id, c)} for c in containers
            ],
        }
        return out

    def _start_one(self, request: StartRequest, probe_path: str, cookie: str) -> ContainerRecord:
        record = self.backend.start(request)
        try:
            wait_ready(
                record.target + probe_path,
                self.config.ready_timeout,
                self.config.probe_interval,
                lambda: self.backend.is_running(request.name),
                cookie,
            )
        except NotReady as exc:
            tail = self.backend.logs_tail(request.name, 5).strip().splitlines()
            detail = f" ({tail[-1][:200]})" if tail else ""
            raise NotReady(f"{exc}{detail}") from exc
        record.status = "running"
        return record

    @staticmethod
    def _proxy_path(session_id: str, record: ContainerRecord) -> str:
        if record.role == "neuroglancer":
            return f"/nglancer/{session_id}"
        return f"/cv/{session_id}/{record.layer}"

    # --- caps across workers --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "sessions.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _reserve(self, session_id: str) -> None:
        with self._lock():
            self.reservations.mkdir(parents=True, exist_ok=True)
            stale = time.time() - 3 * self.config.ready_timeout - 60
            pending = set()
            for path in self.reservations.iterdir():
                if path.stat().st_mtime < stale:
                    path.unlink(missing_ok=True)
                else:
                    pending.add(path.name)
            live = {r.session_id for r in self.backend.list()} | pending
            if session_id in live:
                raise SpecError("this session already exists", None, 409)
            if len(live) >= self.config.max_sessions:
                raise SpecError(f"at most {self.config.max_sessions} sessions may run at once", None, 429)
            (self.reservations / session_id).touch()

    # --- list, delete, sweep --------------------------------------------------------------------------
    def sessions(self) -> list[dict[str, Any]]:
        grouped: dict[str, list[ContainerRecord]] = {}
        for record in self.backend.list():
            grouped.setdefault(record.session_id, []).append(record)
        out = []
        for sid, records in sorted(grouped.items()):
            records.sort(key=lambda r: r.name)
            out.append(
                {
                    "session_id": sid,
                    "owner": records[0].owner,
                    "created": min(r.created for r in records),
                    "containers": [r.as_json() for r in records],
                }
            )
        return out

    def session(self, session_id: str) -> dict[str, Any] | None:
        return next((s for s in self.sessions() if s["session_id"] == session_id), None)

    def delete(self, session_id: str) -> int:
        if not SESSION_ID_RE.match(session_id):
            raise SpecError("session_id must be 32 lower-case hex digits")
        return self._remove_session(session_id)

    def _remove_session(self, session_id: str, extra: list[str] | None = None) -> int:
        names = {r.name for r in self.backend.list() if r.session_id == session_id}
        names |= set(extra or ())
        return self.backend.remove(sorted(names), self.config.stop_grace)

    def sweep(self, body: Any) -> list[str]:
        keep = body.get("keep") if isinstance(body, dict) else None
        if not isinstance(keep, list) or not all(isinstance(k, str) and SESSION_ID_RE.match(k) for k in keep):
            raise SpecError("keep must be a list of session ids")
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.config.sweep_min_age)
        doomed = [
            r.name for r in self.backend.list() if r.session_id not in set(keep) and _created(r.created) < cutoff
        ]
        self.backend.remove(doomed, self.config.stop_grace)
        return sorted(doomed)


def _created(value: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)  # unlabelled: old enough
