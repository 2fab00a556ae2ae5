"""The admin event log: filters, diff, CSV."""

from __future__ import annotations

import csv
import io

import pytest

from tests.factories import new_request, submit


@pytest.fixture
def events(app, make_user):
    make_user("ana")
    make_user("bo")
    submit(app, new_request("ana", "first"))
    submit(app, new_request("bo", "second"))
    from lightserv.auth.services import grant_role

    with app.app_context():
        grant_role("bo", "imaging_staff", actor="ana")


def test_admin_sees_every_event_newest_first_with_the_change(client, login_as, events):
    login_as("admin", "root1")
    html = client.get("/admin/events").get_data(as_text=True)
    assert html.index("imaging_staff granted to bo") < html.index("Request bo/second submitted")
    assert "<ins>imaging_staff</ins>" in html


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        ("?actor=bo", "Request bo/second submitted", "Request ana/first submitted"),
        ("?action=request.", "Request ana/first submitted", "imaging_staff granted"),
        ("?owner=ana&request=first", "Request ana/first submitted", "Request bo/second submitted"),
        ("?from=2000-01-01&to=2000-01-02", "No events match these filters.", "Request ana/first submitted"),
    ],
)
def test_filters(client, login_as, events, query, present, absent):
    login_as("admin", "root1")
    html = client.get("/admin/events" + query).get_data(as_text=True)
    assert present in html and absent not in html


def test_hostile_filters_are_harmless(client, login_as, events):
    login_as("admin", "root1")
    for query in ("?action=%25", "?action=_", "?from=notadate", "?sort=summary;drop", "?page=-3", "?owner=' OR 1=1"):
        assert client.get("/admin/events" + query).status_code == 200
    assert "No events match" in client.get("/admin/events?action=%25").get_data(as_text=True)


def test_csv_has_the_filtered_rows(client, login_as, events):
    login_as("admin", "root1")
    resp = client.get("/admin/events.csv?action=request.submitted")
    assert resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert sorted(r["request_name"] for r in rows) == ["first", "second"]
    assert {r["action"] for r in rows} == {"request.submitted"}
