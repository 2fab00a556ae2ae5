"""CSV of the processing queue (issue 10): each table's CSV has the rows of that table for the same sort,
on every page, streamed; researchers get only the processing requests of requests they may view."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from lightserv.db import get_schemas
from tests.factories import channel, new_request, resolution, sample, submit
from tests.processing.conftest import complete_imaging


@pytest.fixture
def small_chunks(monkeypatch):
    """Walk the query two rows at a time, so every download spans several chunks."""
    monkeypatch.setattr("lightserv.common.csvexport.CHUNK", 2)


def _progress(app, owner, name, sample_name, progress, **extra):
    key = dict(username=owner, request_name=name, sample_name=sample_name, imaging_request_number=1,
               processing_request_number=1)  # fmt: skip
    with app.app_context():
        get_schemas().lightsheet.Request.ProcessingRequest.update1({**key, "processing_progress": progress, **extra})


@pytest.fixture
def queue(app, make_user):
    make_user("ana")
    make_user("bob")
    make_user("cy")
    wishes = resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))
    submit(app, new_request("ana", "brains", [sample(s, wishes) for s in ("s1", "s2", "s3", "s4", "s5", "s6")]))
    submit(app, new_request("bob", "other", [sample(s, wishes) for s in ("b1", "b2", "b3")], auditors=["cy"]))
    submit(app, new_request("cy", "mine", [sample("c1", wishes)]))
    for owner, name, samples in (("ana", "brains", ("s2", "s3", "s4", "s5", "s6")), ("bob", "other", ("b1", "b2")),
                                 ("cy", "mine", ("c1",))):  # fmt: skip
        for s in samples:
            complete_imaging(app, owner=owner, name=name, sample_name=s, make_folders=False)
    t0 = dt.datetime(2030, 1, 1, 12)
    _progress(app, "ana", "brains", "s3", "running", started_at=t0)
    _progress(app, "ana", "brains", "s4", "failed", started_at=t0, failure_summary="=1.3x: Registration ran out")
    _progress(app, "ana", "brains", "s5", "complete", started_at=t0, completed_at=t0)
    _progress(app, "bob", "other", "b2", "complete", started_at=t0, completed_at=t0 + dt.timedelta(days=1))
    return app


def _rows(resp) -> list[dict]:
    assert resp.status_code == 200 and resp.mimetype == "text/csv" and resp.is_streamed
    assert resp.headers["Content-Disposition"].startswith("attachment; filename=lightserv-processing-")
    return list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))


def _page_rows(html: str, table: str) -> list[str]:
    match = re.search(rf'data-testid="queue-{table}".*?</table>', html, re.S)
    return re.findall(r'data-pr="([^"]+)"', match.group(0)) if match else []


def _keys(rows: list[dict]) -> list[str]:
    return [
        f"{r['owner']}/{r['request_name']}/{r['sample_name']}/{r['imaging_request']}/{r['processing_request']}"
        for r in rows
    ]


@pytest.mark.parametrize(
    ("table", "query"),
    [
        ("ready", ""),
        ("ready", "&sort=sample&direction=asc"),
        ("ready", "&sort=owner&direction=desc"),
        ("waiting", "&sort=request&direction=asc"),
        ("processed", "&sort=completed&direction=asc"),
        ("processed", ""),
    ],
)
def test_the_csv_of_a_table_has_the_rows_of_that_table_in_its_order(client, login_as, queue, small_chunks, table,
                                                                     query):  # fmt: skip
    login_as("processing", "pat")
    html = client.get(f"/processing/queue?table={table}{query}").get_data(as_text=True)
    page = _page_rows(html, table)
    assert page and f'data-testid="csv-{table}"' in html
    assert _keys(_rows(client.get(f"/processing/queue.csv?table={table}{query}"))) == page


def test_the_csv_link_carries_the_sort_of_its_table(client, login_as, queue):
    login_as("admin", "root")
    html = client.get("/processing/queue?table=ready&sort=sample&direction=asc").get_data(as_text=True)
    link = re.search(r'data-testid="csv-ready" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert link.startswith("/processing/queue.csv?")
    for part in ("table=ready", "sort=sample", "direction=asc"):
        assert part in link
    # another table's link keeps that table's own default order
    other = re.search(r'data-testid="csv-processed" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "table=processed" in other and "sort=completed" in other and "direction=desc" in other


def test_the_csv_carries_the_page_values(client, login_as, queue):
    login_as("admin", "root")
    attention = {r["sample_name"]: r for r in _rows(client.get("/processing/queue.csv?table=attention"))}
    assert list(attention) == ["s4"]
    assert attention["s4"]["progress"] == "Failed"
    assert attention["s4"]["failure_summary"] == "'=1.3x: Registration ran out"  # no formula in a spreadsheet
    running = _rows(client.get("/processing/queue.csv?table=running"))
    assert [r["sample_name"] for r in running] == ["s3"] and running[0]["progress"] == "Running"
    ready = {r["sample_name"]: r for r in _rows(client.get("/processing/queue.csv?table=ready"))}
    assert ready["s2"]["microscope"] == "LaVision" and ready["s2"]["resolutions"] == "1.3x"
    assert ready["s2"]["processor"] == "" and ready["s2"]["species"] == "mouse"
    processed = {r["sample_name"]: r for r in _rows(client.get("/processing/queue.csv?table=processed"))}
    assert processed["b2"]["completed_at_utc"] == "2030-01-02 12:00:00"


def test_a_researcher_downloads_only_what_they_may_see(client, login_as, queue):
    login_as("researcher", "cy")  # owns "mine", auditor of bob's "other"
    page = _page_rows(client.get("/processing/queue").get_data(as_text=True), "ready")
    rows = _rows(client.get("/processing/queue.csv?table=ready"))
    assert sorted(_keys(rows)) == sorted(page) == ["bob/other/b1/1/1", "cy/mine/c1/1/1"]
    assert _rows(client.get("/processing/queue.csv?table=attention")) == []
    waiting = _rows(client.get("/processing/queue.csv?table=waiting"))
    assert {r["owner"] for r in waiting} == {"bob"}


def test_an_unknown_table_is_a_400(client, login_as, queue):
    login_as("processing", "pat")
    assert client.get("/processing/queue.csv?table=nope").status_code == 400
    assert client.get("/processing/queue.csv").status_code == 400
