"""Every search and filter field accepts any text: the answer is the page (200) or a refusal (400), never
a 500, and a search for a LIKE wildcard (% or _) finds only the rows that contain it.

The fields are every query argument that a list page, its CSV or the JSON API reads (found by reading
`request.args` in the routes and the `from_args` of the filters); each gets arbitrary text from
Hypothesis (backslashes, quotes, %, _, NUL, any unicode, very long), as the facility admin, who reaches
every page and every branch of the queries.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.factories import new_request, sample, submit

#: `page`, `sort`, `direction` (and the API's `per_page`) are read by one parser each
#: (lightserv.common.pagination, lightserv.api.params); they are checked on one page of each. A CSV or a
#: second API list reads its filters with the same function as its page: its text fields are checked again
#: (a CSV streams, so it fails differently), its choice fields are not.
PAGING = ("page", "sort", "direction")
LIST_FILTERS = ("q", "status", "species", "owner", "testing", "mine")
#: page -> the query arguments it reads
FIELDS = {
    "/requests/": (*LIST_FILTERS, *PAGING),
    "/requests/samples": LIST_FILTERS,
    "/requests/list.csv": ("q", "owner"),
    "/requests/samples.csv": ("q", "owner"),
    "/requests/ana/brains": ("activity_page",),
    "/clearing/queue": ("protocol", "owner", "mine", "table"),
    "/clearing/queue.csv?table=pending": ("protocol", "owner"),
    "/clearing/batch/ana/brains/1": ("focus",),
    "/clearing/batch/ana/brains/1/log": ("layout",),
    "/imaging/queue": ("microscope", "owner", "mine", "table"),
    "/imaging/queue.csv?table=waiting": ("microscope", "owner"),
    "/processing/queue": ("table",),
    "/processing/queue.csv": ("table",),
    "/clearing/antibodies/history": ("q",),
    "/clearing/antibodies/history.csv": ("q",),
    "/admin/users": ("q",),
    "/admin/events": ("actor", "action", "owner", "request", "from", "to"),
    "/admin/events.csv": ("actor", "action", "owner", "request"),
    "/admin/retention": ("view", "preference", "age", "owner", "testing", "show"),
    "/admin/retention.csv?view=superseded": ("owner",),
    "/viewer/admin/gallery": ("q", "show"),
    "/users/suggest": ("q",),
    "/api/v1/requests": (*LIST_FILTERS, *PAGING, "per_page"),
    "/api/v1/samples": ("q", "owner"),
    "/api/v1/runs": ("owner", "request_name", "sample_name", "status", "kind"),
    "/api/v1/layers": ("owner", "request_name", "sample_name", "status", "product"),
}
CASES = [(page, field) for page, fields in FIELDS.items() for field in fields]
HOSTILE = st.text(max_size=300) | st.text(alphabet="\\'\"%_\x00 a", max_size=40)


@pytest.fixture
def world(app, make_user):
    """A request whose sample has an antibody (so the history has a row)."""
    make_user("ana")
    submit(app, new_request("ana", "brains", samples=[sample("s1", protocol="idisco_plus_immuno",
                                                            antibody1="rabbit anti-Fos")]))  # fmt: skip


def test_every_search_and_filter_field_answers_200_or_400_for_any_text(app, client, login_as, world):
    login_as("admin", "root")
    failures = []
    for page, field in CASES:

        @settings(max_examples=20, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
        @given(HOSTILE)
        @example("a\\")
        @example("%' OR \"_\x00\\")
        @example("𝔲𝔫𝔦✓" * 2000)
        def answers(value: str) -> None:
            resp = client.get(page + ("&" if "?" in page else "?") + urlencode({field: value}))
            resp.get_data()  # a streamed CSV fails while it is read
            assert resp.status_code in (200, 400), f"{resp.status_code} for {field}={value!r}"

        try:
            answers()
        except Exception as exc:  # noqa: BLE001  (every field is tried; all failures are reported)
            failures.append(f"{page} {field}: {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)


@pytest.fixture
def wildcards(app, make_user):
    """Three requests of ana: one whose name holds `_`, one whose description and antibody hold `%`, one
    with neither; ana's email holds `_`."""
    make_user("ana", email="a_na@lab.example")
    make_user("bo", email="bo@lab.example")
    for name, description, antibody in (
        ("snake_case", "plain", "anti-GFP"),
        ("pct", "100% cleared", "anti-Fos 1%"),
        ("plain", "nothing special", "anti-RFP"),
    ):
        brain = sample("s1", protocol="idisco_plus_immuno", antibody1=antibody)
        submit(app, new_request("ana", name, samples=[brain], description=description))


def _csv_column(client, url: str, column: str) -> set[str]:
    import csv
    import io

    resp = client.get(url)
    assert resp.status_code == 200, url
    return {row[column] for row in csv.DictReader(io.StringIO(resp.get_data(as_text=True)))}


@pytest.mark.parametrize(("text", "requests", "samples", "antibodies", "users"), [
    ("%", {"pct"}, set(), {"anti-Fos 1%"}, set()),  # the sample list searches sample and request names only
    ("_", {"snake_case"}, {"snake_case"}, set(), {"ana"}),
])  # fmt: skip
def test_a_search_for_a_wildcard_finds_only_the_rows_that_contain_it(
    client, login_as, wildcards, text, requests, samples, antibodies, users
):
    import re

    login_as("admin", "root")
    q = urlencode({"q": text})
    assert _csv_column(client, f"/requests/list.csv?{q}", "request_name") == requests
    assert _csv_column(client, f"/requests/samples.csv?{q}", "request_name") == samples
    api = client.get(f"/api/v1/requests?{q}").get_json()
    assert {item["request_name"] for item in api["items"]} == requests
    assert _csv_column(client, f"/clearing/antibodies/history.csv?{q}", "Primary antibody") == antibodies
    html = client.get(f"/admin/users?{q}").get_data(as_text=True)
    assert set(re.findall(r'<tr data-username="([^"]+)"', html)) == users
    # events of every request exist, but no action starts with % or _
    assert _csv_column(client, f"/admin/events.csv?{urlencode({'action': text})}", "action") == set()
    assert _csv_column(client, f"/admin/events.csv?{urlencode({'action': 'request.'})}", "action")
