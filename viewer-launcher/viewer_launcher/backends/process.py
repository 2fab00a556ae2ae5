"""The `process` back end (the `make run` default): the same server programs as the
images (cloudvolume/server.py, neuroglancer/server.py, neuroglancer-registration/server.py) started as local
processes on free loopback ports.

Its registry is one JSON file per server under `<state_dir>/process/`, holding the same labels a container
would carry, the process id and its start time (so a recycled pid is never signalled). Any launcher worker
process can therefore list, probe and stop servers another worker started. Each server runs in its own
process group (a new session) and gets a minimal environment: never the launcher's token.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

from ..config import LauncherConfig
from ..spec import within
from .base import BackendError, ContainerRecord, StartRequest, utc_now_iso

PROGRAMS = {
    "cloudvolume": "cloudvolume/server.py",
    "annotation": "cloudvolume/server.py",
    "neuroglancer:general": "neuroglancer/server.py",
    "neuroglancer:registration": "neuroglancer-registration/server.py",
}


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ProcessBackend:
    kind = "process"

    def __init__(self, config: LauncherConfig):
        self.config = config
        self.dir = Path(config.state_dir) / "process"
        self.logs = self.dir / "logs"
        #: servers started by this very process, so they are reaped (no zombies) when removed
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # --- interface ------------------------------------------------------------------------------------
    def ping(self) -> None:
        try:
            self.logs.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise BackendError(f"state folder {self.dir} is not writable: {exc.strerror}") from exc
        missing = [p for p in set(PROGRAMS.values()) if not (self.config.programs_dir / p).is_file()]
        if missing:
            raise BackendError(f"server programs missing: {', '.join(sorted(missing))}")

    def start(self, request: StartRequest) -> ContainerRecord:
        self.ping()
        program_key = f"neuroglancer:{request.kind}" if request.role == "neuroglancer" else request.role
        program = self.config.programs_dir / PROGRAMS[program_key]
        host = self.config.bind_host
        used = {r.target for r in self.list()}
        port = free_port(host)
        while f"http://{host}:{port}" in used:
            port = free_port(host)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.dir),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.update(request.env)
        args = [self.config.python, str(program)]
        if request.role == "neuroglancer":
            env.update(NG_BIND_ADDRESS=host, NG_PORT=str(port))
        else:
            if request.host_path is None or not within(Path(os.path.realpath(request.host_path)),
                                                       self.config.allowed_roots):  # fmt: skip
                raise BackendError(f"{request.name}: the layer folder is outside the allowed roots")
            args += ["--root", str(request.host_path), "--port", str(port), "--bind", host, "--kind", request.kind]
        log_path = self.logs / f"{request.name}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed programs, arguments are checked values
                args, env=env, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )  # fmt: skip
        self._children[proc.pid] = proc
        try:
            created_at = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            created_at = 0.0
        record = ContainerRecord.from_labels(
            request.labels,
            name=request.name,
            image=f"process:{PROGRAMS[program_key]}",
            status="running",
            started=utc_now_iso(),
            target=f"http://{host}:{port}",
        )
        self._write(record, proc.pid, created_at)
        return record

    def is_running(self, name: str) -> bool:
        entry = self._read(self.dir / f"{name}.json")
        return entry is not None and self._alive(entry)

    def logs_tail(self, name: str, lines: int = 20) -> str:
        try:
            text = (self.logs / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def list(self) -> list[ContainerRecord]:
        records = []
        for path in sorted(self.dir.glob("lsv-*.json")):
            entry = self._read(path)
            if entry is None:
                continue
            record = ContainerRecord(**entry["record"])
            if record.labels.get("org.lightserv.env") != self.config.mode:
                continue
            record.status = "running" if self._alive(entry) else "exited"
            records.append(record)
        return records

    def remove(self, names: list[str], grace: float) -> int:
        entries = [(n, self._read(self.dir / f"{n}.json")) for n in names]
        alive = [(n, e) for n, e in entries if e is not None and self._alive(e)]
        for _, entry in alive:
            self._signal(entry, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(self._alive(e) for _, e in alive):
            time.sleep(0.05)
        for _, entry in alive:
            if self._alive(entry):
                self._signal(entry, signal.SIGKILL)
        removed = 0
        for name, entry in entries:
            if entry is None:
                continue
            self._reap(entry["pid"])
            with contextlib.suppress(FileNotFoundError):
                (self.dir / f"{name}.json").unlink()
                removed += 1
            with contextlib.suppress(FileNotFoundError):
                (self.logs / f"{name}.log").unlink()
        return removed

    # --- registry -------------------------------------------------------------------------------------
    def _write(self, record: ContainerRecord, pid: int, created_at: float) -> None:
        path = self.dir / f"{record.name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"record": record.__dict__, "pid": pid, "create_time": created_at}))
        os.replace(tmp, path)

    @staticmethod
    def _read(path: Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def _alive(self, entry: dict) -> bool:
        pid = entry["pid"]
        child = self._children.get(pid)
        if child is not None and child.poll() is not None:
            return False
        try:
            proc = psutil.Process(pid)
            if entry.get("create_time") and abs(proc.create_time() - entry["create_time"]) > 0.01:
                return False  # the pid was recycled: not ours
            return proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def _signal(self, entry: dict, sig: int) -> None:
        pid = entry["pid"]
        try:
            os.killpg(pid, sig)  # its own process group (start_new_session)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def _reap(self, pid: int) -> None:
        child = self._children.pop(pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1)
