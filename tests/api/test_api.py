"""The read-only JSON API (docs/api.md): a token sees exactly what its user sees on the pages, pages of
results with next links, JSON errors for every bad call, and revoked tokens refused."""

from __future__ import annotations

import re

import pytest

from tests.support.auth import sign_in

REQUEST_ROW = re.compile(r'<tr class="[^"]*" id="([^"]+)" data-testid="request-row">')
SAMPLE_ROW = re.compile(
    r'<tr data-testid="sample-row">\s*<td>([^<]+)</td>\s*<td><a href="[^"]*">([^<]+)</a></td>\s*<td>([^<]+)</td>'
)
EXPECTED_REQUESTS = {
    "ana": {("ana", "alpha"), ("ana", "beta")},
    "bo": {("ana", "alpha"), ("bo", "gamma")},
    "cleo": {("ana", "alpha"), ("ana", "beta"), ("bo", "gamma")},
    "zed": set(),
}


def page_rows(app, username: str, path: str, pattern: re.Pattern) -> list[tuple]:
    """The rows a signed-in browser session of `username` sees on an HTML list page."""
    client = app.test_client()
    sign_in(client, username)
    return pattern.findall(client.get(path).get_data(as_text=True))


@pytest.mark.parametrize("username", sorted(EXPECTED_REQUESTS))
def test_a_token_sees_exactly_the_requests_and_samples_its_user_sees_on_the_pages(app, world, token_of, api, username):
    token = token_of(username)
    got = api("/api/v1/requests?per_page=200", token).get_json()
    api_requests = [(r["username"], r["request_name"]) for r in got["items"]]
    html_requests = [tuple(i.split("-", 1)) for i in page_rows(app, username, "/requests/", REQUEST_ROW)]
    assert api_requests == html_requests  # the same rows in the same order
    assert set(api_requests) == EXPECTED_REQUESTS[username]
    assert got["total"] == len(EXPECTED_REQUESTS[username])

    samples = api("/api/v1/samples?per_page=200", token).get_json()["items"]
    api_samples = [(s["sample_name"], s["request_name"], s["username"]) for s in samples]
    assert api_samples == page_rows(app, username, "/requests/samples", SAMPLE_ROW)
    assert {(s[2], s[1]) for s in api_samples} == EXPECTED_REQUESTS[username]


@pytest.mark.parametrize(("username", "sees"), [("ana", True), ("bo", True), ("cleo", True), ("zed", False)])
def test_runs_layers_and_one_request_follow_the_view_permission(app, world, token_of, api, username, sees):
    token = token_of(username)
    runs = api("/api/v1/runs", token).get_json()["items"]
    layers = api("/api/v1/layers", token).get_json()["items"]
    one = api("/api/v1/requests/ana/alpha", token)
    run = api(f"/api/v1/runs/{world['run_id']}", token)
    if sees:
        assert [r["run_id"] for r in runs] == [world["run_id"]]
        assert runs[0]["kind"] == "precomputed_raw" and [j["step_name"] for j in runs[0]["jobs"]][:2] == [
            "info",
            "upload",
        ]
        assert [(x["sample_name"], x["product"], x["lightsheet"]) for x in layers] == [("s1", "raw", "left")]
        body = one.get_json()
        assert one.status_code == 200 and [s["sample_name"] for s in body["samples"]] == ["s1", "s2"]
        assert body["relation"] == {"ana": "owner", "bo": "auditor", "cleo": None}[username]
        assert body["status"]["key"] == "pending" and body["cleared"] == {"done": 0, "total": 2}
        assert body["samples"][0]["imaging"][0]["resolutions"] == ["1.3x"]
        assert run.status_code == 200 and "params" in run.get_json()
    else:
        assert runs == [] and layers == []
        # a request or run the caller may not view answers exactly like a missing one
        missing = api("/api/v1/requests/ana/no_such_request", token)
        assert (one.status_code, one.get_json()) == (missing.status_code, missing.get_json())
        assert one.status_code == 404
        assert run.status_code == 404 and run.get_json()["error"] == "No such run."


def test_pages_have_next_links_that_walk_every_row_in_sql_order(world, token_of, api):
    token = token_of("cleo")
    url = "/api/v1/requests?per_page=1&sort=request_name&direction=asc"
    seen = []
    while url:
        body = api(url, token).get_json()
        assert body["per_page"] == 1 and body["total"] == 3 and body["pages"] == 3
        seen += [r["request_name"] for r in body["items"]]
        url = body["links"]["next"]
        if url:
            assert url.startswith("https://lightserv.test.example/api/v1/requests?")
            url = url.removeprefix("https://lightserv.test.example")
    assert seen == ["alpha", "beta", "gamma"]
    last = api("/api/v1/requests?per_page=1&page=3", token)
    assert last.get_json()["links"]["next"] is None and "Link" not in last.headers
    assert 'rel="next"' in api("/api/v1/requests?per_page=1", token).headers["Link"]
    beyond = api("/api/v1/requests?per_page=1&page=9", token).get_json()
    assert beyond["items"] == [] and beyond["total"] == 3 and "page=3" in beyond["links"]["prev"]


