"""Clients of the two services a viewer session lives in: the viewer-launcher (token in a header, never
logged) and configurable-http-proxy (lib.proxy). Only the worker calls them; web requests never wait."""

from __future__ import annotations

from typing import Any

import requests
from flask import current_app

from lib.proxy import ProxyClient


class LauncherError(RuntimeError):
    """The launcher refused or could not be reached. `status` is its HTTP status (0: unreachable)."""

    def __init__(self, message: str, status: int = 0, layer: str | None = None):
        super().__init__(message)
        self.status = status
        self.layer = layer


class LauncherClient:
    def __init__(self, url: str, token: str, timeout: float = 10.0):
        if not url.startswith(("http://", "https://")):
            raise LauncherError("VIEWER_LAUNCHER_URL must be an http(s) URL")
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self.timeout = timeout

    def _call(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        try:
            return requests.request(
                method, self.url + path, headers=self._headers, timeout=timeout or self.timeout, **kwargs
            )
        except requests.Timeout as exc:
            raise LauncherError("the viewer launcher did not answer in time") from exc
        except requests.RequestException as exc:
            raise LauncherError(f"the viewer launcher is not reachable ({type(exc).__name__})") from exc

    @staticmethod
    def _refusal(resp: requests.Response) -> LauncherError:
        try:
            body = resp.json()
        except ValueError:
            body = {}
        message = body.get("error") if isinstance(body, dict) else None
        return LauncherError(message or f"HTTP {resp.status_code}", resp.status_code, (body or {}).get("layer"))

    def create_session(self, body: dict, timeout: float) -> dict:
        resp = self._call("POST", "/v1/sessions", timeout=timeout, json=body)
        if resp.status_code != 201:
            raise self._refusal(resp)
        return resp.json()

    def delete_session(self, session_id: str) -> int:
        """Stop and remove every container of the session; none left is not an error."""
        resp = self._call("DELETE", f"/v1/sessions/{session_id}", timeout=30)
        if resp.status_code not in (204, 404):
            raise self._refusal(resp)
        return int(resp.headers.get("X-Lightserv-Removed", "0") or 0)

    def list_sessions(self) -> list[dict]:
        resp = self._call("GET", "/v1/sessions")
        if resp.status_code != 200:
            raise self._refusal(resp)
        return list(resp.json().get("sessions", []))

    def sweep(self, keep: list[str]) -> list[str]:
        resp = self._call("POST", "/v1/sweep", timeout=60, json={"keep": keep})
        if resp.status_code != 200:
            raise self._refusal(resp)
        return list(resp.json().get("removed", []))


def launcher() -> LauncherClient:
    settings = current_app.config["SETTINGS"]
    if not settings.viewer_launcher_url:
        raise LauncherError("the viewer launcher is not configured (VIEWER_LAUNCHER_URL)")
    return LauncherClient(settings.viewer_launcher_url, settings.viewer_launcher_token)


def proxy() -> ProxyClient | None:
    """The proxy API, or None when none is configured (sessions then use direct loopback URLs)."""
    settings = current_app.config["SETTINGS"]
    if not settings.viewer_proxy_api_url:
        return None
    return ProxyClient(settings.viewer_proxy_api_url, settings.configproxy_auth_token)


def session_paths(session_id: str) -> tuple[str, str]:
    """The proxy paths of a session: its neuroglancer route and the prefix of its layer routes."""
    return f"/nglancer/{session_id}", f"/cv/{session_id}/"


def belongs_to(path: str, session_id: str) -> bool:
    ng, cv = session_paths(session_id)
    return path == ng or path.startswith(ng + "/") or path.startswith(cv)


def session_of_route(path: str) -> str | None:
    """The session id of a viewer route (`/nglancer/<id>` or `/cv/<id>/<layer>`), None for other routes."""
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] in ("nglancer", "cv"):
        return parts[1]
    return None
