"""CSV downloads of the list pages (issue 10): the rows of the page, for the same filters and sort, on
every page, streamed; cells a spreadsheet would run as formulas are neutralised."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.factories import new_request, sample, submit

REQUEST_ROW = re.compile(r'<tr class="[^"]*" id="([^"]+)" data-testid="request-row">')
SAMPLE_ROW = re.compile(
    r'<tr data-testid="sample-row">\s*<td>([^<]+)</td>\s*<td><a href="[^"]*">([^<]+)</a></td>\s*<td>([^<]+)</td>'
)
BATCH_ROW = re.compile(r'data-batch="([^"]+)"')


@pytest.fixture
def small_chunks(monkeypatch):
    """Walk the query two rows at a time, so every download spans several chunks."""
    monkeypatch.setattr("lightserv.common.csvexport.CHUNK", 2)


@pytest.fixture
def lists(app, make_user):
    make_user("ana")
    make_user("bo")
    submit(app, new_request("ana", "alpha", samples=[sample("s1"), sample("s2")], auditors=["bo"]))
    submit(app, new_request("ana", "beta", samples=[sample("b1", protocol="udisco")]))
    submit(app, new_request("ana", "delta", description='=HYPERLINK("http://evil")', testing=True))
    submit(app, new_request("bo", "gamma", species="rat", samples=[sample("g1", protocol="udisco_rat")]))
    submit(app, new_request("bo", "epsilon"))


def rows_of(resp) -> list[dict]:
    assert resp.status_code == 200 and resp.mimetype == "text/csv" and resp.is_streamed
    assert resp.headers["Content-Disposition"].startswith("attachment; filename=lightserv-")
    return list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?sort=request_name&direction=asc",
        "?sort=status&direction=asc&testing=0&testing=1",
        "?species=mouse&sort=username&direction=desc",
        "?q=ta&sort=request_name&direction=desc",
        "?owner=bo",
    ],
)
def test_the_request_csv_has_the_rows_of_the_page_in_its_order(client, login_as, lists, small_chunks, query):
    login_as("clearing", "cleo")
    page = REQUEST_ROW.findall(client.get("/requests/" + query).get_data(as_text=True))
    rows = rows_of(client.get("/requests/list.csv" + query))
    assert [f"{r['owner']}-{r['request_name']}" for r in rows] == page
    assert page  # every case shows something


def test_the_request_csv_carries_the_page_values(client, login_as, lists):
    login_as("clearing", "cleo")
    rows = {r["request_name"]: r for r in rows_of(client.get("/requests/list.csv"))}
    html = client.get("/requests/").get_data(as_text=True)
    alpha = html.split('id="ana-alpha"', 1)[1].split("</tr>", 1)[0]
    assert rows["alpha"]["cleared"] in alpha and f'data-testid="cleared">{rows["alpha"]["cleared"]}<' in alpha
    assert rows["alpha"]["samples"] == "2" and rows["alpha"]["status"] == "Pending"
    assert rows["gamma"]["species"] == "rat" and rows["delta"]["testing"] == "yes"


def test_a_researcher_downloads_only_what_they_may_see(client, login_as, lists):
    login_as("researcher", "bo")
    rows = rows_of(client.get("/requests/list.csv"))
    assert sorted((r["owner"], r["request_name"]) for r in rows) == [
        ("ana", "alpha"),
        ("bo", "epsilon"),
        ("bo", "gamma"),
    ]
    samples = rows_of(client.get("/requests/samples.csv"))
    assert {r["owner"] for r in samples} == {"ana", "bo"} and "b1" not in {r["sample_name"] for r in samples}


def test_a_formula_in_a_description_is_not_a_formula_in_the_csv(client, login_as, lists):
    login_as("admin", "root")
    rows = {r["request_name"]: r for r in rows_of(client.get("/requests/list.csv"))}
    assert rows["delta"]["description"] == '\'=HYPERLINK("http://evil")'


@pytest.mark.parametrize("query", ["", "?sort=protocol&direction=asc", "?species=mouse", "?q=s"])
def test_the_sample_csv_has_the_rows_of_the_page_in_its_order(client, login_as, lists, small_chunks, query):
    login_as("imaging", "ida")
    page = SAMPLE_ROW.findall(client.get("/requests/samples" + query).get_data(as_text=True))
    rows = rows_of(client.get("/requests/samples.csv" + query))
    assert [(r["sample_name"], r["request_name"], r["owner"]) for r in rows] == page
    assert page
    s1 = next(r for r in rows if r["sample_name"] == "s1")
    assert s1["imaging_requests"] == "#1 1.3x: Pending (processing #1: Pending)"


@pytest.mark.parametrize(
    ("area", "table", "query"),
    [
        ("clearing", "pending", "&sort=request&direction=asc"),
        ("clearing", "pending", "&sort=protocol&direction=desc&owner=ana"),
        ("imaging", "waiting", "&sort=request&direction=asc"),
        ("imaging", "waiting", "&sort=owner&direction=desc&microscope=lavision"),
    ],
)
def test_a_queue_table_csv_has_the_rows_of_that_table(client, login_as, lists, small_chunks, area, table, query):
    login_as("admin", "root")
    html = client.get(f"/{area}/queue?table={table}{query}").get_data(as_text=True)
    section = html.split(f'data-testid="queue-{table}"', 1)[1].split("</table>", 1)[0]
    page = BATCH_ROW.findall(section)
    assert f'data-testid="csv-{table}"' in html
    rows = rows_of(client.get(f"/{area}/queue.csv?table={table}{query}"))
    if area == "clearing":
        got = [f"{r['owner']}/{r['request_name']}/{r['clearing_batch']}" for r in rows]
    else:
        got = [
            f"{r['owner']}/{r['request_name']}/{r['clearing_batch']}/{r['imaging_request']}/{r['imaging_batch']}"
            for r in rows
        ]
    assert got == page and page


def test_the_queue_csv_link_carries_the_filters_and_sort_of_its_table(client, login_as, lists):
    login_as("admin", "root")
    html = client.get("/clearing/queue?table=pending&sort=request&direction=asc&owner=ana").get_data(as_text=True)
    link = re.search(r'data-testid="csv-pending" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert link.startswith("/clearing/queue.csv?")
    for part in ("table=pending", "sort=request", "direction=asc", "owner=ana"):
        assert part in link
    assert client.get("/clearing/queue.csv?table=nope").status_code == 400
