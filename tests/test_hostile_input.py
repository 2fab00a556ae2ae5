"""Hostile input against every route of the permission matrix (issue 11, item 4).

For each route, as the facility admin (who reaches the most code):
- hostile query strings (SQL, markup, template syntax, traversal, NUL, huge numbers, negative pages,
  unknown sort keys, open redirects) never produce a 500, and markup is never echoed unescaped;
- hostile values in the path's owner and request segments (traversal, quotes, NUL, long names) are
  refused with a 4xx or a redirect, never a 500;
- every POST without a CSRF token is refused with 400 and changes nothing in the event log;
- every POST with a valid token but hostile form fields never produces a 500.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest

from tests.matrix import all_rows
from tests.support.auth import sign_in
from tests.test_permissions import matrix_world  # noqa: F401  (fixture)

ROUTES = all_rows()
HOSTILE = [
    "' OR 1=1 -- ",
    "<script>alert('x')</script>",
    "{{7*7}}{% raw %}",
    "../../../../etc/passwd",
    "%00\x00nul",
    "9" * 40,
    "-1",
    "",
    " " * 300,
    "𝔲𝔫𝔦𝔠𝔬𝔡𝔢 ✓",
    "//evil.example/",
]
QUERY_KEYS = ["page", "per_page", "sort", "dir", "order", "q", "status", "next", "kind", "from", "to", "user"]
FORM_KEYS = ["name", "username", "request_name", "sample_name", "notes", "role", "email", "page", "stage", "step",
             "atlas", "flat", "reason", "next"]  # fmt: skip
PATH_VALUES = ["..%2F..%2Fetc", "x'--", "%00", "a" * 300, "<b>", "%2e%2e"]
MARKUP = "<script>alert('x')</script>"


def _url(template: str, world, owner: str | None = None, request: str | None = None) -> str:
    """The matrix row's URL filled as the permission test fills it, optionally with hostile segments."""
    values = {**world, "request": "matrix_req"}
    if owner is not None:
        values["owner"] = owner
    if request is not None:
        values["request"] = request
    return template.format(**values)


def _login(client, username: str) -> None:
    sign_in(client, username, clear=True)


def _event_count(app) -> int:
    from lightserv.extensions import db
    from lightserv.models import EventLog

    with app.app_context():
        return db.session.query(EventLog).count()


GET_ROUTES = sorted(e for e, (method, _, _) in ROUTES.items() if method == "GET")
POST_ROUTES = sorted(e for e, (method, _, _) in ROUTES.items() if method == "POST")


@pytest.mark.parametrize("endpoint", GET_ROUTES)
def test_hostile_query_strings_never_break_a_page(app, client, matrix_world, endpoint):  # noqa: F811
    _, template, expected = ROUTES[endpoint]
    url = _url(template, matrix_world)
    problems = []
    for subject in ("admin",):
        _login(client, matrix_world[subject])
        for value in HOSTILE:
            query = urlencode({key: value for key in QUERY_KEYS})
            resp = client.get(f"{url}{'&' if '?' in url else '?'}{query}")
            if resp.status_code >= 500 and resp.status_code != expected[subject]:  # /healthz: 503 without a worker
                problems.append((subject, value[:20], resp.status_code))
            elif MARKUP in resp.get_data(as_text=True):
                problems.append((subject, "markup echoed unescaped", resp.status_code))
            location = resp.headers.get("Location", "")
            if location.startswith(("//", "http://evil", "https://evil")) or "evil.example" in location:
                problems.append((subject, f"open redirect to {location}", resp.status_code))
    assert not problems, f"{endpoint} {url}: {problems}"


@pytest.mark.parametrize(
    "endpoint", [e for e in GET_ROUTES + POST_ROUTES if "{owner}" in ROUTES[e][1] or "{request}" in ROUTES[e][1]]
)
def test_hostile_path_segments_are_refused_cleanly(app, client, matrix_world, endpoint):  # noqa: F811
    from tests.conftest import csrf_from

    method, template, _ = ROUTES[endpoint]
    _login(client, matrix_world["admin"])
    problems = []
    for value in PATH_VALUES:
        for url in (_url(template, matrix_world, owner=value), _url(template, matrix_world, request=value)):
            if method == "GET":
                resp = client.get(url)
            else:
                token = csrf_from(client.get("/about").get_data(as_text=True))
                resp = client.post(url, data={"csrf_token": token})
            if resp.status_code >= 500 or resp.status_code == 200 and method == "POST":
                problems.append((value[:20], resp.status_code))
    assert not problems, f"{endpoint}: {problems}"


@pytest.mark.parametrize("endpoint", POST_ROUTES)
def test_a_post_without_a_csrf_token_is_refused_and_writes_nothing(app, client, matrix_world, endpoint):  # noqa: F811
    _, template, _ = ROUTES[endpoint]
    url = _url(template, matrix_world)
    _login(client, matrix_world["admin"])
    before = _event_count(app)
    resp = client.post(url, data={"name": "x", "confirm": "y"})
    assert resp.status_code == 400, f"{endpoint} {url}: {resp.status_code}"
    assert _event_count(app) == before


@pytest.mark.parametrize("endpoint", POST_ROUTES)
def test_hostile_form_fields_never_break_a_post(app, client, matrix_world, endpoint):  # noqa: F811
    from tests.conftest import csrf_from

    _, template, _ = ROUTES[endpoint]
    url = _url(template, matrix_world)
    problems = []
    for subject in ("admin",):
        _login(client, matrix_world[subject])
        for value in HOSTILE:
            token = csrf_from(client.get("/about").get_data(as_text=True))
            fields = {key: value for key in FORM_KEYS}
            fields["csrf_token"] = token
            resp = client.post(url, data=fields)
            if resp.status_code >= 500:
                problems.append((subject, quote(value[:20]), resp.status_code))
            elif MARKUP in resp.get_data(as_text=True):
                problems.append((subject, "markup echoed unescaped", resp.status_code))
    assert not problems, f"{endpoint} {url}: {problems}"
