"""The processing queue: which table each processing request is in, who sees it, the
follow-up badge, row colours by state, sorting and paging in SQL, and the links of each action."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from lightserv.db import get_schemas
from tests.factories import channel, new_request, resolution, sample, submit

from .conftest import complete_imaging, login

SAMPLES = ("s1", "s2", "s3", "s4", "s5", "s6")


def table_rows(html: str, table: str) -> list[str]:
    """The data-pr keys of one queue table (empty when the table is hidden)."""
    match = re.search(rf'data-testid="queue-{table}".*?</table>', html, re.S)
    return re.findall(r'data-pr="([^"]+)"', match.group(0)) if match else []


def set_progress(app, sample_name: str, progress: str, **extra) -> None:
    with app.app_context():
        key = dict(username="ana", request_name="brains", sample_name=sample_name, imaging_request_number=1,
                   processing_request_number=1)  # fmt: skip
        get_schemas().lightsheet.Request.ProcessingRequest.update1({**key, "processing_progress": progress, **extra})


@pytest.fixture
def queue_world(app, make_user):
    make_user("ana")
    make_user("bob")
    make_user("pat", roles=["processing_staff"])
    wishes = resolution("1.3x", channel("488", "registration"), channel("647", "cell_detection"))
    submit(app, new_request("ana", "brains", [sample(s, wishes) for s in SAMPLES]))
    submit(app, new_request("bob", "other", [sample("b1", wishes)]))
    # s1 waits for imaging; s2..s6 are imaged; s6 was skipped
    for s in SAMPLES[1:5]:
        complete_imaging(app, sample_name=s, make_folders=False)
    complete_imaging(app, owner="bob", name="other", sample_name="b1", make_folders=False)
    with app.app_context():
        get_schemas().lightsheet.Request.ImagingRequest.update1(
            dict(username="ana", request_name="brains", sample_name="s6", imaging_request_number=1,
                 imaging_progress="skipped")
        )  # fmt: skip
    now = dt.datetime(2030, 1, 1, 12)
    set_progress(app, "s3", "running", started_at=now, processor="pat")
    set_progress(app, "s4", "failed", started_at=now, failure_summary="1.3x: Registration ran out of memory")
    set_progress(app, "s5", "complete", started_at=now, completed_at=now)
    return app


def test_each_processing_request_is_in_the_table_of_its_state(queue_world, client):
    login(client, "pat")
    html = client.get("/processing/queue").get_data(as_text=True)
    assert table_rows(html, "waiting") == ["ana/brains/s1/1/1"]
    assert sorted(table_rows(html, "ready")) == ["ana/brains/s2/1/1", "bob/other/b1/1/1"]
    assert table_rows(html, "running") == ["ana/brains/s3/1/1"]
    assert table_rows(html, "attention") == ["ana/brains/s4/1/1"]
    assert table_rows(html, "processed") == ["ana/brains/s5/1/1"]
    assert "s6/1/1" not in html  # skipped imaging never produces rows
    assert 'data-testid="queue-flatfield"' not in html  # empty tables are hidden
    assert "Registration ran out of memory" in html
    # each action goes where its label says
    assert '<a href="/processing/entry/ana/brains/s2/1/1">Start</a>' in html
    assert '<a href="/processing/log/ana/brains/s4/1/1">Open log</a>' in html
    assert '<a href="/processing/log/ana/brains/s5/1/1">Open log</a>' in html
    assert "LaVision" in html and "1.3x" in html and "Not assigned" in html


def test_an_empty_ready_table_is_still_shown(app, client, make_user):
    make_user("pat", roles=["processing_staff"])
    login(client, "pat")
    html = client.get("/processing/queue").get_data(as_text=True)
    assert 'data-testid="empty-ready"' in html
    assert "Needs attention" not in html


def test_researchers_see_only_requests_they_may_view(queue_world, client):
    login(client, "bob")
    html = client.get("/processing/queue").get_data(as_text=True)
    assert table_rows(html, "ready") == ["bob/other/b1/1/1"]
    assert "ana/brains" not in html
    login(client, "ana")
    html = client.get("/processing/queue").get_data(as_text=True)
    assert table_rows(html, "ready") == ["ana/brains/s2/1/1"]


def test_tables_sort_and_page_in_sql(queue_world, client, monkeypatch):
    login(client, "pat")
    html = client.get("/processing/queue?table=ready&sort=owner&direction=asc").get_data(as_text=True)
    assert table_rows(html, "ready") == ["ana/brains/s2/1/1", "bob/other/b1/1/1"]
    html = client.get("/processing/queue?table=ready&sort=owner&direction=desc").get_data(as_text=True)
    assert table_rows(html, "ready") == ["bob/other/b1/1/1", "ana/brains/s2/1/1"]
    html = client.get("/processing/queue?table=ready&sort=nonsense&direction=sideways&page=x").get_data(as_text=True)
    assert len(table_rows(html, "ready")) == 2  # hostile arguments fall back to the defaults
    from lightserv.common import pagination

    original = pagination.parse_page_request

    def one_per_page(*args, **kwargs):
        return original(*args, **{**kwargs, "per_page": 1})

    monkeypatch.setattr("lightserv.workflow.queue.parse_page_request", one_per_page)
    page1 = client.get("/processing/queue?table=ready&sort=owner&direction=asc&page=1").get_data(as_text=True)
    page2 = client.get("/processing/queue?table=ready&sort=owner&direction=asc&page=2").get_data(as_text=True)
    assert table_rows(page1, "ready") == ["ana/brains/s2/1/1"] and "Page 1 of 2" in page1
    assert table_rows(page2, "ready") == ["bob/other/b1/1/1"]


def test_follow_up_imaging_requests_carry_a_badge_and_rows_the_colour_of_their_state(app, client, make_user):
    from lightserv.requests.additional_imaging import request_additional_imaging

    make_user("ana")
    make_user("pat", roles=["processing_staff"])
    wishes = resolution("1.3x", channel("488", "generic_imaging"))
    submit(app, new_request("ana", "brains", [sample("s1", wishes)]))
    complete_imaging(app, make_folders=False)
    with app.test_request_context():
        req = (get_schemas().lightsheet.Request & {"username": "ana", "request_name": "brains"}).to_dicts()[0]
        number = request_additional_imaging(
            req, [sample("s1", resolution("4x", channel("488", "generic_imaging")))], [True], self_imaging=False,
            submitter="ana",
        )  # fmt: skip
    assert number == 2
    login(client, "pat")
    html = client.get("/processing/queue").get_data(as_text=True)
    assert table_rows(html, "waiting") == ["ana/brains/s1/2/1"]
    row = re.search(r'<tr [^>]*data-pr="ana/brains/s1/2/1".*?</tr>', html, re.S).group(0)
    # the row colour is the state of its table, as in the lists; the badge says it is a follow-up
    assert row.startswith('<tr class="status-pending"') and "#E0E0E0" not in row
    assert '<a href="/requests/ana/brains">brains</a> <span class="badge text-bg-secondary">follow-up</span>' in row
    first = re.search(r'<tr [^>]*data-pr="ana/brains/s1/1/1".*?</tr>', html, re.S).group(0)
    assert first.startswith('<tr class="status-pending"') and "follow-up" not in first
    assert 'data-testid="legend"' in html
