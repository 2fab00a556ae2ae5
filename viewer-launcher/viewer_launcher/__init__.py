"""viewer-launcher: the only component that starts viewer servers.

A small Flask service run by gunicorn (`python -m viewer_launcher`, never a debug server) with two back ends
behind one interface: `process` (local processes on loopback ports, the `make run` default) and `docker`
(containers through the Docker SDK, production).
"""

from .app import create_app
from .config import ConfigError, LauncherConfig

__all__ = ["ConfigError", "LauncherConfig", "create_app"]
