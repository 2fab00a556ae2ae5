"""Run configurable-http-proxy as a child process (tests, benchmarks and `make run`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .client import ProxyClient, ProxyError

CHECKOUT = Path(__file__).resolve().parents[2]
#: where `scripts/provision-test.sh` and `make run` install the pinned package
NODE_PREFIX = CHECKOUT / "var" / "node"
BINARY = "configurable-http-proxy"


class ProxyUnavailable(RuntimeError):
    """configurable-http-proxy (or node) is not installed; the message says how to install it."""


def find_proxy_binary() -> Path:
    """The proxy's executable: CONFIGPROXY_BIN, else var/node/node_modules/.bin, else one on PATH."""
    explicit = os.environ.get("CONFIGPROXY_BIN", "")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(NODE_PREFIX / "node_modules" / ".bin" / BINARY)
    found = shutil.which(BINARY)
    if found:
        candidates.append(Path(found))
    if not shutil.which("node"):
        raise ProxyUnavailable("node is not installed (Debian package 'nodejs'); the proxy needs it")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ProxyUnavailable(
        f"configurable-http-proxy is not installed: run `npm ci --prefix {NODE_PREFIX}` with lib/proxy/node/"
        "package*.json copied there (scripts/provision-test.sh does it)"
    )


@dataclass
class ProxyProcess:
    popen: subprocess.Popen[bytes]
    public_url: str
    api_url: str
    token: str
    log_path: Path

    def client(self) -> ProxyClient:
        return ProxyClient(self.api_url, self.token)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def start_proxy(
    port: int,
    api_port: int,
    token: str,
    log_path: Path,
    *,
    default_target: str | None = None,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
) -> ProxyProcess:
    """Start the proxy (route prefixes stripped, API on its own port) and wait until its API answers."""
    binary = find_proxy_binary()
    args = [
        str(binary),
        "--ip", host,
        "--port", str(port),
        "--api-ip", "127.0.0.1",
        "--api-port", str(api_port),
        "--no-include-prefix",
        "--log-level", "warn",
    ]  # fmt: skip
    if default_target:
        args += ["--default-target", default_target]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "NODE_PATH")}
    env["CONFIGPROXY_AUTH_TOKEN"] = token
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - fixed program
    proc = ProxyProcess(popen, f"http://{host}:{port}", f"http://127.0.0.1:{api_port}", token, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if popen.poll() is not None:
            raise ProxyUnavailable(f"configurable-http-proxy exited at start:\n{proc.log()[-2000:]}")
        try:
            proc.client().ping()
            return proc
        except (ProxyError, urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                proc.stop()
                raise ProxyUnavailable(f"configurable-http-proxy did not answer within {timeout:g} s") from None
            time.sleep(0.2)
