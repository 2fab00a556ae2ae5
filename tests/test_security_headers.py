"""Security headers on every answer of the app: a Content-Security-Policy that runs no inline script and
forbids framing, plus X-Frame-Options, nosniff, a same-origin Referrer-Policy, and HSTS in PROD only.

Every route of the permission matrix is asked by every subject of its row, in the matrix test's own world
(redirects, refusals, not-found and bad-request answers included); then error pages, /healthz and static
files. Templates are checked for inline scripts, inline event handlers and `javascript:` URLs, which the
policy would block in the browser.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.matrix import answer, matrix_url
from tests.test_permissions import ROUTES, matrix_world  # noqa: F401  (the matrix test's world, reused)

TEMPLATES = Path(__file__).resolve().parent.parent / "lightserv" / "templates"


def policy(response) -> dict[str, str]:
    """The Content-Security-Policy header as {directive: sources}."""
    header = response.headers.get("Content-Security-Policy", "")
    parts = (p.strip().split(None, 1) for p in header.split(";") if p.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


def assert_security_headers(response, where: str, hsts: bool = False) -> None:
    csp = policy(response)
    assert csp, f"{where}: no Content-Security-Policy"
    assert csp.get("default-src") == "'self'", f"{where}: {csp}"
    assert csp.get("script-src") == "'self'", f"{where}: scripts only from our files: {csp}"
    assert "unsafe" not in csp.get("style-src", "unsafe"), f"{where}: {csp}"
    assert csp.get("object-src") == "'none'" and csp.get("base-uri") == "'self'", f"{where}: {csp}"
    assert csp.get("form-action", "").split()[:1] == ["'self'"], f"{where}: {csp}"
    assert csp.get("frame-ancestors") == "'none'", f"{where}: {csp}"
    assert response.headers.get("X-Frame-Options") == "DENY", where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("Referrer-Policy") == "same-origin", where
    if hsts:
        assert re.fullmatch(r"max-age=\d{8,}; includeSubDomains", response.headers.get("Strict-Transport-Security", ""))
    else:
        assert "Strict-Transport-Security" not in response.headers, f"{where}: HSTS outside PROD"


@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_every_answer_of_every_matrix_route_carries_the_security_headers(app, client, matrix_world, endpoint):  # noqa: F811
    method, url_template, expected = ROUTES[endpoint]
    url = matrix_url(url_template, matrix_world)
    for subject in expected:
        response = answer(client, matrix_world, subject, method, url)
        assert_security_headers(response, f"{method} {url} as {subject} ({response.status_code})")


def test_error_answers_health_and_static_files_carry_the_security_headers(app, client, login_as):
    login_as("researcher")
    asked = {"forbidden": client.get("/admin/users")}
    with client.session_transaction() as sess:
        sess.clear()
    asked |= {
        "not found": client.get("/no/such/page"),
        "json not found": client.get("/api/v1/no-such-thing"),
        "POST without a CSRF token": client.post("/login", data={"username": "x", "password": "y"}),
        "method not allowed": client.delete("/login"),
        "healthz": client.get("/healthz"),
        "static file": client.get("/static/lightserv.js"),
        "bootstrap file": client.get("/bootstrap/static/css/bootstrap.min.css"),
    }
    codes = {name: r.status_code for name, r in asked.items()}
    assert codes["not found"] == 404 and codes["POST without a CSRF token"] == 400 and codes["forbidden"] == 403
    assert codes["method not allowed"] == 405 and codes["static file"] == 200 and codes["bootstrap file"] == 200
    for name, response in asked.items():
        assert_security_headers(response, name)


def app_with(settings_overrides, **changes):
    from lightserv import create_app
    from lightserv.settings import Settings

    return create_app(Settings(**{**settings_overrides, **changes}))


def test_hsts_is_sent_in_prod_only(app, settings_overrides):
    prod = app_with(settings_overrides, lightserv_mode="PROD", secret_key="p" * 48)
    answers = [prod.test_client().get(url) for url in ("/login", "/healthz", "/static/lightserv.css", "/nope")]
    for response in answers:
        assert_security_headers(response, f"PROD {response.status_code}", hsts=True)


def test_the_sso_logout_address_is_the_only_other_place_a_form_may_lead(app, settings_overrides):
    sso = app_with(settings_overrides, sso_logout_url="https://sso.lab.example.org/logout?return=1")
    csp = policy(sso.test_client().get("/login"))
    assert csp["form-action"] == "'self' https://sso.lab.example.org"


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"""<[a-z][^>]*\son[a-z]+\s*=\s*["']""", re.I)  # inside a tag
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def test_no_template_carries_inline_script_event_handlers_or_javascript_urls():
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for name, pattern in (("inline script", INLINE_SCRIPT), ("handler", EVENT_HANDLER), ("js: URL", JS_URL)):
            found += [f"{path.relative_to(TEMPLATES)}: {name}: {m.group(0)!r}" for m in pattern.finditer(text)]
    assert not found, "the policy blocks these; move them into lightserv/static/*.js:\n" + "\n".join(found)