def test_filters_narrow_the_lists(world, token_of, api):
    token = token_of("cleo")
    assert [r["request_name"] for r in api("/api/v1/requests?owner=bo", token).get_json()["items"]] == ["gamma"]
    assert api("/api/v1/requests?status=complete", token).get_json()["total"] == 0
    assert [s["sample_name"] for s in api("/api/v1/samples?q=s2", token).get_json()["items"]] == ["s2"]
    assert api("/api/v1/layers?product=blended", token).get_json()["items"] == []
    assert len(api("/api/v1/runs?owner=ana&request_name=alpha&kind=precomputed_raw", token).get_json()["items"]) == 1
    assert api("/api/v1/runs?owner=bo", token).get_json()["items"] == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/v1/requests?per_page=0", "per_page must be a whole number from 1 to 200."),
        ("/api/v1/requests?per_page=201", "per_page must be a whole number from 1 to 200."),
        ("/api/v1/requests?page=abc", "page must be a whole number from 1 to 1000000."),
        ("/api/v1/requests?page=-1", "page must be a whole number from 1 to 1000000."),
        ("/api/v1/requests?sort=password", "sort must be one of"),
        ("/api/v1/requests?direction=up", "direction must be asc or desc."),
        ("/api/v1/requests?status=done", "status must be one of"),
        ("/api/v1/requests?colour=red", "Unknown parameter: colour."),
        ("/api/v1/requests?page=1&page=2", "Parameter page is given more than once."),
        ("/api/v1/samples?owner=' OR 1=1", "owner is not a valid username."),
        ("/api/v1/runs?status=exploded", "status must be one of"),
        ("/api/v1/layers?request_name=a;b", "request_name is not a valid request name."),
        ("/api/v1/requests/ana/alpha?page=2", "Unknown parameter: page."),
    ],
)
def test_bad_parameters_are_a_400_in_json_naming_the_parameter(world, token_of, api, path, message):
    resp = api(path, token_of("ana"))
    assert resp.status_code == 400 and resp.mimetype == "application/json"
    assert message in resp.get_json()["error"]


@pytest.mark.parametrize(
    "path", ["/api/v1/requests/ana/nothing", "/api/v1/runs/999999", "/api/v1/runs/abc", "/api/v1/nothing"]
)
def test_unknown_ids_and_paths_are_a_404_in_json(world, token_of, api, path):
    resp = api(path, token_of("ana"))
    assert resp.status_code == 404 and resp.mimetype == "application/json" and resp.get_json()["status"] == 404


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic YW5hOnB3"}, {"Authorization": "Bearer lsv1_forged"}],
)
def test_calls_without_a_valid_token_are_a_401_in_json_not_a_login_page(world, api, headers):
    resp = api("/api/v1/requests", **headers)
    assert resp.status_code == 401 and resp.mimetype == "application/json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "items" not in resp.get_json()


def test_a_revoked_or_replaced_token_is_refused_and_so_is_an_inactive_user(app, world, token_of, api):
    from lightserv.api.tokens import revoke_token
    from lightserv.auth.services import set_active

    first = token_of("ana")
    assert api("/api/v1/requests", first).status_code == 200
    second = token_of("ana")  # replaces the first
    assert api("/api/v1/requests", first).status_code == 401
    assert api("/api/v1/requests", second).status_code == 200
    with app.app_context():
        assert revoke_token("ana", actor="ana") is True
    assert api("/api/v1/requests", second).status_code == 401
    third = token_of("bo")
    with app.app_context():
        set_active("bo", False, actor="test")
    resp = api("/api/v1/requests", third)
    assert resp.status_code == 403 and resp.get_json()["error"] == "This account is inactive."


def test_posting_to_the_api_is_refused_in_json(world, token_of, app):
    resp = app.test_client().post("/api/v1/requests", headers={"Authorization": f"Bearer {token_of('ana')}"})
    assert 400 <= resp.status_code < 500 and resp.mimetype == "application/json"


def test_timestamps_are_utc_iso_and_links_absolute(world, token_of, api):
    item = api("/api/v1/requests?owner=bo", token_of("cleo")).get_json()["items"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", item["submitted_at"])
    assert item["url"] == "https://lightserv.test.example/api/v1/requests/bo/gamma"
    assert item["html_url"] == "https://lightserv.test.example/requests/bo/gamma"
    assert item["testing"] is False and item["relation"] is None
