"""Run a Neuroglancer viewer from the environment (viewer.md §7): the pinned neuroglancer package's server
and its bundled client, one viewer with the token and state it is given, until SIGTERM.

Environment: NG_TOKEN (the viewer token; the viewer is at /v/<token>/), NG_LAYERS, NG_LAYOUT, NG_GAIN (see
ngstate.py), NG_BIND_ADDRESS (default 0.0.0.0), NG_PORT (default 8080), NG_STATIC_CONTENT_URL (optional: a
client served from elsewhere; by default the client bundled with the package, so viewers work offline).
No database, no Redis, no other configuration.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading

from ngstate import StateError, state_from_env

TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")


def main(variant: str) -> int:
    token = os.environ.get("NG_TOKEN", "")
    if not TOKEN_RE.match(token):
        print("neuroglancer server: error: NG_TOKEN must be 32 lower-case hex digits", file=sys.stderr)
        return 2
    try:
        state = state_from_env(variant=variant)
    except StateError as exc:
        print(f"neuroglancer server: error: {exc}", file=sys.stderr)
        return 2
    bind = os.environ.get("NG_BIND_ADDRESS", "0.0.0.0")  # noqa: S104 - inside its container network
    port = int(os.environ.get("NG_PORT", "8080"))

    import neuroglancer

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
