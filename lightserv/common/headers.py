"""Security headers on every response of the app (pages, redirects, errors, JSON, static files).

- Content-Security-Policy: scripts, styles, images, fonts and fetches only from this site; no inline
  script (every script is a file in lightserv/static/); no plugins; no <base>; forms post only here (and
  to the SSO logout address when one is set); the site is never framed.
- X-Frame-Options: DENY (older browsers), X-Content-Type-Options: nosniff, Referrer-Policy: same-origin.
- Strict-Transport-Security in PROD only (TLS ends at the facility's reverse proxy; DEV and TEST run on
  plain http on the loopback address).

Inline style *attributes* stay allowed (`style-src-attr 'unsafe-inline'`: progress-bar widths and row
colours computed from data); <style> elements and style sheets from elsewhere do not (docs/decisions.md).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response

HSTS = "max-age=31536000; includeSubDomains"


def content_security_policy(sso_logout_url: str = "") -> str:
    """The policy; a form may also lead to the origin of the SSO logout address (logout redirects there)."""
    form_action = ["'self'"]
    if sso_logout_url:
        parts = urlsplit(sso_logout_url)
        form_action.append(f"{parts.scheme}://{parts.netloc}")
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "style-src-attr": "'unsafe-inline'",
        "img-src": "'self' data:",  # data: the icons inside Bootstrap's CSS
        "font-src": "'self'",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": " ".join(form_action),
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def security_headers(settings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(settings.sso_logout_url),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    if settings.lightserv_mode == "PROD":
        headers["Strict-Transport-Security"] = HSTS
    return headers


def init_security_headers(app: Flask) -> None:
    """Add the headers to every response; a view that set one of them itself keeps its value."""
    headers = security_headers(app.config["SETTINGS"])

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
