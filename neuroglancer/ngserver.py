"""Run a Neuroglancer viewer from the environment: the pinned neuroglancer package's server
and its bundled client, one viewer with the token and state it is given, until SIGTERM.

Environment: NG_TOKEN (the viewer token; the viewer is at /v/<token>/), NG_LAYERS, NG_LAYOUT, NG_GAIN (see
ngstate.py), NG_BIND_ADDRESS (default 0.0.0.0), NG_PORT (default 8080), NG_STATIC_CONTENT_URL (optional: a
client served from elsewhere; by default the client bundled with the package, so viewers work offline).
LIGHTSERV_VIEW_SESSION and LIGHTSERV_VIEW_KEY (lib/viewer_access.py): every request to the server must carry
the session's access cookie, else 401. No database, no Redis, no other configuration.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from pathlib import Path

from ngstate import StateError, state_from_env

# lib/viewer_access.py: beside this file in the image (/app/lib), in the checkout's lib/ otherwise
sys.path.append(str(Path(__file__).resolve().parent.parent))
from lib import viewer_access  # noqa: E402

TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")


def main(variant: str) -> int:
    token = os.environ.get("NG_TOKEN", "")
    if not TOKEN_RE.match(token):
        print("neuroglancer server: error: NG_TOKEN must be 32 lower-case hex digits", file=sys.stderr)
        return 2
    try:
        state = state_from_env(variant=variant)
        access = viewer_access.from_env()
    except (StateError, viewer_access.AccessConfigError) as exc:
        print(f"neuroglancer server: error: {exc}", file=sys.stderr)
        return 2
    bind = os.environ.get("NG_BIND_ADDRESS", "0.0.0.0")  # noqa: S104 - inside its container network
    port = int(os.environ.get("NG_PORT", "8080"))

    import neuroglancer

    require_access_cookie(*access)
    neuroglancer.set_server_bind_address(bind_address=bind, bind_port=port)
    static_url = os.environ.get("NG_STATIC_CONTENT_URL", "")
    if static_url:
        neuroglancer.set_static_content_source(url=static_url)
    viewer = neuroglancer.Viewer(token=token)
    viewer.set_state(state)
    print(f"neuroglancer server ({variant}): viewer on {bind}:{port} /v/<token>/", flush=True)

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    neuroglancer.stop()
    return 0


def require_access_cookie(session_id: str, key: str) -> None:
    """Every handler of the package's server (page, static files, state events) first checks the cookie."""
    import neuroglancer.server

    def prepare(handler) -> None:
        allowed = viewer_access.check(handler.request.headers.get("Cookie"), key, session_id)
        if allowed != 200:
            handler.set_status(allowed)
            handler.set_header("Content-Type", "text/plain; charset=utf-8")
            handler.finish("Open this view from lightserv: the request carries no valid access cookie.\n")

    neuroglancer.server.BaseRequestHandler.prepare = prepare
