"""Archival import: an admin uploads a CSV of requests done before lightserv; every row is
validated with a message per row and column shown next to the upload; the preview writes nothing; the import
writes every request in one transaction or nothing; imported requests are archival, event-logged and listed."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func, select

from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import EventLog
from tests.factories import new_request, submit
from tests.support.auth import sign_in

COLUMNS = (
    "owner", "request_name", "submitted_date", "species", "labname", "description", "correspondence_email",
    "raw_data_retention_preference", "sample_name", "clearing_protocol", "antibody1", "antibody2",
    "clearing_spreadsheet_link", "clearing_completed_date", "image_resolution", "channels", "imaging_date",
    "imaging_path", "imaging_notes",
)  # fmt: skip
GOOD = [
    dict(owner="ana", request_name="cfos_2019", submitted_date="2019-03-04", species="mouse", labname="Wang lab",
         description="c-Fos after task", raw_data_retention_preference="Not important", sample_name="m1",
         clearing_protocol="idisco_abbreviated", clearing_spreadsheet_link="https://sheets.example.org/cfos",
         clearing_completed_date="2019-03-20", image_resolution="1.3x", channels="488;647", imaging_date="2019-03-25",
         imaging_path="/archive/cfos_2019/m1/1.3x", imaging_notes="left sheet only"),
    dict(owner="ana", request_name="cfos_2019", sample_name="m1", image_resolution="4x", channels="647",
         imaging_date="2019-03-27", imaging_path="/archive/cfos_2019/m1/4x"),
    dict(owner="ana", request_name="cfos_2019", sample_name="m2", clearing_protocol="idisco_abbreviated",
         clearing_spreadsheet_link="https://sheets.example.org/cfos", clearing_completed_date="2019-03-20"),
    dict(owner="bo", request_name="rats_2018", submitted_date="2018-06-01", species="rat",
         correspondence_email="Bo@Lab.Example", sample_name="r1", clearing_protocol="udisco_rat",
         image_resolution="3.6x", channels="488 561"),
]  # fmt: skip


def to_csv(rows: list[dict], columns=COLUMNS, delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue().encode()


@pytest.fixture
def people(make_user):
    make_user("ana", email="ana@lab.example")
    make_user("bo")


@pytest.fixture
def admin(client, login_as, people):
    login_as("admin", "root")
    return client


def upload(client, data: bytes, name: str = "historic.csv"):
    from tests.conftest import csrf_from

    token = csrf_from(client.get("/admin/archival").get_data(as_text=True))
    return client.post("/admin/archival/preview", data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")  # fmt: skip


def confirm(client, preview_html: str):
    from html import unescape

    from tests.conftest import csrf_from

    text = unescape(re.search(r'<textarea name="csv_text"[^>]*>(.*?)</textarea>', preview_html, re.S).group(1))
    filename = unescape(re.search(r'name="filename" value="([^"]*)"', preview_html).group(1))
    token = csrf_from(preview_html)
    return client.post("/admin/archival/import", data={"csrf_token": token, "csv_text": text, "filename": filename})


def errors_of(resp) -> list[tuple[int, str, str]]:
    html = resp.get_data(as_text=True)
    section = html.split('data-testid="archival-errors"', 1)[1].split("</section>", 1)[0]
    found = re.findall(r'data-line="(\d+)" data-column="([^"]*)"><td>[^<]*</td><td>.*?</td><td>(.*?)</td></tr>',
                       section, re.S)  # fmt: skip
    from html import unescape

    return [(int(line), column, unescape(message)) for line, column, message in found]


def counts(app) -> tuple[int, int, int]:
    with app.app_context():
        ls = get_schemas().lightsheet
        events = db.session.scalar(select(func.count()).select_from(EventLog).where(EventLog.action.like("%archival%")))
        return len(ls.Request()), len(ls.Request.Sample()), events


# --- permissions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["researcher", "clearing", "imaging", "processing"])
def test_only_admins_import(client, login_as, people, role, post_form):
    login_as(role)
    assert client.get("/admin/archival").status_code == 403
    assert client.get("/admin/archival/template.csv").status_code == 403
    resp = post_form("/admin/archival/preview", {"file": (io.BytesIO(to_csv(GOOD)), "x.csv")},
                     content_type="multipart/form-data")  # fmt: skip
    assert resp.status_code == 403
    assert post_form("/admin/archival/import", {"csv_text": to_csv(GOOD).decode()}).status_code == 403
    assert counts(client.application) == (0, 0, 0)


def test_anonymous_users_are_sent_to_log_in(client):
    assert client.get("/admin/archival").status_code == 302
    assert client.post("/admin/archival/import", data={}).status_code in (302, 400)


# --- a successful import ----------------------------------------------------------------------------------


def test_preview_then_import_creates_archival_requests_visible_on_the_list(app, admin):
    client = admin
    resp = upload(client, to_csv(GOOD))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Preview of historic.csv: 2 requests, 3 samples" in html
    assert re.findall(r'data-request="([^"]+)"', html) == ["ana/cfos_2019", "bo/rats_2018"]
    assert "/archive/cfos_2019/m1/4x" in html and "1.3x 488/647" in html
    assert counts(app) == (0, 0, 0)  # a preview writes nothing

    resp = confirm(client, html)
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/requests/")
    listing = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Imported 2 archival requests from historic.csv: ana/cfos_2019, bo/rats_2018." in listing
    row = listing.split('id="ana-cfos_2019"', 1)[1].split("</tr>", 1)[0]
    assert "<td>yes</td>" in row  # Archival? yes
    assert "Complete" in row

    with app.app_context():
        ls = get_schemas().lightsheet
        key = {"username": "ana", "request_name": "cfos_2019"}
        req = (ls.Request & key).to_dicts()[0]
        assert req["is_archival"] == 1 and req["testing"] == 0 and req["requested_by"] == "ana"
        assert req["raw_data_retention_preference"] == "not_important" and req["number_of_samples"] == 2
        assert req["correspondence_email"] == "ana@lab.example" and req["labname"] == "Wang lab"
        assert req["submitted_at"].date().isoformat() == "2019-03-04"
        (batch,) = (ls.Request.ClearingBatch & key).to_dicts()  # m1 and m2 share protocol, link and date
        assert batch["clearing_progress"] == "complete" and batch["number_in_batch"] == 2
        assert batch["link_to_clearing_spreadsheet"] == "https://sheets.example.org/cfos"
        assert batch["completed_at"].date().isoformat() == "2019-03-20"
        (imaging,) = (ls.Request.ImagingRequest & key).to_dicts()  # m2 has no imaging record
        assert imaging["sample_name"] == "m1" and imaging["imaging_progress"] == "complete"
        assert imaging["imaging_performed_date"].isoformat() == "2019-03-27"
        assert "1.3x raw data (archival): /archive/cfos_2019/m1/1.3x" in imaging["notes_from_imaging"]
        assert "1.3x: left sheet only" in imaging["notes_from_imaging"]
        channels = sorted(
            (c["image_resolution"], c["channel_name"]) for c in (ls.Request.ImagingChannel & key).to_dicts()
        )
        assert channels == [("1.3x", "488"), ("1.3x", "647"), ("4x", "647")]
        assert not ls.Request.ProcessingRequest & key
        rat = (ls.Request & {"username": "bo", "request_name": "rats_2018"}).to_dicts()[0]
        assert rat["species"] == "rat" and rat["correspondence_email"] == "bo@lab.example"
        assert rat["description"] == "Archival request" and rat["raw_data_retention_preference"] == "not_sure"
        events = db.session.scalars(select(EventLog).where(EventLog.action.like("%archival%")).order_by(EventLog.id))
        events = list(events)
    assert [e.action for e in events] == ["request.archival_imported"] * 2 + ["admin.archival_imported"]
    assert all(e.actor == "root" for e in events)
    assert (events[0].request_username, events[0].request_name) == ("ana", "cfos_2019")
    assert events[0].after["is_archival"] is True and events[0].after["source"] == "historic.csv"
    assert events[0].after["csv_lines"] == [2, 3, 4]
    assert events[2].after["requests"] == ["ana/cfos_2019", "bo/rats_2018"]

    overview = client.get("/requests/ana/cfos_2019")
    assert overview.status_code == 200 and "https://sheets.example.org/cfos" in overview.get_data(as_text=True)
    assert client.get("/requests/bo/rats_2018").status_code == 200
    links = set(re.findall(r'href="(/(?:clearing|imaging|processing)/[^"#?]+)', overview.get_data(as_text=True)))
    assert links  # the clearing and imaging records of an archival request open like any other
    for link in sorted(links):
        assert client.get(link).status_code == 200, link
    # an owner sees their archival request, and it refuses additional imaging
    client.get("/logout")
    sign_in(client, "ana", clear=True)
    assert 'id="ana-cfos_2019"' in client.get("/requests/").get_data(as_text=True)
    assert client.get("/imaging/new/ana/cfos_2019").status_code == 400


def test_semicolons_labels_and_a_bom_are_accepted(app, admin):
    rows = [dict(GOOD[3], clearing_protocol="rat: udisco", raw_data_retention_preference="Kind of important")]
    data = b"\xef\xbb\xbf" + to_csv(rows, delimiter=";")
    resp = upload(admin, data)
    assert resp.status_code == 200, errors_of(resp)
    assert confirm(admin, resp.get_data(as_text=True)).status_code == 303
    with app.app_context():
        ls = get_schemas().lightsheet
        row = (ls.Request & {"username": "bo"}).to_dicts()[0]
        (batch,) = (ls.Request.ClearingBatch & {"username": "bo"}).to_dicts()
    assert row["raw_data_retention_preference"] == "kind_of_important" and batch["protocol"] == "udisco_rat"


def test_the_template_has_every_column(admin):
    resp = admin.get("/admin/archival/template.csv")
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 2


# --- validation ---------------------------------------------------------------------------------------------


def _bad(**change) -> list[dict]:
    """GOOD with its first row changed."""
    return [dict(GOOD[0], **change), *GOOD[1:]]


CASES = [
    (_bad(owner="nobody"), 2, "owner", "No user “nobody”; create the account on Users & roles first."),
    (_bad(owner="Not A User"), 2, "owner", "Not a username"),
    (_bad(request_name="bad name!"), 2, "request_name", "Use letters, digits and underscores only"),
    (_bad(submitted_date="03/04/2019"), 2, "submitted_date", "write it as YYYY-MM-DD"),
    (_bad(submitted_date="2999-01-01"), 2, "submitted_date", "2999-01-01 is in the future."),
    (_bad(submitted_date="1901-01-01"), 2, "submitted_date", "before 1990"),
    (_bad(species="zebrafish"), 2, "species", "Not a species; use one of mouse, rat, primate, marsupial."),
    (_bad(species=""), 2, "species", "Required."),
    (_bad(raw_data_retention_preference="forever"), 2, "raw_data_retention_preference", "Use one of: important"),
    (_bad(correspondence_email="not-an-email"), 2, "correspondence_email", "Not an email address."),
    (_bad(description="d" * 251), 2, "description", "At most 250 characters (this has 251)."),
    (_bad(sample_name="m 1"), 2, "sample_name", "Use letters, digits, underscores and hyphens only"),
    (_bad(clearing_protocol="magic"), 2, "clearing_protocol", "“magic” is not a clearing protocol of the catalogue."),
    (_bad(clearing_spreadsheet_link="sheets.example.org"), 2, "clearing_spreadsheet_link", "starting with https://"),
    (_bad(clearing_completed_date="2019-02-30"), 2, "clearing_completed_date", "is not a date"),
    (_bad(image_resolution="9x"), 2, "image_resolution", "Not a resolution; use one of 1.1x, 1.3x"),
    (_bad(channels=""), 2, "channels", "Name the imaged wavelengths"),
    (_bad(channels="488;561"), 2, "channels", "561 is not imaged at 1.3x; the wavelengths are 488, 555, 647, 790."),
    (_bad(channels="488;488"), 2, "channels", "488 named twice."),
    (_bad(imaging_path="archive/m1"), 2, "imaging_path", "absolute path"),
    (_bad(imaging_path="/archive/../etc"), 2, "imaging_path", "absolute path"),
    (_bad(imaging_date="yesterday"), 2, "imaging_date", "is not a date"),
    (_bad(image_resolution="", channels=""), 2, "imaging_path", "Give image_resolution for imaging details"),
    (_bad(labname="Lab\nB"), 2, "labname", "Contains control characters"),
    ([*GOOD, dict(GOOD[1])], 6, "image_resolution", "4x of this sample is already in row 3."),
    ([*GOOD, dict(owner="ana", request_name="cfos_2019", sample_name="m2")], 6, "image_resolution",
     "The sample is already in row 4"),
    ([*GOOD, dict(owner="ana", request_name="cfos_2019", sample_name="m3", clearing_protocol="idisco_abbreviated",
                  species="rat")], 6, "species", "Differs from row 2, the first of this request (“mouse”)"),
    ([*GOOD, dict(owner="ana", request_name="CFOS_2019", sample_name="m3", clearing_protocol="idisco_abbreviated")],
     6, "request_name", "Spelled “cfos_2019” in row 2"),
    ([*GOOD, dict(owner="ana", request_name="cfos_2019", sample_name="m2", image_resolution="1.3x", channels="488",
                  clearing_protocol="udisco")], 6, "clearing_protocol", "Differs from row 4, the first of this sample"),
    ([*GOOD, dict(owner="ana", request_name="cfos_2019", clearing_protocol="idisco_abbreviated")], 6, "sample_name",
     "Required."),
    ([*GOOD, dict(owner="ana", request_name="cfos_2019", sample_name="m9")], 6, "clearing_protocol",
     "Required on the first row of each sample."),
]  # fmt: skip


@pytest.mark.parametrize(("rows", "line", "column", "message"), CASES)
def test_each_kind_of_problem_is_named_by_row_and_column(app, admin, rows, line, column, message):
    resp = upload(admin, to_csv(rows))
    assert resp.status_code == 400
    found = errors_of(resp)
    assert any(e[0] == line and e[1] == column and message in e[2] for e in found), found
    assert "Nothing was written" in resp.get_data(
        as_text=True
    ) and 'data-testid="archival-preview"' not in resp.get_data(as_text=True)
    assert counts(app) == (0, 0, 0)


def test_an_existing_request_is_refused(app, admin):
    submit(app, new_request("ana", "CFOS_2019"))
    before = counts(app)
    found = errors_of(upload(admin, to_csv(GOOD)))
    assert (2, "request_name", "ana already has a request named “cfos_2019”.") in found
    assert counts(app) == before


def test_every_problem_of_every_row_is_listed_at_once(app, admin):
    rows = [dict(GOOD[0], clearing_protocol="magic", species="fish"), dict(GOOD[1], channels="999"), *GOOD[2:],
            dict(GOOD[3], request_name="other", submitted_date="soon", sample_name="a b")]  # fmt: skip
    found = errors_of(upload(admin, to_csv(rows)))
    expected = [(2, "species"), (2, "clearing_protocol"), (3, "channels"), (6, "submitted_date"), (6, "sample_name")]
    assert [(line, column) for line, column, _ in found] == expected


def test_more_than_fifty_samples_in_one_request(app, admin):
    rows = [dict(GOOD[3], sample_name=f"r{i}", image_resolution="", channels="") for i in range(51)]
    found = errors_of(upload(admin, to_csv(rows)))
    assert found == [(52, "sample_name", "A request holds at most 50 samples.")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (to_csv([]), "The file has a header but no rows."),
        (to_csv(GOOD, columns=(*COLUMNS, "colour")), "Unknown column: colour."),
        (to_csv(GOOD, columns=tuple(c for c in COLUMNS if c != "species")), "Required column missing: species."),
        (to_csv(GOOD, columns=(*COLUMNS, "owner")), "Column named twice: owner."),
        ("owner,request_name\nänä,x\n".encode("latin-1"), "The file is not UTF-8 text"),
        (b"owner,request_name\x00\n", "NUL characters"),
        (to_csv(GOOD).replace(b"\r\nbo,", b"\r\nbo,extra,cells,", 1) + b",x" * len(COLUMNS), "cells but the header"),
    ],
)
def test_problems_of_the_file_itself(app, admin, data, message):
    resp = upload(admin, data)
    assert resp.status_code == 400
    assert any(message in m for _, _, m in errors_of(resp)), errors_of(resp)
    assert counts(app) == (0, 0, 0)


def test_no_file_and_nothing_to_import_are_400(admin, post_form):
    resp = post_form("/admin/archival/preview", {}, token_page="/admin/archival")
    assert resp.status_code == 400 and "Choose the CSV file to import." in resp.get_data(as_text=True)
    resp = post_form("/admin/archival/import", {"csv_text": "  "}, token_page="/admin/archival")
    assert resp.status_code == 400 and "Nothing to import" in resp.get_data(as_text=True)


# --- all or nothing -----------------------------------------------------------------------------------------


def test_a_failure_while_writing_leaves_nothing_behind(app, admin, monkeypatch):
    from lightserv.admin import archival

    html = upload(admin, to_csv(GOOD)).get_data(as_text=True)
    real = archival._insert_imaging
    calls = []

    def failing(ls, key, req, sample, submitted_at, tz):
        calls.append(key["request_name"])
        if key["request_name"] == "rats_2018":  # the first request is written by now
            raise RuntimeError("disk on fire")
        return real(ls, key, req, sample, submitted_at, tz)

    monkeypatch.setattr(archival, "_insert_imaging", failing)
    resp = confirm(admin, html)
    assert resp.status_code == 409
    assert "The import failed and nothing was written" in resp.get_data(as_text=True)
    assert calls == ["cfos_2019", "rats_2018"]
    assert counts(app) == (0, 0, 0)
    with app.app_context():
        ls = get_schemas().lightsheet
        assert not ls.Request.ClearingBatch() and not ls.Request.ImagingRequest() and not ls.Request.ImagingChannel()
    monkeypatch.setattr(archival, "_insert_imaging", real)
    assert confirm(admin, html).status_code == 303  # the same preview imports once the cause is gone
    assert counts(app) == (2, 3, 3)


def test_the_import_validates_again_and_a_request_made_meanwhile_stops_it(app, admin):
    html = upload(admin, to_csv(GOOD)).get_data(as_text=True)
    submit(app, new_request("bo", "rats_2018"))
    before = counts(app)
    resp = confirm(admin, html)
    assert resp.status_code == 400
    assert (5, "request_name", "bo already has a request named “rats_2018”.") in errors_of(resp)
    assert counts(app) == before  # not even ana's request, which had no problem


def test_markup_in_cells_is_shown_as_text(app, admin):
    rows = [dict(GOOD[0], description="<script>alert(1)</script>"), *GOOD[1:]]
    html = upload(admin, to_csv(rows)).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    bad = upload(admin, to_csv([dict(GOOD[0], owner="<b>x</b>")])).get_data(as_text=True)
    assert "<b>x</b>" not in bad
