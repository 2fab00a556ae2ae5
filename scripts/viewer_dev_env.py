"""Write var/viewer.env for `make run` (honcho reads it): the viewer-launcher's token and URL, its allowed mount
roots, and, when configurable-http-proxy is installed (var/node), the proxy's API and token with
PUBLIC_BASE_URL on the proxy's public port (which forwards everything else to the web application). Views need
the proxy: only behind it do the browser's access cookie and the data share one origin.

Tokens are generated once per checkout and kept in var/ (never committed). A setting already present in the
environment is left alone.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PROXY = VAR / "node" / "node_modules" / ".bin" / "configurable-http-proxy"


def token(name: str) -> str:
    path = VAR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def main() -> int:
    VAR.mkdir(exist_ok=True)
    data_root = os.environ.get("DATA_ROOT", str(VAR / "data"))
    atlas_root = os.environ.get("ATLAS_ROOT", str(VAR / "atlas"))
    launcher_port = os.environ.get("VIEWER_LAUNCHER_PORT", "8090")
    values = {
        "VIEWER_LAUNCHER_TOKEN": token("viewer-launcher-token"),
        "VIEWER_LAUNCHER_URL": f"http://127.0.0.1:{launcher_port}",
        "VIEWER_LAUNCHER_BIND": f"127.0.0.1:{launcher_port}",
        "ALLOWED_MOUNT_ROOTS": f"{data_root}{os.pathsep}{atlas_root}",
        "CONFIGPROXY_AUTH_TOKEN": token("configproxy-token"),
        "LIGHTSERV_WEB_URL": f"http://127.0.0.1:{os.environ.get('PORT', '5000')}",
    }
    if PROXY.exists():
        proxy_port = os.environ.get("VIEWER_PROXY_PORT", "8000")
        values["VIEWER_PROXY_API_URL"] = f"http://127.0.0.1:{int(proxy_port) + 1}"
        values["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{proxy_port}"
        print(f"Viewer: configurable-http-proxy on http://127.0.0.1:{proxy_port} (the whole site is also there).")
    else:
        values["PUBLIC_BASE_URL"] = values["LIGHTSERV_WEB_URL"]
        print("Viewer: configurable-http-proxy is not installed (it needs node and npm); views cannot open.")
    lines = [f"{k}={v}" for k, v in values.items() if k not in os.environ]
    (VAR / "viewer.env").write_text("\n".join(lines) + "\n")
    (VAR / "viewer.env").chmod(0o600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
