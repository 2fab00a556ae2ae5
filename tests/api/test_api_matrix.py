"""The permission matrix of the pages (tests/matrix) run against the API with tokens instead of a
browser session: every subject gets the status its matrix row says."""

from __future__ import annotations

import pytest

from tests.matrix import all_rows
from tests.test_permissions import matrix_world  # noqa: F401  (the matrix's users, request and run)

API_ROWS = {e: row for e, row in all_rows().items() if row[0] == "GET" and row[1].startswith("/api/")}


def test_every_api_endpoint_has_a_matrix_row(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith("/api/")}
    assert endpoints == set(API_ROWS)


@pytest.mark.parametrize("endpoint", sorted(API_ROWS))
def test_the_api_answers_each_token_as_the_matrix_says(app, matrix_world, endpoint):  # noqa: F811
    from lightserv.api.tokens import create_token

    _, url_template, expected = API_ROWS[endpoint]
    url = url_template.format(owner=matrix_world["owner"], request="matrix_req", run=matrix_world["run"])
    client = app.test_client()
    got = {}
    with app.app_context():
        tokens = {s: create_token(matrix_world[s], actor="test") for s in expected if s != "anonymous"}
    for subject in expected:
        headers = {"Authorization": f"Bearer {tokens[subject]}"} if subject in tokens else {}
        resp = client.get(url, headers=headers)
        assert resp.mimetype == "application/json", f"{endpoint} answered {subject} with {resp.mimetype}"
        got[subject] = resp.status_code
    assert got == expected, f"{endpoint} {url}: got {got}"
