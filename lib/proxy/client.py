"""The proxy's REST API: add, delete and list routes (a route already gone is not an error)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


class ProxyError(RuntimeError):
    """The proxy API refused a call or could not be reached; the message never contains the token."""


@dataclass(frozen=True)
class Route:
    path: str
    target: str
    last_activity: dt.datetime | None  # UTC, naive


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


class ProxyClient:
    def __init__(self, api_url: str, token: str, timeout: float = 5.0):
        if not api_url.startswith(("http://", "https://")):
            raise ProxyError("the proxy API URL must be http(s)")
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, query: str = "") -> tuple[int, bytes]:
        url = f"{self.api_url}/api/routes{urllib.parse.quote(path)}{query}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - scheme checked
        request.add_header("Authorization", f"token {self._token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 - scheme checked
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise ProxyError(f"the proxy API at {self.api_url} is not reachable: {exc}") from exc

    def add_route(self, path: str, target: str) -> None:
        status, _ = self._call("POST", _route_path(path), {"target": target})
        if status not in (200, 201):
            raise ProxyError(f"adding route {path} failed with HTTP {status}")

    def delete_route(self, path: str) -> bool:
        """Delete a route; False when it was already gone."""
        status, _ = self._call("DELETE", _route_path(path))
        if status == 404:
            return False
        if status not in (200, 204):
            raise ProxyError(f"deleting route {path} failed with HTTP {status}")
        return True

    def routes(self, inactive_since: dt.datetime | None = None) -> dict[str, Route]:
        """Every route, or (with `inactive_since`, naive UTC) those with no activity since that time."""
        query = ""
        if inactive_since is not None:
            stamp = inactive_since.replace(tzinfo=dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            query = "?" + urllib.parse.urlencode({"inactive_since": stamp})
        status, raw = self._call("GET", "", query=query)
        if status != 200:
            raise ProxyError(f"listing routes failed with HTTP {status}")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ProxyError("the proxy answered with invalid JSON") from exc
        out = {}
        for path, info in data.items():
            if isinstance(info, dict):
                out[path] = Route(path, str(info.get("target", "")), parse_time(info.get("last_activity")))
        return out

    def ping(self) -> None:
        self.routes()


def _route_path(path: str) -> str:
    if not path.startswith("/") or ".." in path or "?" in path or "#" in path:
        raise ProxyError(f"invalid route path {path!r}")
    return path
