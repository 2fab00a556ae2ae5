"""Serve one precomputed layer read-only over HTTP for Neuroglancer.

    python server.py [--root /mnt/data] [--port 1337] [--bind 0.0.0.0] [--kind precomputed|static]

- GET, HEAD and OPTIONS; single byte ranges (`Range: bytes=a-b`, `a-`, `-n`) answer 206;
- `Access-Control-Allow-Origin: *` on every answer, pre-flight requests answered with the allowed headers;
- a path containing `..`, or one that resolves (symbolic links included) outside the root, is refused;
- a chunk stored compressed (`<name>.gz`) is sent as it is with `Content-Encoding: gzip`;
- a multi-threaded server (one thread per connection), nothing is ever written;
- every GET and HEAD must carry the session's access cookie (lib/viewer_access.py), else 401: the session id
  and its key come from LIGHTSERV_VIEW_SESSION and LIGHTSERV_VIEW_KEY, without which it does not start.

At start the layer is checked: `<root>/info` must exist and be a precomputed `info`; for `--kind precomputed`
(image and segmentation layers) cloud-volume must open it. Otherwise the program exits with status 2 and
one sentence on stderr; it never fabricates a test volume. `--kind static` serves an annotation
layer (or any folder with an `info`) the same way. Options may also come from CV_ROOT, CV_PORT, CV_BIND,
CV_KIND. SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# lib/viewer_access.py: beside this file in the image (/app/lib), in the checkout's lib/ otherwise
sys.path.append(str(Path(__file__).resolve().parent.parent))
from lib import viewer_access  # noqa: E402

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Content-Encoding, Accept-Ranges",
}
ALLOWED_HEADERS = "Range, Content-Type, Authorization, Cache-Control"
ENCODINGS = ("raw", "jpeg", "png", "compressed_segmentation", "compresso", "crackle", "fpzip", "kempressed", "jxl",
             "zfpc")  # fmt: skip


class LayerHandler(BaseHTTPRequestHandler):
    """Read-only files of one folder (`server.root`)."""

    protocol_version = "HTTP/1.1"
    server_version = "lightserv-cloudvolume"
    server: LayerServer

    # --- HTTP methods -------------------------------------------------------------------------------
    def do_OPTIONS(self) -> None:  # noqa: N802 - http.server naming
        self.send_response(204)
        self._cors()
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
        requested = self.headers.get("Access-Control-Request-Headers")
        self.send_header("Access-Control-Allow-Headers", requested or ALLOWED_HEADERS)
        self.send_header("Access-Control-Max-Age", "86400")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def _method_not_allowed(self) -> None:
        self._error(405, "read-only server")

    do_POST = do_PUT = do_DELETE = do_PATCH = _method_not_allowed  # noqa: N815

    # --- helpers ------------------------------------------------------------------------------------
    def _cors(self) -> None:
        for name, value in CORS_HEADERS.items():
            self.send_header(name, value)

    def _error(self, status: int, message: str) -> None:
        body = (json.dumps({"error": message}) + "\n").encode()
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _resolve(self) -> tuple[Path, str | None] | None:
        """The file for the request path and its content encoding, or None (the error is sent)."""
        raw = self.path.split("?", 1)[0].split("#", 1)[0]
        from urllib.parse import unquote

        rel = unquote(raw).lstrip("/")
        if ".." in rel or "\x00" in rel or "\\" in rel:
            self._error(403, "relative paths are not allowed")
            return None
        candidate = self.server.root / rel if rel else self.server.root
        for path, encoding in ((candidate, None), (candidate.with_name(candidate.name + ".gz"), "gzip")):
            real = Path(os.path.realpath(path))
            if real != self.server.root and self.server.root not in real.parents:
                continue  # a symbolic link out of the layer is never followed
            if real.is_file():
                return real, encoding
        self._error(404, f"/{rel}: not found")
        return None

    def _serve(self, body: bool) -> None:
        allowed = viewer_access.check(self.headers.get("Cookie"), self.server.access_key, self.server.session_id)
        if allowed != 200:
            self._error(allowed, "open this view from lightserv: the request carries no valid access cookie")
            return
        found = self._resolve()
        if found is None:
            return
        path, encoding = found
        try:
            size = path.stat().st_size
            start, end = 0, size - 1
            status = 200
            header = self.headers.get("Range")
            if header and encoding is None:
                parsed = _parse_range(header, size)
                if parsed is None:
                    self.send_response(416)
                    self._cors()
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, end = parsed
                status = 206
            length = max(0, end - start + 1)
            with open(path, "rb") as fh:
                self.send_response(status)
                self._cors()
                kind = "application/json" if path.name == "info" else "application/octet-stream"
                self.send_header("Content-Type", kind)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(length))
                self.send_header("Cache-Control", "no-cache")
                if encoding:
                    self.send_header("Content-Encoding", encoding)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                self.end_headers()
                if body and length:
                    fh.seek(start)
                    _copy(fh, self.wfile, length)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except OSError as exc:
            self._error(500, f"cannot read the file: {exc.strerror or exc}")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server signature
        if self.server.quiet:
            return
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    match = RANGE_RE.match(header.strip())
    if not match or size == 0:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # the last n bytes
        n = int(last)
        if n == 0:
            return None
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def _copy(src, dst, length: int) -> None:
    remaining = length
    while remaining > 0:
        block = src.read(min(1 << 20, remaining))
        if not block:
            break
        dst.write(block)
        remaining -= len(block)


class LayerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], root: Path, access: tuple[str, str], quiet: bool = True):
        self.root = Path(os.path.realpath(root))
        self.session_id, self.access_key = access
        self.quiet = quiet
        super().__init__(address, LayerHandler)


class LayerMissing(Exception):
    """The folder is not a layer this server may serve."""


def check_layer(root: Path, kind: str) -> dict:
    """The layer's `info`, or LayerMissing with one sentence (never fabricate a volume)."""
    info_path = root / "info"
    if not root.is_dir():
        raise LayerMissing(f"{root} is not a folder")
    if not info_path.is_file():
        raise LayerMissing(f"{info_path} is missing: this folder is not a precomputed layer")
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError) as exc:
        raise LayerMissing(f"{info_path} is not readable JSON: {exc}") from exc
    if not isinstance(info, dict):
        raise LayerMissing(f"{info_path} is not a JSON object")
    if kind == "precomputed":
        if not info.get("scales"):
            raise LayerMissing(f"{info_path} lists no scales")
        from cloudvolume import CloudVolume  # the pinned reader: the layer must open as a volume

        try:
            volume = CloudVolume(f"file://{root}", progress=False, fill_missing=False, cache=False)
            import numpy as np

            np.dtype(volume.dtype)
            for mip in range(len(volume.info["scales"])):
                volume.meta.chunk_size(mip)
                volume.meta.bounds(mip)
                if volume.meta.encoding(mip) not in ENCODINGS:
                    raise ValueError(f"unknown encoding {volume.meta.encoding(mip)!r}")
            if not (root / volume.meta.key(0)).is_dir():
                raise ValueError(f"scale 0 ({volume.meta.key(0)}) has no data")
        except Exception as exc:  # noqa: BLE001 - any reader error means we must not serve it
            raise LayerMissing(f"cloud-volume cannot open {root}: {type(exc).__name__}: {exc}") from exc
    return info


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=_env("CV_ROOT", "/mnt/data"))
    parser.add_argument("--port", type=int, default=int(_env("CV_PORT", "1337")))
    parser.add_argument("--bind", default=_env("CV_BIND", "0.0.0.0"))  # noqa: S104 - inside its container network
    parser.add_argument("--kind", choices=("precomputed", "static"), default=_env("CV_KIND", "precomputed"))
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    root = Path(args.root)
    try:
        access = viewer_access.from_env()
        check_layer(root, args.kind)
    except (LayerMissing, viewer_access.AccessConfigError) as exc:
        print(f"cloudvolume server: error: {exc}", file=sys.stderr, flush=True)
        return 2
    server = LayerServer((args.bind, args.port), root, access, quiet=not args.verbose)

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"cloudvolume server: serving {root} on {args.bind}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
